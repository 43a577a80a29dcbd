"""Business hours, holidays, the slot grid and the timing of a request."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain import schedule
from tests.unit.callbacks_fakes import at, make_config

pytestmark = pytest.mark.unit

CONFIG = make_config()


def test_open_and_closed() -> None:
    assert schedule.is_open(CONFIG, at("2026-11-18T07:00:00+00:00"))  # Wed 08:00 Prague
    assert not schedule.is_open(CONFIG, at("2026-11-18T06:59:59+00:00"))
    assert not schedule.is_open(CONFIG, at("2026-11-18T17:00:00+00:00"))  # 18:00 closes
    assert not schedule.is_open(CONFIG, at("2026-11-21T10:00:00+00:00"))  # Saturday
    assert not schedule.is_open(CONFIG, at("2026-12-24T10:00:00+00:00"))  # holiday (Thursday)
    assert schedule.is_holiday(CONFIG, at("2026-12-24T10:00:00+00:00"))


def test_next_opening_skips_weekends_and_holidays() -> None:
    assert schedule.next_opening(CONFIG, at("2026-11-20T16:00:00+00:00")) == at("2026-11-23T07:00:00+00:00")
    assert schedule.next_opening(CONFIG, at("2026-12-23T18:00:00+00:00")) == at("2026-12-28T07:00:00+00:00")
    now = at("2026-11-18T10:00:00+00:00")
    assert schedule.next_opening(CONFIG, now) == now


def test_never_open_and_always_open() -> None:
    closed = make_config(business_hours={"mon": []})
    assert schedule.next_opening(closed, at("2026-11-18T10:00:00+00:00")) is None
    always = make_config(business_hours={})
    assert schedule.is_open(always, at("2026-11-21T03:00:00+00:00"))
    assert not schedule.is_open(always, at("2026-12-24T03:00:00+00:00"))
    assert len(schedule.slot_starts(always, date(2026, 11, 21))) == 48


def test_slot_grid_follows_each_opening_and_ends_by_close() -> None:
    config = make_config(business_hours={"wed": ["08:00-12:15", "13:00-14:00"]}, slot_minutes=30)
    starts = [
        s.astimezone(config.zone).strftime("%H:%M") for s in schedule.slot_starts(config, date(2026, 11, 18))
    ]
    assert starts == [
        "08:00",
        "08:30",
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "13:00",
        "13:30",
    ]


def test_slot_grid_across_the_spring_clock_change() -> None:
    config = make_config(business_hours={"sun": ["00:00-04:00"]}, slot_minutes=30)
    starts = [
        s.astimezone(config.zone).strftime("%H:%M") for s in schedule.slot_starts(config, date(2027, 3, 28))
    ]
    assert "02:00" not in starts and "02:30" not in starts and starts[-1] == "03:30"
    assert len(set(schedule.slot_starts(config, date(2027, 3, 28)))) == len(starts)


def test_bookable_slots_leave_out_full_past_and_far_ones() -> None:
    now = at("2026-11-18T10:00:00+00:00")  # 11:00 Prague
    start, end = schedule.visitor_day_bounds(date(2026, 11, 18), CONFIG.zone)
    full = schedule.slot_key(at("2026-11-18T15:00:00+01:00"))
    slots = schedule.bookable_slots(CONFIG, start, end, now, {full: 2})
    local = [s.start.astimezone(CONFIG.zone).strftime("%H:%M") for s in slots]
    assert local[0] == "11:30" and "15:00" not in local and local[-1] == "17:30"
    far = schedule.visitor_day_bounds(date(2026, 12, 10), CONFIG.zone)
    assert schedule.bookable_slots(CONFIG, *far, now, {}) == []


def test_later_timing_in_hours_is_capped_at_closing() -> None:
    timing = schedule.timing_for(CONFIG, "later", at("2026-11-18T16:30:00+00:00"), None)  # 17:30
    assert not timing.next_opening and timing.expected_by == at("2026-11-18T17:00:00+00:00")


WEEK = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@settings(max_examples=200, deadline=None)  # pure, but a loaded machine is slow
@given(WEEK)
def test_next_opening_is_open_and_nothing_opens_before_it(moment: datetime) -> None:
    opening = schedule.next_opening(CONFIG, moment)
    assert opening is not None and opening >= moment
    assert schedule.is_open(CONFIG, opening)
    if opening > moment:
        probe = moment
        while probe < opening:
            assert not schedule.is_open(CONFIG, probe)
            probe += timedelta(minutes=29)


@settings(max_examples=100, deadline=None)
@given(WEEK)
def test_every_listed_slot_is_acceptable_and_grid_neighbours_are_not(now: datetime) -> None:
    start, end = now, now + timedelta(days=3)
    for slot in schedule.bookable_slots(CONFIG, start, end, now, {}):
        assert schedule.schedule_problem(CONFIG, slot.start, now) is None
        assert schedule.schedule_problem(CONFIG, slot.start + timedelta(minutes=7), now) is not None
