"""A repeat: the number already has an open request. The new one is linked to it (``REPEAT#``),
the open one's priority rises (also in its pending outbox entry) and the answer is the open
request; ``ensure_entry`` re-creates an outbox entry an earlier attempt left missing."""

from __future__ import annotations

from datetime import datetime

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import (
    PRIORITY,
    PRIORITY_CAP,
    REPEAT_BOOST,
    CallbackAccepted,
    CallbackRecord,
    CallbackRequest,
    RepeatRecord,
)
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import OutboxEntry, OutboxState
from ringback.observability import logger, metrics
from ringback.ports.callbacks import WriteRefused
from ringback.services.callbacks.core import (
    UNDONE,
    CallbackCore,
    Caller,
    accepted,
    entry_for,
    new_callback_id,
    push,
    refusal,
)


def repeat(
    core: CallbackCore,
    existing: CallbackRecord,
    request: CallbackRequest,
    config: OperatorConfig,
    now: datetime,
    ip_hash: str | None,
    caller: Caller,
) -> CallbackAccepted:
    priority = min(max(existing.priority, PRIORITY[request.mode]) + REPEAT_BOOST, PRIORITY_CAP)
    repeat = RepeatRecord(
        id=new_callback_id(),
        primary_id=existing.id,
        created_at=now,
        mode=request.mode,
        source=request.source,
        page_url=request.page_url,
        utm=request.utm,
        lead_guid=request.lead_guid,
        kpi_guid=request.kpi_guid,
        client_ip_hash=ip_hash,
        expires_at=existing.expires_at,
    )
    try:
        updated = core.repo.add_repeat(existing, repeat, priority=priority, now=now)
    except WriteRefused as refused:
        raise refusal(refused, request.schedule_field, now) from None
    metrics.add_metric(name="CallbackRepeat", unit="Count", value=1)
    logger.info(
        "repeat callback request linked",
        extra={"callback_id": existing.id, "repeat_id": repeat.id, "repeat_count": updated.repeat_count},
    )
    entry = ensure_entry(core, updated, config)
    if entry is not None and entry.state == OutboxState.PENDING:
        raised = entry.member.model_copy(update={"priority": priority})
        try:
            core.outbox.replace(entry.model_copy(update={"member": raised}), expected=OutboxState.PENDING)
        except Exception:
            logger.exception("could not raise the priority in the outbox", extra={"callback_id": updated.id})
        if updated.mode == "now" and updated.due_at <= now and updated.delivery == "queue":
            push(core, updated, [entry.entry_id])
    same_visitor = ip_hash is not None and ip_hash == existing.client_ip_hash
    return accepted(core, updated, config, caller, repeat=True, with_link=same_visitor)


def ensure_entry(core: CallbackCore, record: CallbackRecord, config: OperatorConfig) -> OutboxEntry | None:
    """The request's outbox entry, re-created if an earlier attempt died before writing it,
    or if an earlier submit's undo cancelled it but could not delete the request (the
    request is open, and nothing would ever call)."""
    entry = core.outbox.get(record.outbox_entry_id)
    if record.status not in (CallbackStatus.RECEIVED, CallbackStatus.QUEUED):
        return entry
    if entry is None:
        entry = entry_for(record, config)
        core.outbox.add(entry)
        logger.warning("re-created a missing outbox entry", extra={"callback_id": record.id})
    elif entry.state == OutboxState.CANCELLED and entry.last_error == UNDONE:
        generation = record.reschedule_count + 1
        entry = entry_for(record, config, generation=generation)
        core.outbox.add(entry)
        core.repo.update(record.id, outbox_entry_id=entry.entry_id, reschedule_count=generation)
        logger.warning("re-created an outbox entry an undo had cancelled", extra={"callback_id": record.id})
    return entry
