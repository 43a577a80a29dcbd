"""The shared status answer: when a computed answer holds (business-hours transitions, counts,
configuration), its stored form, and that serving it is answering what a container holding the
same counts and configuration would compute at that moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ringback.adapters.status_snapshot import Held, SharedStatusAnswers, answer_key
from ringback.domain import schedule
from ringback.domain.operator_config import WEEKDAYS, OperatorConfig
from ringback.domain.status_answer import FIELDS, StatusSnapshot, instant_text, seconds_left
from ringback.domain.webitel import QueueAgentCounts
from ringback.services.availability import Availability, AvailabilityService
from tests.unit.callbacks_fakes import CallbacksWebitel, MemoryCache, StaticConfig, at, make_config
from tests.unit.dialer_fakes import FakeClock

pytestmark = pytest.mark.unit

START = datetime(2026, 3, 20, tzinfo=UTC)  # a week before Prague's spring DST change


class MemoryAnswers:
    """``ports.status_answers.StatusAnswers`` in memory."""

    def __init__(self) -> None:
        self.published: list[tuple[StatusSnapshot, datetime]] = []
        self.fail = False

    def publish(self, snapshot: StatusSnapshot, *, now: datetime) -> None:
        if self.fail:
            raise ConnectionError("the table is down")
        self.published.append((snapshot, now))


def container(
    config: OperatorConfig,
    clock: FakeClock,
    cache: MemoryCache,
    webitel: CallbacksWebitel,
    answers: MemoryAnswers | None = None,
    config_until: datetime | None = None,
) -> AvailabilityService:
    return AvailabilityService(
        config=StaticConfig(config),
        clock=clock,
        webitel=lambda: webitel,
        cache=cache,
        answers=answers,
        config_valid_until=(lambda: config_until) if answers is not None else None,
    )


# --- the stored form -----------------------------------------------------------------------------


def test_the_snapshot_fields_are_the_availability_fields_in_order() -> None:
    assert tuple(Availability.model_fields) == FIELDS


class _Instant(BaseModel):
    at: datetime


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
@settings(max_examples=200, derandomize=True, deadline=None)
def test_instant_text_is_how_pydantic_writes_the_instant(moment: datetime) -> None:
    assert instant_text(moment) == _Instant(at=moment).model_dump(mode="json")["at"]


_ANSWER = dict.fromkeys(FIELDS)


@given(
    fresh=st.integers(0, 10**8),
    served_before=st.integers(0, 10**8),
    micro=st.integers(0, 999_999),
    cap=st.integers(1, 3600),
)
@settings(max_examples=200, derandomize=True, deadline=None)
def test_a_stored_snapshot_reads_back_never_valid_longer(
    fresh: int, served_before: int, micro: int, cap: int
) -> None:
    fresh_until = START + timedelta(seconds=fresh, microseconds=micro)
    serve_until = fresh_until - timedelta(seconds=min(served_before, fresh))
    snapshot = StatusSnapshot(dict(_ANSWER), fresh_until, serve_until, cap)
    back = StatusSnapshot.from_value(snapshot.to_value())
    assert back is not None and back.answer == snapshot.answer and back.cap_s == cap
    for original, stored in ((fresh_until, back.fresh_until), (serve_until, back.serve_until)):
        assert timedelta(0) <= original - stored < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        {},
        {"v": 2, "answer": _ANSWER, "fresh_until_ms": 2, "serve_until_ms": 1, "cap_s": 10},
        {"v": 1, "answer": {"status": "online"}, "fresh_until_ms": 2, "serve_until_ms": 1, "cap_s": 10},
        {"v": 1, "answer": _ANSWER, "fresh_until_ms": "2", "serve_until_ms": 1, "cap_s": 10},
        {"v": 1, "answer": _ANSWER, "fresh_until_ms": 1, "serve_until_ms": 2, "cap_s": 10},
        {"v": 1, "answer": _ANSWER, "fresh_until_ms": 2, "serve_until_ms": True, "cap_s": 10},
        {"v": 1, "answer": _ANSWER, "fresh_until_ms": 2, "serve_until_ms": 1, "cap_s": 0},
        {"v": 1, "answer": _ANSWER, "fresh_until_ms": 2, "serve_until_ms": 1},
    ],
)
def test_a_value_that_is_no_snapshot_is_never_served(value: Any) -> None:
    assert StatusSnapshot.from_value(value) is None


def test_a_snapshot_is_served_until_serve_until_with_what_is_left_of_fresh_until() -> None:
    snapshot = StatusSnapshot(dict(_ANSWER), START + timedelta(seconds=30), START + timedelta(seconds=20), 10)
    body, max_age = snapshot.served(START) or ({}, 0)
    assert max_age == body["cache_seconds"] == 10  # at most status_cache_seconds
    assert body["checked_at"] == instant_text(START) and list(body) == list(FIELDS)
    assert snapshot.served(START + timedelta(seconds=25, milliseconds=500)) is None
    late = snapshot.served(START + timedelta(seconds=19, milliseconds=200))
    assert late is not None and late[1] == 10
    short = StatusSnapshot(dict(_ANSWER), START + timedelta(seconds=3.5), START + timedelta(seconds=3.5), 10)
    assert [short.served(START + timedelta(seconds=s)) is not None for s in (0, 3.4, 3.5)] == [
        True,
        True,
        False,
    ]
    assert (short.served(START) or ({}, 0))[1] == 3
    assert (short.served(START + timedelta(seconds=3.2)) or ({}, 0))[1] == 1  # never 0, as before
    assert seconds_left(START, START + timedelta(seconds=1), 10) == 1


def test_the_shared_answers_keep_a_copy_and_write_the_item() -> None:
    cache, copy = MemoryCache(), Held()
    snapshot = StatusSnapshot(dict(_ANSWER), START + timedelta(seconds=9), START + timedelta(seconds=5), 10)
    SharedStatusAnswers(cache, answer_key("/ringback/prod/config"), copy).publish(snapshot, now=START)
    assert copy.snapshot is snapshot
    stored = cache.read("STATUS_ANSWER#/ringback/prod/config")
    assert stored is not None and StatusSnapshot.from_value(stored.value) == snapshot


# --- business-hours transitions ------------------------------------------------------------------

_RANGE_TEXTS = (
    "08:00-18:00",
    "00:00-24:00",
    "00:00-12:00",
    "12:00-24:00",
    "09:00-09:05",
    "22:30-24:00",
    "01:59-03:01",
)
_RANGES = st.sampled_from(_RANGE_TEXTS)
# Every instant at which the state can change: a range's ends, local midnight (holidays).
_BOUNDARIES = sorted(
    {time.fromisoformat(end) for text in _RANGE_TEXTS for end in text.replace("24:00", "00:00").split("-")}
)


@st.composite
def configs(draw: st.DrawFn) -> OperatorConfig:
    hours = {
        day: draw(st.lists(_RANGES, max_size=2, unique=True))
        for day in draw(st.sets(st.sampled_from(WEEKDAYS)))
    }
    holidays = draw(
        st.lists(st.integers(0, 13).map(lambda d: date(2026, 3, 20) + timedelta(days=d)), max_size=4)
    )
    return make_config(
        business_hours=hours,
        holidays=[day.isoformat() for day in holidays],
        timezone=draw(st.sampled_from(["Europe/Prague", "UTC", "America/New_York", "Asia/Kolkata"])),
        status_cache_seconds=draw(st.integers(1, 3600)),
    )


def _state(config: OperatorConfig, moment: datetime) -> tuple[bool, bool, datetime | None]:
    opening = None if schedule.is_open(config, moment) else schedule.next_opening(config, moment)
    return schedule.is_open(config, moment), schedule.is_holiday(config, moment), opening


@given(
    config=configs(),
    offset_s=st.integers(0, 12 * 86400),
    horizon_s=st.sampled_from([1, 60, 3600, 86400, 4 * 86400]),
)
@settings(max_examples=150, derandomize=True, deadline=None)
def test_nothing_the_status_says_changes_before_next_change_and_something_does_at_it(
    config: OperatorConfig, offset_s: int, horizon_s: int
) -> None:
    now = START + timedelta(seconds=offset_s)
    horizon = now + timedelta(seconds=horizon_s)
    change = schedule.next_change(config, now, horizon)
    end = horizon if change is None else change
    assert now < end <= horizon
    state = _state(config, now)
    zone = config.zone
    first = now.astimezone(zone).date() - timedelta(days=1)
    for day in range((end.astimezone(zone).date() - first).days + 2):
        for boundary in _BOUNDARIES:
            instant = datetime.combine(first + timedelta(days=day), boundary, tzinfo=zone).astimezone(UTC)
            if now <= instant < end:
                assert _state(config, instant) == state, instant
    assert _state(config, end - timedelta(microseconds=1)) == state
    if change is not None:
        assert _state(config, change)[:2] != state[:2]


def test_windows_that_meet_are_no_change_and_a_holiday_midnight_is_one() -> None:
    always = make_config(business_hours={day: ["00:00-24:00"] for day in WEEKDAYS}, holidays=["2026-12-24"])
    noon = at("2026-12-22T11:00:00+00:00")
    assert schedule.next_change(always, noon, noon + timedelta(days=1)) is None
    assert schedule.next_change(always, noon, noon + timedelta(days=3)) == at("2026-12-23T23:00:00+00:00")
    split = make_config(business_hours={"mon": ["08:00-12:00", "12:00-18:00"]})
    monday = at("2026-11-23T09:00:00+00:00")  # 10:00 in Prague
    assert schedule.next_change(split, monday, monday + timedelta(days=1)) == at("2026-11-23T17:00:00+00:00")
    # Closed the day before a holiday: the reason turns "holiday" at midnight.
    evening = at("2026-12-23T20:00:00+00:00")
    standard = make_config()
    assert schedule.next_change(standard, evening, evening + timedelta(days=9)) == at(
        "2026-12-23T23:00:00+00:00"
    )


# --- the service: clamping, publishing, and serving = computing ----------------------------------


def test_the_max_age_never_reaches_past_the_close_or_the_opening() -> None:
    webitel, cache = CallbacksWebitel(), MemoryCache()
    config = make_config(status_cache_seconds=60)
    before_close = FakeClock(at("2026-11-18T16:59:53+00:00"))  # Wednesday 17:59:53 in Prague
    answer = container(config, before_close, cache, webitel).status()
    assert (answer.status, answer.cache_seconds) == ("online", 7)
    before_opening = FakeClock(at("2026-11-19T06:59:40+00:00"))
    closed = container(config, before_opening, cache, webitel).status()
    assert (closed.status, closed.cache_seconds) == ("offline", 20)
    assert closed.next_opening_at == at("2026-11-19T07:00:00+00:00")
    far = container(config, FakeClock(at("2026-11-21T10:00:00+00:00")), cache, webitel).status()
    assert far.cache_seconds == 60


def test_an_answer_is_published_once_while_it_holds_and_never_past_its_configuration() -> None:
    webitel, cache, answers = CallbacksWebitel(), MemoryCache(), MemoryAnswers()
    clock = FakeClock(at("2026-11-18T10:00:00+00:00"))
    config_until = clock.now() + timedelta(seconds=4)
    service = container(make_config(status_cache_seconds=10), clock, cache, webitel, answers, config_until)
    for _ in range(3):
        service.status()
        clock.advance(1)
    assert len(answers.published) == 1
    snapshot, published_at = answers.published[0]
    assert snapshot.fresh_until == published_at + timedelta(seconds=10)
    assert snapshot.serve_until == config_until
    clock.advance(2)  # the configuration it came from has expired: this one is not shared
    service.status()
    assert len(answers.published) == 1


def test_no_answer_is_shared_without_a_configuration_age_or_while_another_container_asks() -> None:
    webitel, cache = CallbacksWebitel(), MemoryCache()
    clock = FakeClock(at("2026-11-18T10:00:00+00:00"))
    answers = MemoryAnswers()
    unknown = container(make_config(), clock, cache, webitel, answers, None)
    assert unknown.status().status == "online" and answers.published == []
    cache.leases["STATUS#1"] = clock.now() + timedelta(seconds=5)  # another container asks Webitel
    cache.values.clear()
    waiting = container(make_config(), clock, cache, webitel, answers, clock.now() + timedelta(seconds=60))
    assert waiting.status().degraded and answers.published == []


def test_a_failed_publish_still_answers() -> None:
    answers = MemoryAnswers()
    answers.fail = True
    clock = FakeClock(at("2026-11-18T10:00:00+00:00"))
    service = container(
        make_config(), clock, MemoryCache(), CallbacksWebitel(), answers, clock.now() + timedelta(seconds=60)
    )
    assert service.status().status == "online"


_COUNTS = st.builds(
    QueueAgentCounts,
    online=st.integers(0, 3),
    free=st.integers(0, 2),
    busy=st.integers(0, 3),
    pause=st.integers(0, 2),
)


@given(
    config=configs(),
    offset_s=st.integers(0, 12 * 86400),
    later_ms=st.integers(0, 4_000_000),
    config_left_ms=st.integers(1, 4_000_000),
    counts=st.one_of(st.none(), _COUNTS),
)
@settings(max_examples=200, derandomize=True, deadline=None)
def test_serving_the_snapshot_answers_what_a_container_computes_then(
    config: OperatorConfig, offset_s: int, later_ms: int, config_left_ms: int, counts: QueueAgentCounts | None
) -> None:
    """Container A computes at t0 and publishes; at t1, while the stored snapshot holds, it gives
    what container B (same configuration, the shared counts) computes at t1."""
    cache, answers, webitel = MemoryCache(), MemoryAnswers(), CallbacksWebitel()
    webitel.down = counts is None
    webitel.counts = counts or QueueAgentCounts()
    t0 = START + timedelta(seconds=offset_s)
    clock = FakeClock(t0)
    config_until = t0 + timedelta(milliseconds=config_left_ms)
    first = container(config, clock, cache, webitel, answers, config_until).status()
    assert first.checked_at == t0 and len(answers.published) == 1  # always something to share
    ((published, _),) = answers.published
    stored = StatusSnapshot.from_value(published.to_value())
    assert stored is not None and stored.serve_until <= config_until
    clock.advance(later_ms / 1000)
    t1 = clock.now()
    served = stored.served(t1)
    if t1 >= published.serve_until:
        assert served is None
        return
    computed = container(config, clock, cache, webitel).status().model_dump(mode="json")
    exact = published.served(t1)
    assert exact is not None and exact[0] == computed and exact[1] == computed["cache_seconds"]
    if served is not None:  # the stored instants are whole milliseconds: at most 1 s shorter
        body, max_age = served
        assert {**body, "cache_seconds": computed["cache_seconds"]} == computed
        assert computed["cache_seconds"] - 1 <= max_age <= computed["cache_seconds"]
    assert webitel.count_requests <= 1
