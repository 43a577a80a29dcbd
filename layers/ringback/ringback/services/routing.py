"""The routing lookup: who is calling, do they owe money, did they ask for a callback.

The caller is on the line and Webitel's ``httpRequest`` gives up after 1000 ms (then the flow
falls through with no variables set), so every answer here comes within a time budget:

* the caller's directory entry and open-callback pointer are read in one round trip
  (:class:`CallerLookup`) on a small thread pool and waited for until the request's
  :class:`Deadline`; the adapter's own socket timeouts are sized to the same budget so stuck
  threads free themselves, but the deadline is the guarantee. The read can start before the
  bearer token is checked (:meth:`RoutingService.begin`), so that a container's first request
  reads the token secret and the data concurrently; only the answer waits for the check;
* a late or failing directory read answers from a recent in-memory answer when there is one no
  older than ``stale_if_error_s`` (``source: cache``), otherwise with the configured fallback
  (``reason: degraded``, ``source: fallback``), a ``RoutingDegraded`` metric and a warning log;
* fresh answers are kept for ``cache_ttl_s`` (0 disables), so a change in the directory (a new
  debt) is visible after at most that long;
* the bearer tokens are cached the same way: fresh for ``refresh_s``, and when Secrets Manager
  fails, the last tokens read stay valid for ``stale_max_s``. With no token known at all the
  caller cannot be authenticated; it then gets the degraded answer, which carries no customer
  data, rather than a 401 that would blame its token.

The caller's number is never logged: only its masked form.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from ringback.domain.ivr import routing_offer
from ringback.domain.phones import InvalidPhone, PhoneNumber, PhoneProblem, parse_phone
from ringback.domain.routing import (
    AnswerSource,
    CallerRecord,
    NotFoundReason,
    RoutingAnswer,
    fallback_answer,
    not_found,
)
from ringback.domain.tokens import bearer_token, token_matches
from ringback.observability import logger, metrics
from ringback.ports.auth import TokenSource
from ringback.ports.caller_lookup import CallerLookup

T = TypeVar("T")
Monotonic = Callable[[], float]

DEGRADED_METRIC = "RoutingDegraded"


class Deadline:
    """The moment a request's answer is due, on a monotonic clock."""

    def __init__(self, budget_s: float, monotonic: Monotonic = time.monotonic) -> None:
        self._monotonic = monotonic
        self.due = monotonic() + budget_s

    def remaining(self) -> float:
        return max(0.0, self.due - self._monotonic())


@dataclass(frozen=True)
class RoutingPolicy:
    budget_ms: int = 300
    default_region: str = "CZ"
    cache_ttl_s: float = 5.0
    stale_if_error_s: float = 600.0
    cache_size: int = 5000
    fallback_found: bool = False
    fallback_debt: bool = False
    callback_lookup: bool = True  # off: no open-callback read (installations without website callbacks)


_shared_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def shared_executor() -> ThreadPoolExecutor:
    """The container's pool for deadline-bound reads (created on first use)."""
    global _shared_pool  # noqa: PLW0603 - one pool a container, created lazily
    with _pool_lock:
        if _shared_pool is None:
            _shared_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="routing")
        return _shared_pool


def _record(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


class _AnswerCache:
    """Recent lookups by number (bounded LRU), each with the time it was read."""

    def __init__(self, size: int, monotonic: Monotonic) -> None:
        self._size = size
        self._monotonic = monotonic
        self._items: OrderedDict[str, tuple[float, CallerRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, e164: str, max_age_s: float) -> CallerRecord | None:
        if max_age_s <= 0:
            return None
        with self._lock:
            hit = self._items.get(e164)
            if hit is None:
                return None
            stored_at, lookup = hit
            if self._monotonic() - stored_at > max_age_s:
                return None
            self._items.move_to_end(e164)
            return lookup

    def put(self, e164: str, lookup: CallerRecord) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._items[e164] = (self._monotonic(), lookup)
            self._items.move_to_end(e164)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class RoutingService:
    """Answers a cid within the policy's budget, whatever the directory does."""

    def __init__(
        self,
        lookup: CallerLookup,
        *,
        policy: RoutingPolicy,
        executor: Executor | None = None,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self.policy = policy
        self._executor = executor
        self._monotonic = monotonic
        self._cache = _AnswerCache(policy.cache_size, monotonic)

    # -------------------------------------------------------------- public

    def deadline(self) -> Deadline:
        return Deadline(self.policy.budget_ms / 1000, self._monotonic)

    def answer(self, cid: str | None, deadline: Deadline | None = None) -> RoutingAnswer:
        """The routing answer for ``cid`` as Webitel sent it; never raises."""
        deadline = deadline or self.deadline()
        return self.finish(self.begin(cid, deadline), deadline)

    def begin(self, cid: str | None, deadline: Deadline) -> PendingAnswer:
        """Parse ``cid`` and start its read (or take it from the cache); never raises.

        :meth:`finish` waits for the read; :meth:`PendingAnswer.cancel` drops it (a 401).
        """
        try:
            return self._begin(cid, deadline)
        except Exception as error:  # the flow must get an answer whatever happened
            return PendingAnswer(None, answer=self._unexpected(error))

    def finish(self, pending: PendingAnswer, deadline: Deadline) -> RoutingAnswer:
        """The answer of a :meth:`begin`, waiting for its read until the deadline; never raises."""
        if pending.answer is not None:
            return pending.answer
        try:
            return self._finish(pending, deadline)
        except Exception as error:  # the flow must get an answer whatever happened
            return self._unexpected(error)

    def _unexpected(self, error: Exception) -> RoutingAnswer:
        logger.exception("routing lookup failed unexpectedly", extra={"error_type": type(error).__name__})
        return self.degraded("error", error_type=type(error).__name__)

    def degraded(
        self, cause: str, *, phone: PhoneNumber | None = None, error_type: str | None = None
    ) -> RoutingAnswer:
        """The configured fallback answer, with its metric and warning."""
        _record(DEGRADED_METRIC)
        from ringback.services.routing_degraded import note_degraded  # lazy: not on the cold start

        note_degraded()  # in memory; flushed off the answer path (the console's health panel)
        logger.warning(
            "routing answered degraded",
            extra={
                "cause": cause,
                "error_type": error_type,
                "number": phone.masked if phone else None,
                "budget_ms": self.policy.budget_ms,
            },
        )
        return fallback_answer(
            found=self.policy.fallback_found,
            debt=self.policy.fallback_debt,
            number=phone.e164 if phone else None,
            country=phone.region if phone else None,
        )

    def probe(self, deadline: Deadline | None = None) -> dict[str, str]:
        """Whether the directory and the callback pointers answer within the budget (health check)."""
        deadline = deadline or self.deadline()
        future = self._read("+10000000000", deadline)
        wait([future], timeout=deadline.remaining())
        customers = _state(future)
        if not self.policy.callback_lookup:
            callbacks = "disabled"
        elif customers != "ok":
            callbacks = customers
        else:
            callbacks = "ok" if future.result().callback_read else "error"
        if customers != "ok":
            future.cancel()
        return {"customers": customers, "callbacks": callbacks}

    # -------------------------------------------------------------- internals

    def _read(self, e164: str, deadline: Deadline) -> Future[CallerRecord]:
        executor = self._executor or shared_executor()
        return executor.submit(
            self._lookup.read, e164, callbacks=self.policy.callback_lookup, remaining=deadline.remaining
        )

    def _begin(self, cid: str | None, deadline: Deadline) -> PendingAnswer:
        try:
            phone = parse_phone(cid, self.policy.default_region)
        except InvalidPhone as error:
            reason = (
                NotFoundReason.NO_CID
                if error.problem in (PhoneProblem.EMPTY, PhoneProblem.ANONYMOUS)
                else NotFoundReason.INVALID_NUMBER
            )
            logger.info(
                "routing: no usable caller number",
                extra={"problem": error.problem.value, "reason": reason.value},
            )
            return PendingAnswer(None, answer=not_found(reason))

        cached = self._cache.get(phone.e164, self.policy.cache_ttl_s)
        if cached is not None:
            return PendingAnswer(phone, answer=_build(phone, cached, AnswerSource.CACHE))
        return PendingAnswer(phone, read=self._read(phone.e164, deadline))

    def _finish(self, pending: PendingAnswer, deadline: Deadline) -> RoutingAnswer:
        phone, future = pending.phone, pending.read
        assert phone is not None and future is not None
        wait([future], timeout=deadline.remaining())
        if not future.done() or future.exception() is not None:
            cause = _state(future)
            future.cancel()
            stale = self._cache.get(phone.e164, self.policy.stale_if_error_s)
            if stale is not None:
                _record("RoutingStaleAnswer")
                logger.warning(
                    "routing: directory failed, answering from a recent lookup",
                    extra={"cause": cause, "number": phone.masked},
                )
                return _build(phone, stale, AnswerSource.CACHE)
            failure = future.exception() if future.done() else None
            return self.degraded(cause, phone=phone, error_type=type(failure).__name__ if failure else None)

        record = future.result()
        if self.policy.callback_lookup and not record.callback_read:
            _record("RoutingCallbackLookupFailed")
            logger.warning(
                "routing: open-callback lookup failed or late",
                extra={"cause": "error", "number": phone.masked},
            )
        else:
            self._cache.put(phone.e164, record)
        return _build(phone, record, AnswerSource.LIVE)


class PendingAnswer:
    """An answer being prepared: either final already (``answer``) or waiting on ``read``."""

    __slots__ = ("answer", "phone", "read")

    def __init__(
        self,
        phone: PhoneNumber | None,
        *,
        answer: RoutingAnswer | None = None,
        read: Future[CallerRecord] | None = None,
    ) -> None:
        self.phone = phone
        self.answer = answer
        self.read = read

    def cancel(self) -> None:
        if self.read is not None:
            self.read.cancel()


def _state(future: Future[Any]) -> str:
    if not future.done():
        return "deadline"
    if future.cancelled():
        return "cancelled"
    return "error" if future.exception() is not None else "ok"


def _build(phone: PhoneNumber, lookup: CallerRecord, source: AnswerSource) -> RoutingAnswer:
    answer = _build_answer(phone, lookup, source)
    offer = routing_offer(
        lookup.offer,
        found=answer.found,
        debt=answer.debt,
        pending_callback=answer.pending_callback,
        now_ms=int(time.time() * 1000),
        language=answer.language,
    )
    return replace(
        answer,
        estimated_wait_s=offer.estimated_wait_s,
        offer_callback=offer.offer_callback,
        wait_queue_id=offer.wait_queue_id,
        offer_say=offer.offer_say,
        pending_say=offer.pending_say,
        kept_say=offer.kept_say,
    )


def _build_answer(phone: PhoneNumber, lookup: CallerRecord, source: AnswerSource) -> RoutingAnswer:
    callback = lookup.callback
    pending_callback = callback is not None
    callback_id = callback.callback_id if callback else None
    callback_status = callback.status if callback else None
    entry = lookup.entry
    if entry is None:
        return replace(
            not_found(NotFoundReason.UNKNOWN_NUMBER, number=phone.e164, country=phone.region, source=source),
            pending_callback=pending_callback,
            callback_id=callback_id,
            callback_status=callback_status,
        )
    return RoutingAnswer(
        found=True,
        debt=entry.debt,
        reason=None,
        source=source.value,
        number=phone.e164,
        country=phone.region,
        customer_id=entry.customer_id,
        name=entry.name,
        segment=entry.segment,
        priority=entry.priority,
        agent_extension=entry.agent_extension,
        bucket_id=entry.bucket_id,
        language=entry.language,
        debt_amount=entry.debt_amount,
        debt_currency=entry.debt_currency,
        debt_as_of=entry.debt_as_of,
        pending_callback=pending_callback,
        callback_id=callback_id,
        callback_status=callback_status,
    )


# ------------------------------------------------------------------ authentication


class AuthOutcome(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no bearer token presented: 401
    INVALID = "invalid"  # a token that is not valid: 401
    UNAVAILABLE = "unavailable"  # no valid token is known (secret unreadable): degraded answer


class TokenGate:
    """Checks bearer tokens against a :class:`TokenSource`, within the request's deadline.

    Tokens are read at most every ``refresh_s``; a presented token that does not match makes
    the gate re-read them (such forced reads at most once every ``min_forced_s``, so a flood of
    bad tokens cannot hammer Secrets Manager), so a token added during a rotation is accepted at
    once. If a read fails, the last tokens read stay valid for
    ``stale_max_s``.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        refresh_s: float = 300,
        stale_max_s: float = 3600,
        min_forced_s: float = 5,
        executor: Executor | None = None,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._source = source
        self._refresh_s = refresh_s
        self._stale_max_s = stale_max_s
        self._min_forced_s = min_forced_s
        self._executor = executor
        self._monotonic = monotonic
        self._tokens: list[str] | None = None
        self._read_at = 0.0
        self._forced_at: float | None = None
        self._lock = threading.Lock()

    def check(self, authorization: str | None, deadline: Deadline) -> AuthOutcome:
        presented = bearer_token(authorization)
        if presented is None:
            return AuthOutcome.MISSING
        tokens = self._current(deadline, force=False)
        if tokens is None:
            return AuthOutcome.UNAVAILABLE
        if token_matches(presented, tokens):
            return AuthOutcome.OK
        if self._may_force_refresh():
            tokens = self._current(deadline, force=True)
            if tokens is not None and token_matches(presented, tokens):
                return AuthOutcome.OK
        return AuthOutcome.INVALID

    def state(self) -> str:
        """``fresh``, ``stale`` (older than refresh_s but usable) or ``none`` (for health checks)."""
        if self._tokens is None:
            return "none"
        age = self._monotonic() - self._read_at
        if age <= self._refresh_s:
            return "fresh"
        return "stale" if age <= self._stale_max_s else "none"

    def _may_force_refresh(self) -> bool:
        now = self._monotonic()
        if self._forced_at is not None and now - self._forced_at < self._min_forced_s:
            return False
        self._forced_at = now
        return True

    def _current(self, deadline: Deadline, *, force: bool) -> list[str] | None:
        now = self._monotonic()
        if not force and self._tokens is not None and now - self._read_at <= self._refresh_s:
            return self._tokens
        fetched = self._fetch(deadline)
        with self._lock:
            if fetched is not None:
                self._tokens, self._read_at = fetched, self._monotonic()
                return fetched
            if self._tokens is not None and self._monotonic() - self._read_at <= self._stale_max_s:
                return self._tokens
            return None

    def _fetch(self, deadline: Deadline) -> list[str] | None:
        executor = self._executor or shared_executor()
        future: Future[list[str]] = executor.submit(self._source.tokens)
        wait([future], timeout=deadline.remaining())
        if future.done() and future.exception() is None:
            return future.result()
        cause = _state(future)
        future.cancel()
        error = future.exception() if future.done() and not future.cancelled() else None
        _record("RoutingTokensUnavailable")
        logger.warning(
            "routing: could not read the bearer tokens",
            extra={
                "cause": cause,
                "error_type": type(error).__name__ if error else None,
                "have_previous_tokens": self._tokens is not None,
            },
        )
        return None


@dataclass(frozen=True)
class RoutingReply:
    """What the endpoint answers: the routing answer, or why the caller was refused."""

    outcome: AuthOutcome
    answer: RoutingAnswer | None = None


def answer_request(
    service: RoutingService, gate: TokenGate, cid: str | None, authorization: str | None
) -> RoutingReply:
    """Check the caller's token and look the number up, within one deadline.

    When the tokens must be read first (a new container, or due for a refresh), the data is
    read meanwhile: the token check gates the answer, not the read. With fresh tokens the check
    costs no I/O and comes first, so a wrong token never causes a read.
    """
    deadline = service.deadline()
    pending = None
    if bearer_token(authorization) is not None and gate.state() != "fresh":
        pending = service.begin(cid, deadline)
    try:
        outcome = gate.check(authorization, deadline)
    except Exception as error:  # never a 5xx to the caller's flow
        logger.exception("routing: token check failed", extra={"error_type": type(error).__name__})
        outcome = AuthOutcome.UNAVAILABLE
    if outcome is not AuthOutcome.OK and pending is not None:
        pending.cancel()
    if outcome in (AuthOutcome.MISSING, AuthOutcome.INVALID):
        return RoutingReply(outcome)
    if outcome is AuthOutcome.UNAVAILABLE:
        return RoutingReply(outcome, service.degraded("tokens_unavailable"))
    return RoutingReply(outcome, service.finish(pending or service.begin(cid, deadline), deadline))
