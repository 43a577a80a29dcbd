"""The routing use case with in-memory fakes: answers, deadline, bounded cache staleness,
stale-if-error, and the token gate (rotation, Secrets Manager failures)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain.customers import DirectoryEntry
from ringback.domain.routing import ANSWER_FIELDS, CallerRecord, OpenCallback
from ringback.observability import metrics
from ringback.services.routing import AuthOutcome, Deadline, RoutingPolicy, RoutingService, TokenGate

pytestmark = pytest.mark.unit

NUMBER = "+420777666555"


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Directory:
    def __init__(self) -> None:
        self.entries: dict[str, DirectoryEntry] = {}
        self.fail: Exception | None = None
        self.hang = threading.Event()
        self.hanging = False
        self.calls = 0

    def find(self, e164: str) -> DirectoryEntry | None:
        self.calls += 1
        if self.hanging:
            self.hang.wait(5)
        if self.fail:
            raise self.fail
        return self.entries.get(e164)


class Callbacks:
    def __init__(self) -> None:
        self.open: dict[str, OpenCallback] = {}
        self.fail: Exception | None = None

    def find_open(self, e164: str) -> OpenCallback | None:
        if self.fail:
            raise self.fail
        return self.open.get(e164)


class Lookup:
    """The one-round-trip port over the two fakes: a directory failure fails the read, a
    callback failure only leaves the callback part unread (as unprocessed keys do)."""

    def __init__(self, directory: Directory, callbacks: Callbacks) -> None:
        self.directory = directory
        self.callbacks = callbacks
        self.reads: list[bool] = []

    def read(self, e164: str, *, callbacks: bool, remaining: Callable[[], float]) -> CallerRecord:
        self.reads.append(callbacks)
        entry = self.directory.find(e164)
        if not callbacks:
            return CallerRecord(entry, None, callback_read=False)
        try:
            return CallerRecord(entry, self.callbacks.find_open(e164))
        except Exception:
            return CallerRecord(entry, None, callback_read=False)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=4)
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(autouse=True)
def no_metrics_leak() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def service(
    directory: Directory, callbacks: Callbacks, pool: ThreadPoolExecutor, clock: Clock, **policy: object
) -> RoutingService:
    return RoutingService(
        Lookup(directory, callbacks),
        policy=RoutingPolicy(**policy),  # type: ignore[arg-type]
        executor=pool,
        monotonic=clock,
    )


def roomy(clock: Clock) -> Deadline:
    # Time stands still on the fake clock: the real wait is bounded by the fakes, not by time.
    return Deadline(5.0, clock)


def entry(**changes: Any) -> DirectoryEntry:
    return replace(
        DirectoryEntry(
            e164=NUMBER,
            customer_id="C1",
            name="Jana",
            segment="vip",
            priority=3,
            agent_extension="1005",
            bucket_id="9",
            language="cs",
        ),
        **changes,
    )


def test_found_debtor_with_pending_callback(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    directory.entries[NUMBER] = entry(debt=True, debt_amount="10.50", debt_currency="CZK")
    callbacks.open[NUMBER] = OpenCallback("cb-1", "queued")
    answer = service(directory, callbacks, pool, clock).answer("777 666 555", roomy(clock))
    assert answer.to_dict() == {
        "found": True,
        "debt": True,
        "reason": None,
        "source": "live",
        "number": NUMBER,
        "country": "CZ",
        "customer_id": "C1",
        "name": "Jana",
        "segment": "vip",
        "priority": 3,
        "agent_extension": "1005",
        "bucket_id": "9",
        "language": "cs",
        "debt_amount": "10.50",
        "debt_currency": "CZK",
        "debt_as_of": None,
        "pending_callback": True,
        "callback_id": "cb-1",
        "callback_status": "queued",
        # No offer snapshot was read: the wait is unknown and nothing is offered.
        "estimated_wait_s": None,
        "offer_callback": False,
        "wait_queue_id": None,
        # The keep-or-cancel prompts for a caller with an open request, in their language.
        "offer_say": None,
        "pending_say": "Žádost o zpětné volání už u nás máte. Chcete-li ji ponechat, stiskněte 1. "
        "Chcete-li ji zrušit, stiskněte 2.",
        "kept_say": "Vaše žádost o zpětné volání zůstává. Zavoláme vám. Na shledanou.",
    }
    assert tuple(answer.to_dict()) == ANSWER_FIELDS


def test_debt_change_is_visible_after_the_cache_ttl_and_not_before(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    directory.entries[NUMBER] = entry(debt=False)
    routing = service(directory, callbacks, pool, clock, cache_ttl_s=10)
    first = routing.answer(NUMBER, roomy(clock))
    assert (first.debt, first.source) == (False, "live")

    directory.entries[NUMBER] = entry(debt=True)  # the CRM import marks a debt
    clock.now += 9.9
    cached = routing.answer(NUMBER, roomy(clock))
    assert (cached.debt, cached.source) == (False, "cache")  # within the bound: may still be old

    clock.now += 0.2  # past the bound
    fresh = routing.answer(NUMBER, roomy(clock))
    assert (fresh.debt, fresh.source) == (True, "live")


def test_cache_disabled_reads_live_every_time(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    directory.entries[NUMBER] = entry()
    routing = service(directory, callbacks, pool, clock, cache_ttl_s=0)
    for _ in range(3):
        assert routing.answer(NUMBER, roomy(clock)).source == "live"
    assert directory.calls == 3


@given(ttl=st.floats(min_value=0.5, max_value=300), elapsed=st.floats(min_value=0, max_value=600))
@settings(max_examples=60, deadline=None)
def test_staleness_never_exceeds_the_ttl(ttl: float, elapsed: float) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock(start=0.0)  # exact float arithmetic
    with ThreadPoolExecutor(max_workers=2) as executor:
        directory.entries[NUMBER] = entry(debt=False)
        routing = service(directory, callbacks, executor, clock, cache_ttl_s=ttl)
        routing.answer(NUMBER, roomy(clock))
        directory.entries[NUMBER] = entry(debt=True)
        clock.now += elapsed
        answer = routing.answer(NUMBER, roomy(clock))
    if elapsed > ttl:
        assert answer.debt is True and answer.source == "live"
    else:
        assert answer.source == "cache"


def test_cache_is_bounded_lru(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    numbers = [f"+42077766655{i}" for i in range(4)]
    routing = service(directory, callbacks, pool, clock, cache_size=2, cache_ttl_s=60)
    for number in numbers:
        routing.answer(number, roomy(clock))
    calls = directory.calls
    assert routing.answer(numbers[0], roomy(clock)).source == "live"  # evicted
    assert routing.answer(numbers[3], roomy(clock)).source == "cache"
    assert directory.calls == calls + 1


def test_hanging_directory_answers_degraded_at_the_deadline(
    pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    directory, callbacks = Directory(), Callbacks()
    directory.hanging = True
    routing = RoutingService(Lookup(directory, callbacks), policy=RoutingPolicy(budget_ms=50), executor=pool)
    try:
        answer = routing.answer(NUMBER)  # the real monotonic clock: a 50 ms deadline
    finally:
        directory.hang.set()
    assert (answer.found, answer.debt, answer.reason, answer.source) == (False, False, "degraded", "fallback")
    assert answer.number == NUMBER
    assert sum(metrics.metric_set["RoutingDegraded"]["Value"]) == 1
    warning = next(r for r in caplog.records if r.getMessage() == "routing answered degraded")
    assert warning.levelname == "WARNING"
    assert warning.cause == "deadline"  # type: ignore[attr-defined]


def test_failing_directory_serves_a_recent_answer_then_falls_back(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    directory.entries[NUMBER] = entry(debt=True)
    routing = service(directory, callbacks, pool, clock, cache_ttl_s=5, stale_if_error_s=60)
    routing.answer(NUMBER, roomy(clock))
    directory.fail = RuntimeError("throttled")
    clock.now += 30
    stale = routing.answer(NUMBER, roomy(clock))
    assert (stale.found, stale.debt, stale.source, stale.reason) == (True, True, "cache", None)
    assert "RoutingStaleAnswer" in metrics.metric_set
    clock.now += 31  # older than stale_if_error_s
    assert routing.answer(NUMBER, roomy(clock)).reason == "degraded"


def test_fail_open_defaults(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    directory.fail = TimeoutError()
    answer = service(directory, callbacks, pool, clock, fallback_found=True, fallback_debt=True).answer(
        NUMBER, roomy(clock)
    )
    assert (answer.found, answer.debt, answer.reason, answer.source) == (True, True, "degraded", "fallback")


def test_failing_callback_lookup_keeps_the_customer_answer(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    directory.entries[NUMBER] = entry(debt=True)
    callbacks.fail = RuntimeError("gsi throttled")
    routing = service(directory, callbacks, pool, clock, cache_ttl_s=60)
    answer = routing.answer(NUMBER, roomy(clock))
    assert (answer.found, answer.debt, answer.source, answer.pending_callback) == (True, True, "live", False)
    assert "RoutingCallbackLookupFailed" in metrics.metric_set
    callbacks.fail = None
    callbacks.open[NUMBER] = OpenCallback("cb-9", "received")
    # The incomplete answer was not cached: the next call reads again and sees the callback.
    assert routing.answer(NUMBER, roomy(clock)).callback_id == "cb-9"


@given(cid=st.one_of(st.none(), st.text(max_size=60), st.from_regex(r"\+?[0-9 ()\-.]{0,25}", fullmatch=True)))
@settings(max_examples=300, deadline=None)
def test_any_cid_gets_a_well_formed_answer(cid: str | None) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    with ThreadPoolExecutor(max_workers=2) as executor:
        answer = service(directory, callbacks, executor, clock).answer(cid, roomy(clock))
    assert answer.found is False
    assert answer.reason in ("no_cid", "invalid_number", "unknown_number")
    assert (answer.reason == "unknown_number") == (answer.number is not None)
    assert tuple(answer.to_dict()) == ANSWER_FIELDS


def test_unexpected_error_still_answers(pool: ThreadPoolExecutor) -> None:
    class Broken(Directory):
        def find(self, e164: str) -> DirectoryEntry | None:
            raise KeyError("corrupt item")

    clock = Clock()
    answer = service(Broken(), Callbacks(), pool, clock).answer(NUMBER, roomy(clock))
    assert answer.reason == "degraded"


# ------------------------------------------------------------------ token gate


class Tokens:
    def __init__(self, *tokens: str) -> None:
        self.tokens_now = list(tokens)
        self.fail: Exception | None = None
        self.reads = 0

    def tokens(self) -> list[str]:
        self.reads += 1
        if self.fail:
            raise self.fail
        return list(self.tokens_now)


def gate(source: Tokens, clock: Clock, pool: ThreadPoolExecutor) -> TokenGate:
    return TokenGate(source, refresh_s=300, stale_max_s=3600, min_forced_s=5, executor=pool, monotonic=clock)


def test_several_tokens_valid_at_once(pool: ThreadPoolExecutor) -> None:
    clock = Clock()
    checker = gate(Tokens("old-token", "new-token"), clock, pool)
    assert checker.check("Bearer old-token", roomy(clock)) is AuthOutcome.OK
    assert checker.check("Bearer new-token", roomy(clock)) is AuthOutcome.OK
    assert checker.check("Bearer other", roomy(clock)) is AuthOutcome.INVALID
    assert checker.check(None, roomy(clock)) is AuthOutcome.MISSING
    assert checker.check("Basic old-token", roomy(clock)) is AuthOutcome.MISSING


def test_tokens_are_cached_and_a_new_token_forces_one_reread(pool: ThreadPoolExecutor) -> None:
    clock, source = Clock(), Tokens("current")
    checker = gate(source, clock, pool)
    for _ in range(5):
        assert checker.check("Bearer current", roomy(clock)) is AuthOutcome.OK
    assert source.reads == 1
    source.tokens_now.append("next")
    assert checker.check("Bearer next", roomy(clock)) is AuthOutcome.OK
    assert source.reads == 2
    # A flood of bad tokens re-reads at most once per min_forced_s.
    for _ in range(20):
        assert checker.check("Bearer attacker", roomy(clock)) is AuthOutcome.INVALID
    assert source.reads == 2
    clock.now += 5
    assert checker.check("Bearer attacker", roomy(clock)) is AuthOutcome.INVALID
    assert source.reads == 3


def test_secret_failure_keeps_last_tokens_for_a_bounded_time(pool: ThreadPoolExecutor) -> None:
    clock, source = Clock(), Tokens("current")
    checker = gate(source, clock, pool)
    assert checker.check("Bearer current", roomy(clock)) is AuthOutcome.OK
    source.fail = ConnectionError("secrets manager down")
    clock.now += 301  # due for a refresh, which fails
    assert checker.check("Bearer current", roomy(clock)) is AuthOutcome.OK
    assert checker.state() == "stale"
    assert checker.check("Bearer wrong", roomy(clock)) is AuthOutcome.INVALID
    clock.now += 3600  # beyond stale_max_s
    assert checker.check("Bearer current", roomy(clock)) is AuthOutcome.UNAVAILABLE
    source.fail = None
    assert checker.check("Bearer current", roomy(clock)) is AuthOutcome.OK
    assert checker.state() == "fresh"


def test_no_tokens_ever_read_is_unavailable_not_invalid(pool: ThreadPoolExecutor) -> None:
    clock, source = Clock(), Tokens()
    source.fail = ConnectionError("down")
    checker = gate(source, clock, pool)
    assert checker.check("Bearer anything", roomy(clock)) is AuthOutcome.UNAVAILABLE
    assert checker.state() == "none"


def test_an_empty_secret_rejects_every_token(pool: ThreadPoolExecutor) -> None:
    clock = Clock()
    assert gate(Tokens(), clock, pool).check("Bearer x", roomy(clock)) is AuthOutcome.INVALID


def test_callback_lookup_can_be_switched_off(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    callbacks.fail = AssertionError("must not be called")
    callbacks.open[NUMBER] = OpenCallback("cb-1")
    directory.entries[NUMBER] = entry()
    lookup = Lookup(directory, callbacks)
    routing = RoutingService(
        lookup, policy=RoutingPolicy(callback_lookup=False), executor=pool, monotonic=clock
    )
    answer = routing.answer(NUMBER, roomy(clock))
    assert (answer.found, answer.pending_callback, answer.source) == (True, False, "live")
    assert lookup.reads == [False]
    assert routing.probe(roomy(clock)) == {"customers": "ok", "callbacks": "disabled"}
    assert "RoutingCallbackLookupFailed" not in metrics.metric_set


class OfferLookup(Lookup):
    """The same read with an IVR offer snapshot beside it (adapters.routing_dynamo reads both)."""

    def __init__(self, directory: Directory, callbacks: Callbacks, offer: Any) -> None:
        super().__init__(directory, callbacks)
        self.offer = offer

    def read(self, e164: str, *, callbacks: bool, remaining: Callable[[], float]) -> CallerRecord:
        return replace(super().read(e164, callbacks=callbacks, remaining=remaining), offer=self.offer)


def fresh_offer(**changes: Any) -> Any:
    import time

    from ringback.domain.ivr import OfferSnapshot, QueueWait

    now_ms = int(time.time() * 1000)
    base: dict[str, Any] = {
        "fetched_at_ms": now_ms,
        "enabled": True,
        "offer_after_s": 60,
        "queues": {"3": QueueWait(5, 240), "4": QueueWait(0, 0)},
        "branch_queues": {"found": "3", "debt": "4", "unknown": "3"},
        "open_windows": ((now_ms - 60_000, now_ms + 3_600_000),),
        "capacity_left": 2,
    }
    return OfferSnapshot(**{**base, **changes})


def test_the_answer_carries_the_wait_and_the_offer_of_the_branch_queue(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    directory.entries[NUMBER] = entry()
    routing = RoutingService(
        OfferLookup(directory, callbacks, fresh_offer()),
        policy=RoutingPolicy(),
        executor=pool,
        monotonic=clock,
    )
    answer = routing.answer(NUMBER, roomy(clock))
    assert (answer.estimated_wait_s, answer.offer_callback, answer.wait_queue_id) == ("240", True, "3")
    debtor = "+420777666556"
    directory.entries[debtor] = entry(e164=debtor, debt=True)
    answer = routing.answer(debtor, roomy(clock))  # the debt branch joins queue 4: nobody waits
    assert (answer.estimated_wait_s, answer.offer_callback, answer.wait_queue_id) == ("0", False, "4")


def test_no_offer_to_a_caller_with_an_open_callback(pool: ThreadPoolExecutor) -> None:
    directory, callbacks, clock = Directory(), Callbacks(), Clock()
    callbacks.open[NUMBER] = OpenCallback("cb-9")
    routing = RoutingService(
        OfferLookup(directory, callbacks, fresh_offer()),
        policy=RoutingPolicy(),
        executor=pool,
        monotonic=clock,
    )
    answer = routing.answer(NUMBER, roomy(clock))
    assert answer.pending_callback is True
    assert (answer.estimated_wait_s, answer.offer_callback) == ("240", False)


def test_the_degraded_answer_offers_nothing() -> None:
    answer = RoutingService(Lookup(Directory(), Callbacks()), policy=RoutingPolicy()).degraded("deadline")
    assert (answer.estimated_wait_s, answer.offer_callback, answer.wait_queue_id) == (None, False, None)
