"""Callbacks asked for from the Webitel IVR (``POST /v1/callbacks/ivr`` and ``.../cancel``).

The accept is the website submit's path without what a web form needs (origin, CAPTCHA,
consent, rate limits per visitor): round one writes the outbox entry beside the number's
open-request lock (``CallbackRepository.reserve``), round two stores the request and commits
the lock (``submit.store``), then the member is pushed to Webitel as a ``now`` submit is. The
request's ``queued_since`` is the time the caller joined the inbound queue, which the member
gets as ``min_offering_at`` (``core.offer_from``, ``domain.ivr``): it keeps the caller's place.

* Idempotent per call: the request carries the call id (``submit_key`` ``ivr:<hash>``); the
  same call asking again finds its own open request behind the number's lock and gets the
  answer it got (``position`` and ``expected_call_in_s`` are kept with the request).
* A caller with an open request (website or IVR) gets that request linked (``linked``): no
  second request, no second dial, nothing changed (so asking twice answers the same).
* :class:`IvrCallbacks` bounds both routes by one deadline (the routing lookup's
  ``Deadline`` and pool): a dependency that fails or is late answers ``accepted: "false"``,
  ``reason: "degraded"`` in time, so the flow keeps the caller in the queue.
* What the caller heard holds: a late accept or cancel still running when the degraded answer
  went out is withdrawn before its commit point (``answered``): an accept undoes its first
  round (lock and outbox entry) instead of storing the request, a cancel cancels nothing. Past
  the commit point (round two under way when the deadline passed) the request stays; the caller,
  kept in the queue, closes it by reaching an agent (docs/events.md, inbound closure).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ringback.domain import schedule
from ringback.domain.abuse import number_problem
from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import PRIORITY, CallbackRecord
from ringback.domain.errors import Conflict, NotFound
from ringback.domain.ivr import (
    IvrFieldError,
    IvrRequest,
    OfferSnapshot,
    expected_call_in_s,
    parse_cancel_request,
    parse_ivr_request,
    say_text,
)
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.phones import InvalidPhone, PhoneNumber, parse_phone
from ringback.observability import logger, metrics
from ringback.ports.callbacks import Reservation, WriteRefused
from ringback.services.callbacks import cancel as _cancel
from ringback.services.callbacks.core import (
    CallbackCore,
    entry_for,
    entry_id_for,
    lock_expiry,
    ms,
    new_callback_id,
    push,
)
from ringback.services.callbacks.submit import _drop_entry, store
from ringback.services.routing import Deadline

SOURCE = "ivr"
_POSITION = "ivr_position"
_EXPECTED = "ivr_expected_s"


def call_key(call_id: str) -> str:
    """The request's ``submit_key`` for one call (the raw call id is not kept as the key)."""
    return "ivr:" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class IvrAnswer:
    """The accept's answer; :meth:`to_json` gives every value as a string for the flow."""

    accepted: bool
    say: str
    reason: str = ""
    callback_id: str = ""
    linked: bool = False
    expected_call_in_s: int | None = None
    position: int | None = None

    def to_json(self) -> dict[str, str]:
        return {
            "accepted": "true" if self.accepted else "false",
            "callback_id": self.callback_id,
            "linked": "true" if self.linked else "false",
            "expected_call_in_s": "" if self.expected_call_in_s is None else str(self.expected_call_in_s),
            "position": "" if self.position is None else str(self.position),
            "say": self.say,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class IvrCancelAnswer:
    cancelled: bool
    say: str
    reason: str = ""
    callback_id: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "cancelled": "true" if self.cancelled else "false",
            "callback_id": self.callback_id,
            "say": self.say,
            "reason": self.reason,
        }


def _say(config: OperatorConfig, key: str, language: str | None, seconds: int | None = None) -> str:
    policy = config.ivr_callback
    minutes = -(-(seconds or 0) // 60)
    return say_text(key, language, policy.default_language, policy.say, minutes=minutes)


def _refused(config: OperatorConfig, reason: str, language: str | None, say: str | None = None) -> IvrAnswer:
    metrics.add_metric(name="IvrCallbackRefused", unit="Count", value=1)
    return IvrAnswer(accepted=False, reason=reason, say=_say(config, say or reason, language))


def _kept_int(record: CallbackRecord, name: str) -> int | None:
    extra = record.extra if isinstance(record.extra, dict) else {}
    value = extra.get(name, "")
    return int(value) if value.isdigit() else None


def _answer_of(
    record: CallbackRecord, config: OperatorConfig, language: str | None, *, linked: bool, now: datetime
) -> IvrAnswer:
    expected = _kept_int(record, _EXPECTED)
    if linked or expected is None:
        expected = max(0, int((record.expected_call_at - now).total_seconds()))
    return IvrAnswer(
        accepted=True,
        callback_id=record.id,
        linked=linked,
        expected_call_in_s=expected,
        position=_kept_int(record, _POSITION),
        say=_say(config, "linked" if linked else "accepted", language, expected),
    )


@dataclass(frozen=True)
class Accepted:
    """The accept's answer and, for a new request, its push to Webitel (run after answering)."""

    answer: IvrAnswer
    push: Callable[[], None] | None = None


def accept(
    core: CallbackCore,
    request: IvrRequest,
    phone: PhoneNumber,
    snapshot: Callable[[], OfferSnapshot | None],
    pool: Executor,
    answered: Callable[[], bool] = lambda: False,
) -> Accepted | None:
    """Create (or find) the caller's ``now`` callback; raises on a dependency failure.
    ``answered()`` turns true once the caller was told "degraded": nothing is created after
    (None: withdrawn)."""
    config = core.config.load()
    now = core.clock.now()
    policy = config.ivr_callback
    if not policy.enabled:
        return Accepted(_refused(config, "disabled", request.language))
    if not schedule.is_open(config, now):
        return Accepted(_refused(config, "closed", request.language))
    if number_problem(phone, config.callbacks, config.allowed_countries):
        # A caller id can be forged: never dial a costly or denied number on its word (as the form).
        logger.info("ivr callback refused for the number", extra={"phone": phone.masked})
        return Accepted(_refused(config, "number_refused", request.language, say="disabled"))
    stats = snapshot()
    queue_id = config.ivr_callback_queue_id
    now_ms = ms(now)
    fresh = stats if stats is not None and stats.fresh(now_ms) else None
    if fresh is not None and fresh.capacity_left is not None and fresh.capacity_left <= 0:
        return Accepted(_refused(config, "no_capacity", request.language))
    wait = fresh.queues.get(request.queue_id) if fresh is not None else None
    expected = expected_call_in_s(wait.wait_s if wait else None, request.joined_at_ms, now_ms)
    waiting_cb = fresh.queues.get(queue_id) if fresh is not None else None
    position = waiting_cb.waiting + 1 if waiting_cb is not None else None

    record = _new_record(request, config, phone, now, queue_id, expected, position)
    entry = entry_for(record, config)
    lock_until = lock_expiry(record, config)
    if answered():
        _withdrawn(record.id, "before its first write")
        return None
    adding: Future[bool] = pool.submit(core.outbox.add, entry)
    try:
        outcome = _reserve(core, record, lock_until, now)
    except Exception:
        _drop_entry(core, adding, entry)
        raise
    if isinstance(outcome, CallbackRecord):  # the caller's open request (this call's, or linked)
        _drop_entry(core, adding, entry)
        linked = outcome.submit_key != record.submit_key
        metrics.add_metric(
            name="IvrCallbackLinked" if linked else "IvrCallbackRepeated", unit="Count", value=1
        )
        logger.info(
            "ivr callback: open request answered",
            extra={"callback_id": outcome.id, "linked": linked, "phone": phone.masked},
        )
        return Accepted(_answer_of(outcome, config, request.language, linked=linked, now=now))
    add_error = adding.exception()
    if add_error is not None:
        _undo(core, record, outcome)
        raise add_error
    if answered():  # the commit point: the caller heard "degraded", so no request is kept
        _undo(core, record, outcome)
        _drop_entry(core, adding, entry)
        _withdrawn(record.id, "after its first write, undone")
        return None
    store(core, record, None, entry, outcome, lock_until)
    metrics.add_metric(name="IvrCallbackAccepted", unit="Count", value=1)
    logger.info(
        "ivr callback accepted",
        extra={"callback_id": record.id, "phone": phone.masked, "queue_id": queue_id},
    )
    return Accepted(
        _answer_of(record, config, request.language, linked=False, now=now),
        push=lambda: push(core, record, [entry.entry_id]),
    )


def _withdrawn(callback_id: str, when: str) -> None:
    """A late accept's or cancel's end: the caller heard "degraded" already; nothing is kept."""
    metrics.add_metric(name="IvrCallbackWithdrawn", unit="Count", value=1)
    logger.info(
        "ivr work withdrawn: the caller was answered degraded",
        extra={"callback_id": callback_id, "when": when},
    )


def _undo(core: CallbackCore, record: CallbackRecord, reservation: Reservation) -> None:
    try:
        core.repo.delete_new(record, reservation)
    except Exception:
        logger.exception("could not undo an unqueued ivr callback", extra={"callback_id": record.id})


def _reserve(
    core: CallbackCore, record: CallbackRecord, lock_until: datetime, now: datetime
) -> Reservation | CallbackRecord:
    """The number's lock for ``record``, or the open request that holds it."""
    replace: str | None = None
    for _ in range(2):
        try:
            return core.repo.reserve(
                record, lock_until=lock_until, guards=(), slot=None, now=now, replace_lock_of=replace
            )
        except WriteRefused as refused:
            if refused.reason != "phone_open" or refused.open_id is None:
                raise
            existing = core.repo.get(refused.open_id)
            if existing is not None and existing.is_open and existing.id != replace:
                return existing
            replace = refused.open_id  # the lock names a closed or vanished request
    raise Conflict("the number's open request is changing; please try again")


def _new_record(
    request: IvrRequest,
    config: OperatorConfig,
    phone: PhoneNumber,
    now: datetime,
    queue_id: str,
    expected: int | None,
    position: int | None,
) -> CallbackRecord:
    timing = schedule.timing_for(config, "now", now, None)
    callback_id = new_callback_id()
    joined = datetime.fromtimestamp(request.joined_at_ms / 1000, UTC)
    extra = {"ivr_queue_id": request.queue_id}
    if expected is not None:
        extra[_EXPECTED] = str(expected)
    if position is not None:
        extra[_POSITION] = str(position)
    expected_at = now + timedelta(seconds=expected) if expected is not None else timing.due_at
    return CallbackRecord(
        id=callback_id,
        status=CallbackStatus.RECEIVED,
        status_at=ms(now),
        created_at=now,
        mode="now",
        phone=phone.e164,
        phone_region=phone.region,
        phone_kind=phone.kind.value,
        language=request.language,
        extra=extra,
        source=SOURCE,
        priority=PRIORITY["now"],
        due_at=timing.due_at,
        expected_call_at=expected_at,
        expected_call_by=max(timing.expected_by, expected_at),
        next_opening=timing.next_opening,
        queue_id=queue_id,
        delivery="queue",
        outbox_entry_id=entry_id_for(callback_id),
        submit_key=call_key(request.call_id),
        queued_since=min(joined, now),
        ivr_call_id=request.call_id,
        expires_at=int(
            (max(timing.expire_at, now) + timedelta(days=config.callbacks.retention_days)).timestamp()
        ),
    )


def cancel(
    core: CallbackCore,
    phone: PhoneNumber,
    open_id: Callable[[str], str | None],
    answered: Callable[[], bool] = lambda: False,
) -> IvrCancelAnswer | None:
    """Cancel the caller's open callback (the cancel use case: outbox entry cancelled, member
    stop ordered); raises on a dependency failure. Once ``answered()`` (the caller heard that
    nothing was cancelled) the request is left as it is (None: withdrawn)."""
    config = core.config.load()
    callback_id = open_id(phone.e164)
    if callback_id is None:
        return IvrCancelAnswer(cancelled=False, reason="none_open", say=_say(config, "none_open", None))
    record = core.repo.get(callback_id)
    language = record.language if record is not None else None
    if answered():
        _withdrawn(callback_id, "before the cancel")
        return None
    try:
        result = _cancel.cancel(core, callback_id)
    except (NotFound, Conflict):
        return IvrCancelAnswer(cancelled=False, reason="none_open", say=_say(config, "none_open", language))
    metrics.add_metric(name="IvrCallbackCancelled", unit="Count", value=1)
    logger.info("ivr callback cancelled", extra={"callback_id": result.id, "webitel": result.webitel})
    return IvrCancelAnswer(cancelled=True, callback_id=result.id, say=_say(config, "cancelled", language))


# ------------------------------------------------------------------ within the budget


@dataclass(frozen=True)
class IvrReply:
    """What a route answers: 200 with ``body``, or 400 naming ``field``."""

    status: int
    body: dict[str, Any]


def _bad_request(error: IvrFieldError) -> IvrReply:
    return IvrReply(
        400,
        {
            "error": "invalid_request",
            "message": error.message,
            "field": error.field,
            "fields": [{"field": error.field, "message": error.message}],
        },
    )


class IvrCallbacks:
    """Both IVR routes, each answered within ``budget_ms`` whatever the dependencies do."""

    def __init__(
        self,
        core: CallbackCore,
        *,
        snapshot: Callable[[], OfferSnapshot | None],
        open_id: Callable[[str], str | None],
        budget_ms: int,
        executor: Executor | None = None,
    ) -> None:
        self.core = core
        self._snapshot = snapshot
        self._open_id = open_id
        self.budget_ms = budget_ms
        self._executor = executor

    def deadline(self) -> Deadline:
        return Deadline(self.budget_ms / 1000)

    def _pool(self) -> Executor:
        if self._executor is not None:
            return self._executor
        from ringback.services.routing import shared_executor

        return shared_executor()

    def _phone(self, cid: str) -> PhoneNumber:
        try:
            return parse_phone(cid, self.core.default_region)
        except InvalidPhone as error:
            raise IvrFieldError("cid", f"cid is not a phone number ({error.problem.value})") from None

    def accept(self, body: Any, deadline: Deadline | None = None) -> IvrReply:
        deadline = deadline or self.deadline()
        try:
            request = parse_ivr_request(body, ms(self.core.clock.now()))
            phone = self._phone(request.cid)
        except IvrFieldError as error:
            return _bad_request(error)
        pool = self._pool()
        stats = pool.submit(self._snapshot)

        def snapshot() -> OfferSnapshot | None:
            try:
                return stats.result(timeout=max(deadline.remaining() / 2, 0.0))
            except Exception:
                stats.cancel()
                return None

        answered = threading.Event()  # set once the caller is told "degraded"
        work = pool.submit(accept, self.core, request, phone, snapshot, pool, answered.is_set)
        outcome = self._within(work, deadline, "accept", request.language, answered)
        if isinstance(outcome, Accepted):
            if outcome.push is not None:
                # After the answer is settled: the caller never waits on Webitel. A push that
                # does not finish (the container frozen) is delivered by the scheduled upload.
                pool.submit(outcome.push)
            return IvrReply(200, outcome.answer.to_json())
        answer = outcome
        return IvrReply(
            200,
            IvrAnswer(accepted=False, reason="degraded", say=answer).to_json(),
        )

    def cancel(self, body: Any, deadline: Deadline | None = None) -> IvrReply:
        deadline = deadline or self.deadline()
        try:
            cid, _call_id = parse_cancel_request(body)
            phone = self._phone(cid)
        except IvrFieldError as error:
            return _bad_request(error)
        answered = threading.Event()
        work = self._pool().submit(cancel, self.core, phone, self._open_id, answered.is_set)
        answer = self._within(work, deadline, "cancel", None, answered)
        if isinstance(answer, IvrCancelAnswer):
            return IvrReply(200, answer.to_json())
        return IvrReply(200, IvrCancelAnswer(cancelled=False, reason="degraded", say=answer).to_json())

    def _within(
        self,
        work: Future[Any],
        deadline: Deadline,
        route: str,
        language: str | None,
        answered: threading.Event,
    ) -> Any:
        wait([work], timeout=deadline.remaining())
        if work.done() and work.exception() is None:
            return work.result()
        answered.set()  # before the answer goes out: a late work withdraws from here on
        if work.done() and work.exception() is None and work.result() is not None:
            return work.result()  # it passed its commit point just in time: that is the truth
        error = work.exception() if work.done() else None
        work.cancel()
        metrics.add_metric(name="IvrCallbackDegraded", unit="Count", value=1)
        logger.warning(
            "ivr callback answered degraded",
            extra={
                "route": route,
                "cause": "error" if error is not None else "deadline",
                "error_type": type(error).__name__ if error is not None else None,
                "budget_ms": self.budget_ms,
            },
        )
        # The configuration may be what hangs: the texts of the languages ringback ships.
        return say_text("degraded", language, "cs")
