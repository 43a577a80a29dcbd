"""Website callback requests: submit, read, cancel, reschedule, erase.

The life of a request (docs/callbacks.md):

1. Checks that cost nothing come first (origin, site key, honeypot, every field problem at
   once), then the CAPTCHA, then round trip one (``CallbackRepository.reserve``, concurrent
   conditional writes): one update per folded rate-limit item (number, client IP: every window
   at once), the number's open-request lock and the slot. A refusal answers 429/422 and gives
   back what was taken; a held lock makes the submit a repeat of the open request.
2. Round trip two: the request and its consent evidence (``store``) and the dialer outbox entry
   (the dialer issue's exactly-once path), written concurrently. If either fails, the request
   is undone and the visitor gets 503 (retry): the 202 answer means the outbox entry exists.
3. ``now`` requests in business hours are pushed to Webitel at once (``deliver_now``) or, in
   ``direct`` mode, placed as a click-to-call; any Webitel trouble leaves the entry for the
   scheduled uploader: the visitor still gets 202.

Raw phone numbers and e-mails never reach the logs: only masked numbers and ids.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace as replace_fields
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ringback.domain import schedule
from ringback.domain.abuse import GuardItem, number_problem, origin_allowed, submit_guards
from ringback.domain.callback_status import TERMINAL, CallbackStatus
from ringback.domain.callbacks import (
    PRIORITY,
    PRIORITY_CAP,
    REPEAT_BOOST,
    CallbackAccepted,
    CallbackMode,
    CallbackRecord,
    CallbackRequest,
    CallbackView,
    CancelResult,
    ErasureReport,
    RepeatRecord,
    RescheduleRequest,
    SelfServiceLinks,
    local_schedule,
    member_variables,
)
from ringback.domain.consent import ConsentEvidence, consent_evidence, consent_problem, keyed_hash
from ringback.domain.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    RateLimited,
    Unavailable,
    Unprocessable,
)
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import CALLBACK_TAG, OutboxEntry, OutboxState
from ringback.domain.phones import InvalidPhone, PhoneNumber, mask_e164, parse_phone
from ringback.domain.selfservice import KeyRing, sign, verify
from ringback.domain.webitel import (
    CallParams,
    CreateCallRequest,
    Lookup,
    MemberCommunication,
    MemberItem,
    WebitelUnavailable,
    epoch_ms,
)
from ringback.observability import logger, metrics
from ringback.ports.callbacks import CallbackRepository, Reservation, SlotBooking, WriteRefused
from ringback.ports.captcha import CaptchaVerifier
from ringback.ports.clock import Clock
from ringback.ports.operator_config import OperatorConfigSource
from ringback.ports.outbox import DialerOutbox
from ringback.ports.webitel import WebitelClient
from ringback.services.member_stops import settle_now

_SLOT_COUNTER_GRACE = timedelta(days=2)
# The request and its outbox entry are written at the same time (two tables, two adapters).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="callbacks-submit")
_CANCELLABLE = frozenset({CallbackStatus.RECEIVED, CallbackStatus.QUEUED, CallbackStatus.DIALING})
# The reason an undone submit's outbox entry is cancelled with (see ``_ensure_entry``).
_UNDONE = "not stored"
_RESCHEDULABLE = frozenset({CallbackStatus.RECEIVED, CallbackStatus.QUEUED})


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


def new_callback_id() -> str:
    """128 random bits, URL-safe: unguessable, so the id alone reveals nothing to a stranger."""
    return secrets.token_urlsafe(16)


def entry_id_for(callback_id: str, generation: int = 0) -> str:
    return f"cb_{callback_id}" if generation == 0 else f"cb_{callback_id}_r{generation}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class CallbackService:
    def __init__(
        self,
        *,
        repo: CallbackRepository,
        outbox: DialerOutbox,
        config: OperatorConfigSource,
        clock: Clock,
        keys: Callable[[], KeyRing],
        captcha: Callable[[], CaptchaVerifier],
        webitel: Callable[[], WebitelClient],
        deliver: DeliverNow | None,
        default_region: str,
        allowed_origins: Sequence[str] = (),
        owner: str = "callbacks",
    ) -> None:
        self._repo = repo
        self._outbox = outbox
        self._config = config
        self._clock = clock
        self._keys = keys
        self._captcha = captcha
        self._webitel = webitel
        self._deliver = deliver
        self._default_region = default_region
        self._allowed_origins = list(allowed_origins)
        self._owner = owner

    # -- submit -----------------------------------------------------------------------------

    def submit(self, request: CallbackRequest, caller: Caller) -> CallbackAccepted:
        config = self._config.load()
        policy = config.callbacks
        now = self._clock.now()
        self._check_caller(request, caller, config)
        number, scheduled_at = self._check_fields(request, config, now)
        if policy.captcha_required:
            self._check_captcha(request.captcha_token, caller.client_ip)

        keys = self._keys()
        ip_hash = keyed_hash(keys.current, caller.client_ip, purpose="ip") if caller.client_ip else None
        phone_key = keyed_hash(keys.current, number.e164, purpose="phone")
        guards = submit_guards(policy, phone_key=phone_key, ip_key=ip_hash, now=now)
        record = self._new_record(request, config, number, scheduled_at, now, ip_hash)
        slot = self._slot_booking(config, record.slot_start)
        consent = consent_evidence(request, policy, callback_id=record.id, now=now, client_ip_hash=ip_hash)
        lock_until = self._lock_until(record, config)

        replace: str | None = None
        counted: tuple[tuple[GuardItem, bool], ...] = ()
        for _ in range(2):
            try:
                reservation = self._repo.reserve(
                    record,
                    lock_until=lock_until,
                    guards=() if counted else guards,  # counters are taken once per submit
                    slot=slot,
                    now=now,
                    replace_lock_of=replace,
                )
                reservation = replace_fields(reservation, counters=counted + reservation.counters)
                break
            except WriteRefused as refused:
                if refused.reason != "phone_open" or refused.open_id is None:
                    self._give_back(record, Reservation(counters=counted))
                    raise self._refusal(refused, request.schedule_field, now) from None
                counted += refused.kept.counters
                existing = self._repo.get(refused.open_id)
                if existing is not None and existing.is_open and existing.id != replace:
                    return self._repeat(existing, request, config, now, ip_hash, caller)
                replace = refused.open_id  # the lock names a closed or vanished request
        else:
            self._give_back(record, Reservation(counters=counted))
            raise Unavailable("could not store the request; please try again")

        entry = self._entry_for(record, config)
        self._store_with_entry(record, consent, entry, reservation)
        metrics.add_metric(name="CallbackAccepted", unit="Count", value=1)
        logger.info(
            "callback accepted",
            extra={
                "callback_id": record.id,
                "mode": record.mode,
                "phone": number.masked,
                "source": record.source,
                "next_opening": record.next_opening,
            },
        )
        record = self._dispatch(record, entry, config, now)
        return self._accepted(record, config, caller, repeat=False, with_link=True)

    def _store_with_entry(
        self,
        record: CallbackRecord,
        consent: ConsentEvidence | None,
        entry: OutboxEntry,
        reservation: Reservation,
    ) -> None:
        """The request and its outbox entry, written concurrently; both or neither (503)."""
        stored = _POOL.submit(self._repo.store, record, consent)
        added = _POOL.submit(self._outbox.add, entry)
        store_error, add_error = stored.exception(), added.exception()
        if (
            isinstance(store_error, WriteRefused)
            and store_error.reason == "exists"
            and self._stored_is(record)
        ):
            store_error = None  # our own write, committed before a timed-out attempt was retried
        if store_error is None and add_error is None:
            return
        failed = store_error or add_error
        logger.error(
            "callback not stored and queued; undoing it",
            extra={
                "callback_id": record.id,
                "error_type": type(failed).__name__,
                "stored": store_error is None,
                "queued": add_error is None,
            },
        )
        try:
            self._outbox.cancel(entry.entry_id, reason=_UNDONE)
        except Exception:
            logger.exception(
                "could not cancel the outbox entry of an undone callback", extra={"callback_id": record.id}
            )
        self._undo(record, reservation)
        raise Unavailable("could not store the callback request; please try again") from failed

    def _stored_is(self, record: CallbackRecord) -> bool:
        stored = self._repo.get(record.id)
        return stored is not None and stored.phone == record.phone and stored.created_at == record.created_at

    def _check_caller(self, request: CallbackRequest, caller: Caller, config: OperatorConfig) -> None:
        if not origin_allowed(caller.origin, self._allowed_origins):
            raise Forbidden("requests from this website origin are not accepted")
        if config.callbacks.require_site_key and caller.site_key not in config.site_keys:
            raise Forbidden("missing or unknown site key (X-Ringback-Site-Key header)")
        if request.honeypot_filled:
            metrics.add_metric(name="CallbackHoneypot", unit="Count", value=1)
            raise Forbidden("refused: the hidden 'website' field must stay empty (it catches bots)")

    def _check_fields(
        self, request: CallbackRequest, config: OperatorConfig, now: datetime
    ) -> tuple[PhoneNumber, datetime | None]:
        problems: list[FieldProblem] = []
        number: PhoneNumber | None = None
        region = request.country or self._default_region
        try:
            number = parse_phone(request.phone, region, dial_code=request.dial_code)
        except InvalidPhone as error:
            problems.append(FieldProblem("phone", error.message))
        if number is not None:
            problem = number_problem(number, config.callbacks, config.allowed_countries)
            if problem:
                metrics.add_metric(name="CallbackNumberRefused", unit="Count", value=1)
                problems.append(FieldProblem("phone", problem))
        consent = consent_problem(request, config.callbacks)
        if consent:
            problems.append(FieldProblem("consent", consent))
        scheduled_at = None
        if request.mode == "scheduled":
            scheduled_at = self._scheduled_time(request, config, now, problems)
        if problems or number is None:
            raise Unprocessable("some fields are not valid", fields=tuple(problems))
        return number, scheduled_at

    @staticmethod
    def _scheduled_time(
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

    def _check_captcha(self, token: str | None, client_ip: str | None) -> None:
        if not token:
            raise Forbidden("a CAPTCHA answer is required (captcha_token)")
        try:
            outcome = self._captcha().verify(token, client_ip)
        except Exception as error:
            logger.warning("captcha verification unavailable", extra={"error_type": type(error).__name__})
            raise Unavailable("could not verify the CAPTCHA; please try again") from error
        if not outcome.success:
            metrics.add_metric(name="CallbackCaptchaFailed", unit="Count", value=1)
            raise Forbidden("the CAPTCHA answer was not accepted; please solve it again")

    def _refusal(self, refused: WriteRefused, schedule_field: str, now: datetime) -> Exception:
        if refused.reason == "guard" and refused.guard is not None:
            metrics.add_metric(name="CallbackRateLimited", unit="Count", value=1)
            return RateLimited(refused.guard.message, retry_after_s=refused.guard.retry_after_s(now))
        if refused.reason == "slot_full":
            return Unprocessable(
                "the slot is full",
                fields=(FieldProblem(schedule_field, "this slot is fully booked; please pick another"),),
            )
        return Conflict("the request could not be stored; please try again")

    def _new_record(
        self,
        request: CallbackRequest,
        config: OperatorConfig,
        number: PhoneNumber,
        scheduled_at: datetime | None,
        now: datetime,
        ip_hash: str | None,
    ) -> CallbackRecord:
        timing = schedule.timing_for(config, request.mode, now, scheduled_at)
        callback_id = new_callback_id()
        direct = (
            config.callback_mode == "direct"
            and bool(config.direct_from_extension)
            and request.mode == "now"
            and not timing.next_opening
        )
        retention = timedelta(days=config.callbacks.retention_days)
        return CallbackRecord(
            id=callback_id,
            status=CallbackStatus.RECEIVED,
            status_at=_ms(now),
            created_at=now,
            mode=request.mode,
            phone=number.e164,
            phone_region=number.region,
            phone_kind=number.kind.value,
            name=request.name,
            email=request.email,
            language=request.language,
            extra=request.extra,
            source=request.source,
            page_url=request.page_url,
            referrer=request.referrer,
            utm=request.utm,
            lead_guid=request.lead_guid,
            kpi_guid=request.kpi_guid,
            session_guid=request.session_guid,
            widget_id=request.widget_id,
            priority=PRIORITY[request.mode],
            due_at=timing.due_at,
            expected_call_at=timing.due_at,
            expected_call_by=timing.expected_by,
            next_opening=timing.next_opening,
            slot_start=scheduled_at,
            queue_id=config.callback_queue_id,
            delivery="direct" if direct else "queue",
            outbox_entry_id=entry_id_for(callback_id),
            client_ip_hash=ip_hash,
            consent_given=request.consent,
            expires_at=int((max(timing.expire_at, now) + retention).timestamp()),
        )

    @staticmethod
    def _slot_booking(config: OperatorConfig, start: datetime | None) -> SlotBooking | None:
        if start is None:
            return None
        return SlotBooking(
            day=schedule.slot_day(config, start),
            key=schedule.slot_key(start),
            capacity=config.slot_capacity,
            expires_at=int((start + _SLOT_COUNTER_GRACE).timestamp()),
        )

    @staticmethod
    def _lock_until(record: CallbackRecord, config: OperatorConfig) -> datetime:
        return (
            schedule.timing_for(config, record.mode, record.due_at, record.slot_start).expire_at
            if record.mode == "scheduled"
            else record.due_at + timedelta(hours=config.callbacks.member_ttl_hours)
        )

    def _entry_for(
        self, record: CallbackRecord, config: OperatorConfig, *, generation: int | None = None
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
            name=(record.name or f"Web callback {mask_e164(record.phone)}")[:250],
            priority=record.priority,
            expire_at=epoch_ms(expire),
            min_offering_at=epoch_ms(record.due_at) if record.due_at > record.created_at else None,
            variables=member_variables(record, entry_id),
            communications=[
                MemberCommunication(
                    destination=record.phone,
                    type=Lookup(id=config.communication_type_id),
                    description=f"web callback ({record.source}, {record.mode})"[:200],
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

    def _undo(self, record: CallbackRecord, reservation: Reservation) -> None:
        try:
            self._repo.delete_new(record, reservation)
        except Exception:
            logger.exception("could not undo an unqueued callback", extra={"callback_id": record.id})

    def _give_back(self, record: CallbackRecord, reservation: Reservation) -> None:
        if not reservation.counters:
            return
        try:
            self._repo.release(record, reservation)
        except Exception:
            logger.exception("could not give back rate-limit counters", extra={"callback_id": record.id})

    # -- delivery ---------------------------------------------------------------------------

    def _dispatch(
        self, record: CallbackRecord, entry: OutboxEntry, config: OperatorConfig, now: datetime
    ) -> CallbackRecord:
        """Push a ``now`` request at once (direct call or top-priority member); never raises."""
        if record.mode != "now" or record.due_at > now:
            return record
        if record.delivery == "direct":
            placed = self._direct_call(record, config)
            if placed is not None:
                return placed
        self._push(record, [entry.entry_id])
        return record

    def _direct_call(self, record: CallbackRecord, config: OperatorConfig) -> CallbackRecord | None:
        policy = config.callbacks
        params = CallParams(
            timeout=policy.direct_ring_timeout_seconds,
            display=policy.direct_display_text,
            variables=member_variables(record, record.outbox_entry_id),
        )
        try:
            call_id = self._webitel().create_call(
                CreateCallRequest.from_extension(config.direct_from_extension, record.phone, params)
            )
        except Exception as error:
            if isinstance(error, WebitelUnavailable) and error.may_have_committed:
                # Webitel may have placed the call: ringing the queue now could call the visitor
                # twice. The safety-net entry stays pending (due later); the uploader sends it.
                logger.warning(
                    "direct call outcome unknown; the queue entry stays as the safety net",
                    extra={"callback_id": record.id, "error_type": type(error).__name__},
                )
                metrics.add_metric(name="CallbackDirectUncertain", unit="Count", value=1)
                return record
            logger.warning(
                "direct call failed; falling back to the queue",
                extra={"callback_id": record.id, "error_type": type(error).__name__},
            )
            metrics.add_metric(name="CallbackDirectFallback", unit="Count", value=1)
            return None
        # The safety-net entry must not ring the visitor a second time: one retry on a fault.
        for attempt in (1, 2):
            try:
                self._outbox.cancel(record.outbox_entry_id, reason="direct call placed")
                break
            except Exception:
                if attempt == 2:
                    logger.exception(
                        "direct call placed but its queue entry not cancelled",
                        extra={"callback_id": record.id},
                    )
                    metrics.add_metric(name="CallbackDirectCancelFailed", unit="Count", value=1)
        try:
            self._repo.update(record.id, call_id=call_id)
            self._repo.advance_status(record.id, CallbackStatus.DIALING, _ms(self._clock.now()))
        except Exception:
            logger.exception("direct call placed but not recorded", extra={"callback_id": record.id})
        logger.info("direct call placed", extra={"callback_id": record.id})
        return record.model_copy(update={"call_id": call_id, "status": CallbackStatus.DIALING})

    def _push(self, record: CallbackRecord, entry_ids: list[str]) -> None:
        if self._deliver is None:
            return
        try:
            outcomes = self._deliver(
                self._outbox,
                self._webitel(),
                entry_ids,
                self._clock,
                self._owner,
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

    # -- repeats ----------------------------------------------------------------------------

    def _repeat(
        self,
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
            updated = self._repo.add_repeat(existing, repeat, priority=priority, now=now)
        except WriteRefused as refused:
            raise self._refusal(refused, request.schedule_field, now) from None
        metrics.add_metric(name="CallbackRepeat", unit="Count", value=1)
        logger.info(
            "repeat callback request linked",
            extra={"callback_id": existing.id, "repeat_id": repeat.id, "repeat_count": updated.repeat_count},
        )
        entry = self._ensure_entry(updated, config)
        if entry is not None and entry.state == OutboxState.PENDING:
            raised = entry.member.model_copy(update={"priority": priority})
            try:
                self._outbox.replace(
                    entry.model_copy(update={"member": raised}), expected=OutboxState.PENDING
                )
            except Exception:
                logger.exception(
                    "could not raise the priority in the outbox", extra={"callback_id": updated.id}
                )
            if updated.mode == "now" and updated.due_at <= now and updated.delivery == "queue":
                self._push(updated, [entry.entry_id])
        same_visitor = ip_hash is not None and ip_hash == existing.client_ip_hash
        return self._accepted(updated, config, caller, repeat=True, with_link=same_visitor)

    def _ensure_entry(self, record: CallbackRecord, config: OperatorConfig) -> OutboxEntry | None:
        """The request's outbox entry, re-created if an earlier attempt died before writing it,
        or if an earlier submit's undo cancelled it but could not delete the request (the
        request is open, and nothing would ever call)."""
        entry = self._outbox.get(record.outbox_entry_id)
        if record.status not in (CallbackStatus.RECEIVED, CallbackStatus.QUEUED):
            return entry
        if entry is None:
            entry = self._entry_for(record, config)
            self._outbox.add(entry)
            logger.warning("re-created a missing outbox entry", extra={"callback_id": record.id})
        elif entry.state == OutboxState.CANCELLED and entry.last_error == _UNDONE:
            generation = record.reschedule_count + 1
            entry = self._entry_for(record, config, generation=generation)
            self._outbox.add(entry)
            self._repo.update(record.id, outbox_entry_id=entry.entry_id, reschedule_count=generation)
            logger.warning(
                "re-created an outbox entry an undo had cancelled", extra={"callback_id": record.id}
            )
        return entry

    # -- answers ----------------------------------------------------------------------------

    def _accepted(
        self, record: CallbackRecord, config: OperatorConfig, caller: Caller, *, repeat: bool, with_link: bool
    ) -> CallbackAccepted:
        links = {"self": f"{caller.base_url}/v1/callbacks/{record.id}"}
        token_expiry = max(record.expected_call_by, record.created_at) + timedelta(
            hours=config.callbacks.self_service_hours
        )
        self_service = None
        if with_link:
            token = sign(self._keys().current, record.id, token_expiry)
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
            message=_message(record, config, repeat=repeat),
            links=links,
            self_service=self_service,
        )

    def get(self, callback_id: str) -> CallbackView:
        record = self._repo.get(callback_id)
        if record is None:
            raise NotFound("no such callback request")
        return view_of(record)

    # -- cancel -----------------------------------------------------------------------------

    def authorize(self, callback_id: str, token: str | None) -> None:
        """A valid, unexpired self-service token for this request, or Forbidden."""
        verify(self._keys(), token, callback_id, self._clock.now())

    def cancel(self, callback_id: str) -> CancelResult:
        """Cancel (the caller is authorised). Idempotent: cancelling again finishes a pending stop."""
        config = self._config.load()
        now = self._clock.now()
        for _ in range(3):
            record = self._repo.get(callback_id)
            if record is None:
                raise NotFound("no such callback request")
            if record.status == CallbackStatus.CANCELLED:
                return self._finish_cancel(record, None)
            if record.status in TERMINAL or record.status not in _CANCELLABLE:
                raise Conflict(f"the callback request is already {record.status.value}")
            try:
                cancelled = self._repo.cancel(
                    record, now=now, slot=self._slot_booking(config, record.slot_start)
                )
            except WriteRefused:
                continue  # its status moved meanwhile: look again
            entry = None
            try:
                entry = self._outbox.cancel(record.outbox_entry_id, reason="cancelled by the customer")
            except Exception:
                logger.exception("outbox cancel failed", extra={"callback_id": record.id})
            metrics.add_metric(name="CallbackCancelled", unit="Count", value=1)
            return self._finish_cancel(cancelled, entry)
        raise Conflict("the callback request is changing right now; please try again")

    def _finish_cancel(self, record: CallbackRecord, entry: OutboxEntry | None) -> CancelResult:
        """The Webitel side of a cancel: the outbox cancel armed a stop order for a member that
        may be in Webitel; try it now. What Webitel does not confirm stays for the dialer
        schedule (and a repeated DELETE tries again)."""
        if record.call_id is not None:
            return CancelResult(
                id=record.id,
                status=record.status,
                webitel="not_applicable",
                message="cancelled; a direct call that already rang cannot be recalled",
            )
        try:
            entry = self._outbox.get(record.outbox_entry_id)
        except Exception:
            # Unreadable now: a member that may be in Webitel got its stop order with the cancel.
            if entry is not None and entry.may_be_in_webitel:
                entry = entry.model_copy(update={"member_stop": "pending"})
        if entry is None or (entry.member_stop is None and entry.webitel_member_id is None):
            return CancelResult(
                id=record.id,
                status=record.status,
                webitel="not_uploaded",
                message="cancelled before it reached the dialer",
            )
        if entry.member_stop == "pending" and not settle_now(self._outbox, self._webitel(), entry.entry_id):
            self._safe_update(record.id, webitel_stop_pending=True)
            return CancelResult(
                id=record.id,
                status=record.status,
                webitel="stop_pending",
                message="cancelled; the dialer stops the member in Webitel as soon as it can be reached",
            )
        if record.webitel_stop_pending:
            self._safe_update(record.id, webitel_stop_pending=False)
        return CancelResult(
            id=record.id,
            status=record.status,
            webitel="stopped",
            message="cancelled and removed from the dialer",
        )

    def _safe_update(self, callback_id: str, **fields: object) -> None:
        try:
            self._repo.update(callback_id, **fields)
        except Exception:
            logger.exception("could not update the callback request", extra={"callback_id": callback_id})

    # -- reschedule -------------------------------------------------------------------------

    def reschedule(self, callback_id: str, request: RescheduleRequest, caller: Caller) -> CallbackAccepted:
        config = self._config.load()
        now = self._clock.now()
        record = self._repo.get(callback_id)
        if record is None:
            raise NotFound("no such callback request")
        problems: list[FieldProblem] = []
        at = self._scheduled_time(request, config, now, problems)
        if problems or at is None:
            # The same slot again is a retry of a reschedule that half-finished: complete it.
            if record.slot_start is None or not _same_request(request, record, config):
                raise Unprocessable("some fields are not valid", fields=tuple(problems))
            at = record.slot_start
        if record.slot_start == at and record.mode == "scheduled":
            self._ensure_entry(record, config)
            return self._accepted(record, config, caller, repeat=False, with_link=True)
        if record.status not in _RESCHEDULABLE:
            raise Conflict(f"the callback request is already {record.status.value}; it cannot be moved")
        old_entry = self._outbox.get(record.outbox_entry_id)
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
                "status_at": _ms(now),
                "expires_at": max(
                    record.expires_at,
                    int((timing.expire_at + timedelta(days=config.callbacks.retention_days)).timestamp()),
                ),
            }
        )
        new_slot = self._slot_booking(config, at)
        assert new_slot is not None
        try:
            self._repo.reschedule(
                record,
                after,
                old_slot=self._slot_booking(config, record.slot_start),
                new_slot=new_slot,
                lock_until=timing.expire_at,
            )
        except WriteRefused as refused:
            if refused.reason == "slot_full":
                raise self._refusal(refused, request.schedule_field, now) from None
            raise Conflict("the callback request changed meanwhile; please try again") from None
        before = None
        try:
            # Arms a stop order when the old member may be in Webitel (the schedule retries it).
            before = self._outbox.cancel(record.outbox_entry_id, reason="rescheduled")
        except Exception:
            logger.exception("could not cancel the old outbox entry", extra={"callback_id": record.id})
        if before is not None and before.may_be_in_webitel:
            settle_now(self._outbox, self._webitel(), record.outbox_entry_id)
        try:
            self._outbox.add(self._entry_for(after, config))
        except Exception as error:
            raise Unavailable(
                "moved, but not yet queued for the dialer; please repeat the request"
            ) from error
        logger.info("callback rescheduled", extra={"callback_id": record.id, "generation": generation})
        return self._accepted(after, config, caller, repeat=False, with_link=True)

    # -- erasure ----------------------------------------------------------------------------

    def erase_phone(self, phone: str, country: str | None) -> ErasureReport:
        """Erase everything held for a number: requests, repeats, consent evidence, its lock,
        its outbox entries (cancelled) and its Webitel members (deleted by ringback's tag)."""
        try:
            number = parse_phone(phone, country or self._default_region)
        except InvalidPhone as error:
            raise Unprocessable(
                "not a phone number", fields=(FieldProblem("phone", error.message),)
            ) from None
        ids = self._repo.ids_for_phone(number.e164)
        problems: list[str] = []
        cancelled = deleted_members = 0
        for callback_id in ids:
            record = self._repo.get(callback_id)
            if record is None:
                continue
            for generation in range(record.reschedule_count + 1):
                try:
                    if (
                        self._outbox.cancel(entry_id_for(callback_id, generation), reason="erased")
                        is not None
                    ):
                        cancelled += 1
                except Exception as error:
                    problems.append(f"outbox entry of {callback_id}: {type(error).__name__}")
            try:
                self._webitel().delete_members(record.queue_id, variables={CALLBACK_TAG: callback_id})
                deleted_members += 1
            except Exception as error:
                problems.append(f"Webitel members of {callback_id}: {type(error).__name__}")
        items = self._repo.erase(ids, number.e164)
        logger.info(
            "erased a number's callback data",
            extra={"phone": number.masked, "requests": len(ids), "items": items, "problems": len(problems)},
        )
        return ErasureReport(
            phone_masked=number.masked,
            requests=len(ids),
            items_deleted=items,
            webitel_members_deleted=deleted_members,
            outbox_entries_cancelled=cancelled,
            problems=problems,
        )


def _same_request(request: RescheduleRequest, record: CallbackRecord, config: OperatorConfig) -> bool:
    try:
        wanted = local_schedule(
            request.scheduled_at, request.date, request.time, request.timezone, config.timezone
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return wanted == record.slot_start


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
        cancellable=record.status in _CANCELLABLE,
        reschedulable=record.status in _RESCHEDULABLE,
    )


def _message(record: CallbackRecord, config: OperatorConfig, *, repeat: bool) -> str:
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
