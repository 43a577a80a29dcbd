"""Submit a website callback request (``POST /v1/callbacks``).

1. Checks that cost nothing come first (origin, site key, honeypot, every field problem at
   once), then the CAPTCHA, then round trip one (``CallbackRepository.reserve``, concurrent
   conditional writes): one update per folded rate-limit item (number, client IP: every window
   at once), the number's open-request lock and the slot. A refusal answers 429/422 and gives
   back what was taken; a held lock makes the submit a repeat of the open request (``repeat``).
   The dialer outbox entry is written in the same round: it is the submit's journal (the dialer
   never sends it before its request is stored; docs/callbacks.md, "Crash safety").
2. Round trip two: the request, its consent evidence and the commit of the number's lock
   (``store``, one batch). If a write fails the submit is undone and the visitor gets 503
   (retry): the 202 answer means both the entry and the request exist.
3. ``now`` requests in business hours are pushed to Webitel at once (``deliver_now``) or, in
   ``direct`` mode, placed as a click-to-call (``direct_call``); any Webitel trouble leaves the
   entry for the scheduled uploader: the visitor still gets 202.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace as replace_fields
from datetime import datetime, timedelta

from ringback.domain import schedule
from ringback.domain.abuse import Guard, GuardItem, network_of, number_problem, origin_allowed, submit_guards
from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import PRIORITY, CallbackAccepted, CallbackRecord, CallbackRequest
from ringback.domain.consent import ConsentEvidence, consent_evidence, consent_problem, keyed_hash
from ringback.domain.errors import FieldProblem, Forbidden, Unavailable, Unprocessable
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import OutboxEntry, OutboxState
from ringback.domain.phones import InvalidPhone, PhoneNumber, parse_phone
from ringback.observability import logger, metrics
from ringback.ports.callbacks import Reservation, SlotBooking, WriteRefused
from ringback.services.callbacks.core import (
    UNDONE,
    CallbackCore,
    Caller,
    accepted,
    entry_for,
    entry_id_for,
    lock_expiry,
    ms,
    new_callback_id,
    push,
    refusal,
    scheduled_time,
    slot_booking,
)
from ringback.services.callbacks.direct_call import direct_call
from ringback.services.callbacks.repeat import ensure_entry, repeat

# The request and its outbox entry are written at the same time (two tables, two adapters).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="callbacks-submit")


def submit(core: CallbackCore, request: CallbackRequest, caller: Caller) -> CallbackAccepted:
    config = core.config.load()
    policy = config.callbacks
    now = core.clock.now()
    check_caller(core, request, caller, config)
    number, scheduled_at = check_fields(core, request, config, now)
    if policy.captcha_required:
        check_captcha(core, request.captcha_token, caller.client_ip)

    keys = core.keys()
    ip_hash = keyed_hash(keys.current, caller.client_ip, purpose="ip") if caller.client_ip else None
    phone_key = keyed_hash(keys.current, number.e164, purpose="phone")
    network = network_of(caller.client_ip)
    net_hash = keyed_hash(keys.current, network, purpose="net") if network else None
    guards = submit_guards(policy, phone_key=phone_key, ip_key=ip_hash, now=now, network_key=net_hash)
    record = new_record(request, config, number, scheduled_at, now, ip_hash)
    slot = slot_booking(config, record.slot_start)
    consent = consent_evidence(request, policy, callback_id=record.id, now=now, client_ip_hash=ip_hash)
    lock_until = lock_expiry(record, config)

    if caller.submit_key:
        record = record.model_copy(update={"submit_key": caller.submit_key})
    entry = entry_for(record, config)
    # Round one: the outbox entry beside the reservations. The entry is this submit's journal:
    # the dialer never sends it before its request is stored, and cancels it (giving back the
    # slot) when its request never comes; a refusal or a repeat cancels it at once.
    adding = _POOL.submit(core.outbox.add, entry)
    try:
        outcome = _reserve(core, record, request, config, caller, guards, slot, lock_until, now, ip_hash)
    except Exception:
        _drop_entry(core, adding, entry)
        raise
    if isinstance(outcome, CallbackAccepted):  # a repeat, or this same submit retried
        _drop_entry(core, adding, entry)
        return outcome
    reservation = outcome
    add_error = adding.exception()
    if add_error is not None:
        logger.error(
            "callback not queued for the dialer; undoing it",
            extra={"callback_id": record.id, "error_type": type(add_error).__name__},
        )
        undo(core, record, reservation)
        raise Unavailable("could not store the callback request; please try again") from add_error
    # Round two: the request, its consent evidence and the commit of the number's lock.
    store(core, record, consent, entry, reservation, lock_until)
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
    record = dispatch(core, record, entry, config, now)
    return accepted(core, record, config, caller, repeat=False, with_link=True)


def _reserve(
    core: CallbackCore,
    record: CallbackRecord,
    request: CallbackRequest,
    config: OperatorConfig,
    caller: Caller,
    guards: Sequence[Guard],
    slot: SlotBooking | None,
    lock_until: datetime,
    now: datetime,
    ip_hash: str | None,
) -> Reservation | CallbackAccepted:
    """Round one's reservations, or the answer when the number already has an open request."""
    replace: str | None = None
    counted: tuple[tuple[GuardItem, bool], ...] = ()
    for _ in range(2):
        try:
            reservation = core.repo.reserve(
                record,
                lock_until=lock_until,
                guards=() if counted else guards,  # counters are taken once per submit
                slot=slot,
                now=now,
                replace_lock_of=replace,
            )
            return replace_fields(reservation, counters=counted + reservation.counters)
        except WriteRefused as refused:
            if refused.reason != "phone_open" or refused.open_id is None:
                give_back(core, record, Reservation(counters=counted))
                raise refusal(refused, request.schedule_field, now) from None
            counted += refused.kept.counters
            existing = core.repo.get(refused.open_id)
            if existing is not None and existing.is_open and existing.id != replace:
                if caller.submit_key and existing.submit_key == caller.submit_key:
                    # The visitor's retry of a submit that stored its request and then died:
                    # the original answer, not a repeat (and nothing counted twice).
                    give_back(core, record, Reservation(counters=counted))
                    return _answer_again(core, existing, config, caller, now)
                return repeat(core, existing, request, config, now, ip_hash, caller)
            replace = refused.open_id  # the lock names a closed or vanished request
    give_back(core, record, Reservation(counters=counted))
    raise Unavailable("could not store the request; please try again")


def _answer_again(
    core: CallbackCore, record: CallbackRecord, config: OperatorConfig, caller: Caller, now: datetime
) -> CallbackAccepted:
    entry = ensure_entry(core, record, config)
    if entry is not None and entry.state == OutboxState.PENDING:
        record = dispatch(core, record, entry, config, now)
    return accepted(core, record, config, caller, repeat=False, with_link=True)


def _drop_entry(core: CallbackCore, adding: Future[bool], entry: OutboxEntry) -> None:
    """Cancel this submit's entry (it was not needed); a failure leaves it to the dialer."""
    try:
        if adding.result():
            core.outbox.cancel(entry.entry_id, reason=UNDONE)
    except Exception:
        logger.warning(
            "an unneeded outbox entry stays for the dialer to cancel", extra={"entry_id": entry.entry_id}
        )


def store(
    core: CallbackCore,
    record: CallbackRecord,
    consent: ConsentEvidence | None,
    entry: OutboxEntry,
    reservation: Reservation,
    lock_until: datetime,
) -> None:
    """Round two: the request with its consent and the lock's commit; on a failure the submit is
    undone (503): nothing is kept that the dialer would deliver."""
    try:
        core.repo.store(record, consent, lock_until=lock_until)
        return
    except Exception as error:
        if isinstance(error, WriteRefused) and error.reason == "exists" and stored_is(core, record):
            return  # our own write, committed before a timed-out attempt was retried
        failed = error
    logger.error(
        "callback not stored; undoing it",
        extra={"callback_id": record.id, "error_type": type(failed).__name__},
    )
    try:
        core.outbox.cancel(entry.entry_id, reason=UNDONE)
    except Exception:
        logger.exception(
            "could not cancel the outbox entry of an undone callback", extra={"callback_id": record.id}
        )
    undo(core, record, reservation)
    raise Unavailable("could not store the callback request; please try again") from failed


def stored_is(core: CallbackCore, record: CallbackRecord) -> bool:
    stored = core.repo.get(record.id)
    return stored is not None and stored.phone == record.phone and stored.created_at == record.created_at


def check_caller(
    core: CallbackCore, request: CallbackRequest, caller: Caller, config: OperatorConfig
) -> None:
    if not origin_allowed(caller.origin, core.allowed_origins):
        raise Forbidden("requests from this website origin are not accepted")
    if config.callbacks.require_site_key and caller.site_key not in config.site_keys:
        raise Forbidden("missing or unknown site key (X-Ringback-Site-Key header)")
    if request.honeypot_filled:
        metrics.add_metric(name="CallbackHoneypot", unit="Count", value=1)
        raise Forbidden("refused: the hidden 'website' field must stay empty (it catches bots)")


def check_fields(
    core: CallbackCore, request: CallbackRequest, config: OperatorConfig, now: datetime
) -> tuple[PhoneNumber, datetime | None]:
    problems: list[FieldProblem] = []
    number: PhoneNumber | None = None
    region = request.country or core.default_region
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
        scheduled_at = scheduled_time(request, config, now, problems)
    if problems or number is None:
        raise Unprocessable("some fields are not valid", fields=tuple(problems))
    return number, scheduled_at


def check_captcha(core: CallbackCore, token: str | None, client_ip: str | None) -> None:
    if not token:
        raise Forbidden("a CAPTCHA answer is required (captcha_token)")
    try:
        outcome = core.captcha().verify(token, client_ip)
    except Exception as error:
        logger.warning("captcha verification unavailable", extra={"error_type": type(error).__name__})
        raise Unavailable("could not verify the CAPTCHA; please try again") from error
    if not outcome.success:
        metrics.add_metric(name="CallbackCaptchaFailed", unit="Count", value=1)
        raise Forbidden("the CAPTCHA answer was not accepted; please solve it again")


def new_record(
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
        status_at=ms(now),
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


def undo(core: CallbackCore, record: CallbackRecord, reservation: Reservation) -> None:
    try:
        core.repo.delete_new(record, reservation)
    except Exception:
        logger.exception("could not undo an unqueued callback", extra={"callback_id": record.id})


def give_back(core: CallbackCore, record: CallbackRecord, reservation: Reservation) -> None:
    if not reservation.counters:
        return
    try:
        core.repo.release(record, reservation)
    except Exception:
        logger.exception("could not give back rate-limit counters", extra={"callback_id": record.id})


def dispatch(
    core: CallbackCore, record: CallbackRecord, entry: OutboxEntry, config: OperatorConfig, now: datetime
) -> CallbackRecord:
    """Push a ``now`` request at once (direct call or top-priority member); never raises."""
    if record.mode != "now" or record.due_at > now:
        return record
    if record.delivery == "direct":
        placed = direct_call(core, record, config)
        if placed is not None:
            return placed
    push(core, record, [entry.entry_id])
    return record
