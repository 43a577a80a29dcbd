"""The narrow core the callbacks use cases share: their ports, who is asking, and the few
rules more than one use case needs (the outbox entry of a request, its slot booking and lock
lifetime, the 202 answer, refusals, the public view).

Raw phone numbers and e-mails never reach the logs: only masked numbers and ids.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ringback.domain import schedule
from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import (
    CallbackAccepted,
    CallbackMode,
    CallbackRecord,
    CallbackRequest,
    CallbackView,
    RescheduleRequest,
    SelfServiceLinks,
    local_schedule,
    member_variables,
)
from ringback.domain.errors import Conflict, FieldProblem, RateLimited, Unprocessable
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import OutboxEntry, callback_entry_id
from ringback.domain.phones import mask_e164
from ringback.domain.selfservice import KeyRing, sign
from ringback.domain.webitel import Lookup, MemberCommunication, MemberItem, epoch_ms
from ringback.observability import logger, metrics
from ringback.ports.callbacks import CallbackRepository, SlotBooking, WriteRefused
from ringback.ports.captcha import CaptchaVerifier
from ringback.ports.clock import Clock
from ringback.ports.erasures import ErasureTombstones
from ringback.ports.operator_config import OperatorConfigSource
from ringback.ports.outbox import DialerOutbox
from ringback.ports.webitel import WebitelClient

SLOT_COUNTER_GRACE = timedelta(days=2)
CANCELLABLE = frozenset({CallbackStatus.RECEIVED, CallbackStatus.QUEUED, CallbackStatus.DIALING})
RESCHEDULABLE = frozenset({CallbackStatus.RECEIVED, CallbackStatus.QUEUED})
# The reason an undone submit's outbox entry is cancelled with (see ``repeat.ensure_entry``).
UNDONE = "not stored"


class DeliverNow(Protocol):
    """``services.dialer_upload.deliver_now``: claim these entries and deliver them exactly once.

    Bound with the callback-status path (``adapters.callbacks_factory``), so a delivered member
    queues its request and a rejected one fails it, as in the scheduled upload."""

    def __call__(
        self,
        outbox: DialerOutbox,
        webitel: WebitelClient,
        entry_ids: Sequence[str],
        clock: Clock,
        owner: str,
        *,
        on_delivered: Callable[[OutboxEntry, str], None] | None = None,
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Caller:
    """Who is asking, as far as the HTTP request tells."""

    client_ip: str | None = None
    origin: str | None = None
    site_key: str | None = None
    base_url: str = ""
    # A hash of the Idempotency-Key and the body: the same submit retried (see ``submit``).
    submit_key: str | None = None


@dataclass
class CallbackCore:
    """The ports every use case works through (built once per container)."""

    repo: CallbackRepository
    outbox: DialerOutbox
    config: OperatorConfigSource
    clock: Clock
    keys: Callable[[], KeyRing]
    captcha: Callable[[], CaptchaVerifier]
    webitel: Callable[[], WebitelClient]
    deliver: DeliverNow | None
    default_region: str
    allowed_origins: list[str] = field(default_factory=list)
    owner: str = "callbacks"
    # Erasure tombstones (what an erasure still has to delete in Webitel).
    erasures: ErasureTombstones | None = None


def new_callback_id() -> str:
    """128 random bits, URL-safe: unguessable, so the id alone reveals nothing to a stranger."""
    return secrets.token_urlsafe(16)


entry_id_for = callback_entry_id


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def scheduled_time(
    request: CallbackRequest | RescheduleRequest,
    config: OperatorConfig,
    now: datetime,
    problems: list[FieldProblem],
) -> datetime | None:
    try:
        at = local_schedule(
            request.scheduled_at, request.date, request.time, request.timezone, config.timezone
        ).astimezone(UTC)
    except OverflowError:
        problems.append(FieldProblem(request.schedule_field, "is too far from today"))
        return None
    except ValueError as error:
        problems.append(FieldProblem(request.schedule_field, str(error)))
        return None
    problem = schedule.schedule_problem(config, at, now)
    if problem:
        local = at.astimezone(config.zone)
        problems.append(FieldProblem(request.schedule_field, f"{local:%Y-%m-%d %H:%M} {problem}"))
        return None
    return at


def refusal(refused: WriteRefused, schedule_field: str, now: datetime) -> Exception:
    if refused.reason == "guard" and refused.guard is not None:
        metrics.add_metric(name="CallbackRateLimited", unit="Count", value=1)
        if refused.guard.subject == "global":  # alarmed: every visitor is being refused
            metrics.add_metric(name="CallbacksGlobalCapReached", unit="Count", value=1)
        return RateLimited(refused.guard.message, retry_after_s=refused.guard.retry_after_s(now))
    if refused.reason == "slot_full":
        return Unprocessable(
            "the slot is full",
            fields=(FieldProblem(schedule_field, "this slot is fully booked; please pick another"),),
        )
    return Conflict("the request could not be stored; please try again")


def slot_booking(config: OperatorConfig, start: datetime | None) -> SlotBooking | None:
    if start is None:
        return None
    return SlotBooking(
        day=schedule.slot_day(config, start),
        key=schedule.slot_key(start),
        capacity=config.slot_capacity,
        expires_at=int((start + SLOT_COUNTER_GRACE).timestamp()),
    )


def lock_expiry(record: CallbackRecord, config: OperatorConfig) -> datetime:
    return (
        schedule.timing_for(config, record.mode, record.due_at, record.slot_start).expire_at
        if record.mode == "scheduled"
        else record.due_at + timedelta(hours=config.callbacks.member_ttl_hours)
    )


def member_label(source: str) -> str:
    """What an agent sees a member named by when the caller gave no name: a caller who asked
    from the IVR (``source`` "ivr") was never on the website."""
    return "IVR callback" if source == "ivr" else "Web callback"


def entry_for(
    record: CallbackRecord, config: OperatorConfig, *, generation: int | None = None
) -> OutboxEntry:
    entry_id = record.outbox_entry_id if generation is None else entry_id_for(record.id, generation)
    policy = config.callbacks
    if record.mode == "scheduled" and record.slot_start is not None:
        expire = record.expected_call_by + timedelta(minutes=policy.scheduled_grace_minutes)
    else:
        expire = record.due_at + timedelta(hours=policy.member_ttl_hours)
    due = record.due_at
    if record.delivery == "direct":
        # Safety net: the queue member is only sent if the click-to-call does not happen.
        due = max(due, record.created_at + timedelta(seconds=policy.direct_fallback_seconds))
    member = MemberItem(
        name=(record.name or f"{member_label(record.source)} {mask_e164(record.phone)}")[:250],
        priority=record.priority,
        expire_at=epoch_ms(expire),
        min_offering_at=epoch_ms(offer_from(record)),
        variables=member_variables(record, entry_id),
        communications=[
            MemberCommunication(
                destination=record.phone,
                type=Lookup(id=config.communication_type_id),
                description=f"{member_label(record.source).lower()} ({record.source}, {record.mode})"[:200],
            )
        ],
    )
    return OutboxEntry(
        entry_id=entry_id,
        source="callback",
        source_id=record.id,
        queue_id=record.queue_id,
        member=member,
        due_at=due,
        expires_at=expire,
        file_name=f"ringback-callback-{record.created_at:%Y%m%d}",
    )


def offer_from(record: CallbackRecord) -> datetime:
    """The member's ``min_offering_at``: its due time when later than its creation (a slot, the
    next opening); otherwise when the customer started waiting (an IVR caller's joined time,
    else the request's creation), so that Webitel's dialer, which orders members of one
    priority by it (``domain.ivr``), offers them in the order customers started waiting."""
    if record.due_at > record.created_at:
        return record.due_at
    return min(record.queued_since or record.created_at, record.created_at)


def push(core: CallbackCore, record: CallbackRecord, entry_ids: list[str]) -> None:
    if core.deliver is None:
        return
    try:
        outcomes = core.deliver(
            core.outbox,
            core.webitel(),
            entry_ids,
            core.clock,
            core.owner,
        )
    except Exception as error:
        logger.warning(
            "immediate push failed; the scheduled upload delivers it",
            extra={"callback_id": record.id, "error_type": type(error).__name__},
        )
        return
    outcome = outcomes.get(entry_ids[0])
    state = getattr(outcome, "state", None)
    logger.info("callback pushed", extra={"callback_id": record.id, "outbox_state": str(state)})


def accepted(
    core: CallbackCore,
    record: CallbackRecord,
    config: OperatorConfig,
    caller: Caller,
    *,
    repeat: bool,
    with_link: bool,
) -> CallbackAccepted:
    links = {"self": f"{caller.base_url}/v1/callbacks/{record.id}"}
    token_expiry = max(record.expected_call_by, record.created_at) + timedelta(
        hours=config.callbacks.self_service_hours
    )
    self_service = None
    if with_link:
        token = sign(core.keys().current, record.id, token_expiry)
        manage = f"{caller.base_url}/v1/callbacks/{record.id}?token={token}"
        self_service = SelfServiceLinks(
            token=token,
            expires_at=datetime.fromtimestamp(int(token_expiry.timestamp()), UTC),
            manage_url=manage,
            cancel={"method": "DELETE", "url": manage},
            reschedule={
                "method": "POST",
                "url": f"{caller.base_url}/v1/callbacks/{record.id}/reschedule?token={token}",
            },
        )
        links["manage"] = manage
    return CallbackAccepted(
        id=record.id,
        status=record.status,
        mode=record.mode,
        created_at=record.created_at,
        expected_call_at=record.expected_call_at,
        expected_call_by=record.expected_call_by,
        timezone=config.timezone,
        scheduled_for_next_opening=record.next_opening,
        repeat=repeat,
        repeat_count=record.repeat_count,
        message=message(record, config, repeat=repeat),
        links=links,
        self_service=self_service,
    )


def safe_update(core: CallbackCore, callback_id: str, **fields: object) -> None:
    try:
        core.repo.update(callback_id, **fields)
    except Exception:
        logger.exception("could not update the callback request", extra={"callback_id": callback_id})


def view_of(record: CallbackRecord) -> CallbackView:
    return CallbackView(
        id=record.id,
        status=record.status,
        status_at=datetime.fromtimestamp(record.status_at / 1000, UTC) if record.status_at else None,
        mode=record.mode,
        created_at=record.created_at,
        expected_call_at=record.expected_call_at,
        expected_call_by=record.expected_call_by,
        phone_masked=mask_e164(record.phone),
        repeat_count=record.repeat_count,
        cancellable=record.status in CANCELLABLE,
        reschedulable=record.status in RESCHEDULABLE,
    )


def message(record: CallbackRecord, config: OperatorConfig, *, repeat: bool) -> str:
    zone = config.zone
    at = record.expected_call_at.astimezone(zone)
    by = record.expected_call_by.astimezone(zone)
    prefix = "We already have your request and moved it up. " if repeat else ""
    mode: CallbackMode = record.mode
    if mode == "scheduled":
        text = f"We will call you on {at:%A %d %B} at {at:%H:%M} ({zone.key})."
    elif record.next_opening:
        text = (
            f"We are closed now. We will call you when we open, on {at:%A %d %B} "
            f"between {at:%H:%M} and {by:%H:%M} ({zone.key})."
        )
    elif mode == "now":
        text = "We will call you as soon as an agent is free."
    else:
        text = f"We will call you back by {by:%H:%M} ({zone.key})."
    return prefix + text
