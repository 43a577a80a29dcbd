"""Move a request to a slot (``POST /v1/callbacks/{id}/reschedule``)."""

from __future__ import annotations

from datetime import UTC, timedelta

from ringback.domain import schedule
from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import (
    PRIORITY,
    CallbackAccepted,
    CallbackRecord,
    RescheduleRequest,
    local_schedule,
)
from ringback.domain.errors import Conflict, FieldProblem, NotFound, Unavailable, Unprocessable
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import OutboxState
from ringback.observability import logger
from ringback.ports.callbacks import WriteRefused
from ringback.services.callbacks.core import (
    RESCHEDULABLE,
    CallbackCore,
    Caller,
    accepted,
    entry_for,
    entry_id_for,
    ms,
    refusal,
    scheduled_time,
    slot_booking,
)
from ringback.services.callbacks.repeat import ensure_entry
from ringback.services.member_stops import settle_now


def reschedule(
    core: CallbackCore, callback_id: str, request: RescheduleRequest, caller: Caller
) -> CallbackAccepted:
    config = core.config.load()
    now = core.clock.now()
    record = core.repo.get(callback_id)
    if record is None:
        raise NotFound("no such callback request")
    problems: list[FieldProblem] = []
    at = scheduled_time(request, config, now, problems)
    if problems or at is None:
        # The same slot again is a retry of a reschedule that half-finished: complete it.
        if record.slot_start is None or not same_request(request, record, config):
            raise Unprocessable("some fields are not valid", fields=tuple(problems))
        at = record.slot_start
    if record.slot_start == at and record.mode == "scheduled":
        ensure_entry(core, record, config)
        _retire_older_entries(core, record)  # a retry finishes what a dead attempt left
        return accepted(core, record, config, caller, repeat=False, with_link=True)
    if record.status not in RESCHEDULABLE:
        raise Conflict(f"the callback request is already {record.status.value}; it cannot be moved")
    old_entry = core.outbox.get(record.outbox_entry_id)
    if old_entry is not None and old_entry.state == OutboxState.CLAIMED:
        raise Conflict("the request is being handed to the dialer right now; try again in a minute")
    timing = schedule.timing_for(config, "scheduled", now, at)
    generation = record.reschedule_count + 1
    after = record.model_copy(
        update={
            "mode": "scheduled",
            "due_at": timing.due_at,
            "expected_call_at": timing.due_at,
            "expected_call_by": timing.expected_by,
            "next_opening": False,
            "slot_start": at,
            "reschedule_count": generation,
            "outbox_entry_id": entry_id_for(record.id, generation),
            "priority": max(record.priority, PRIORITY["scheduled"]),
            "delivery": "queue",
            "status": CallbackStatus.QUEUED,
            "status_at": ms(now),
            "expires_at": max(
                record.expires_at,
                int((timing.expire_at + timedelta(days=config.callbacks.retention_days)).timestamp()),
            ),
        }
    )
    new_slot = slot_booking(config, at)
    assert new_slot is not None
    # 1. The new entry first: it is not sent before the request points at it (the dialer checks
    #    each entry is its request's current one), so a crash here changes nothing.
    new_entry = entry_for(after, config)
    try:
        core.outbox.add(new_entry)
    except Exception as error:
        raise Unavailable("could not move the request; please try again") from error
    # 2. The switch, one conditional transaction: the request's timing and entry id with the
    #    slot move. From here the old entry is stale: the dialer cancels it instead of sending.
    try:
        core.repo.reschedule(
            record,
            after,
            old_slot=slot_booking(config, record.slot_start),
            new_slot=new_slot,
            lock_until=timing.expire_at,
        )
    except WriteRefused as refused:
        _cancel_quietly(core, new_entry.entry_id)
        if refused.reason == "slot_full":
            raise refusal(refused, request.schedule_field, now) from None
        raise Conflict("the callback request changed meanwhile; please try again") from None
    # 3. The old entry: cancelled, and a stop order when its member may be in Webitel.
    _retire_older_entries(core, after)
    logger.info("callback rescheduled", extra={"callback_id": record.id, "generation": generation})
    return accepted(core, after, config, caller, repeat=False, with_link=True)


def same_request(request: RescheduleRequest, record: CallbackRecord, config: OperatorConfig) -> bool:
    try:
        wanted = local_schedule(
            request.scheduled_at, request.date, request.time, request.timezone, config.timezone
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return wanted == record.slot_start


def _cancel_quietly(core: CallbackCore, entry_id: str) -> None:
    try:
        core.outbox.cancel(entry_id, reason="reschedule refused")
    except Exception:
        logger.warning("an unused outbox entry stays for the dialer to cancel", extra={"entry_id": entry_id})


def _retire_older_entries(core: CallbackCore, record: CallbackRecord) -> None:
    """Cancel every generation before the current one (arming stop orders for members already in
    Webitel) and try those stops now; what fails stays for the dialer schedule."""
    for generation in range(record.reschedule_count):
        entry_id = entry_id_for(record.id, generation)
        try:
            before = core.outbox.cancel(entry_id, reason="rescheduled")
        except Exception:
            logger.exception("could not cancel an older outbox entry", extra={"callback_id": record.id})
            continue
        if before is not None and before.may_be_in_webitel:
            settle_now(core.outbox, core.webitel(), entry_id)
