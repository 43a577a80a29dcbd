from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devstack.schedules import Cron, ScheduleError, Trigger
from devstack.template import Schedule

pytestmark = pytest.mark.unit


def test_eventbridge_cron_with_increments_ranges_and_day_names() -> None:
    cron = Cron.parse("0/15 7-19 ? * MON-SAT *")
    assert cron.matches(datetime(2026, 11, 23, 7, 45))  # a Monday
    assert not cron.matches(datetime(2026, 11, 23, 7, 50))
    assert not cron.matches(datetime(2026, 11, 23, 20, 0))
    assert not cron.matches(datetime(2026, 11, 22, 8, 0))  # a Sunday


def test_cron_next_fire_respects_the_schedule_timezone() -> None:
    trigger = Trigger(
        Schedule("s", "f", "cron(0 8 * * ? *)", None, "Europe/Prague"),
        datetime(2026, 11, 23, 6, 30, tzinfo=UTC),
    )
    assert trigger.next_at == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Prague (CET)
    trigger.advance()
    assert trigger.next_at == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


def test_rate_expressions() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    trigger = Trigger(Schedule("s", "f", "rate(5 minutes)", None, None), start)
    assert (trigger.next_at - start).total_seconds() == 300


@pytest.mark.parametrize(
    "expression", ["rate(1 fortnight)", "cron(0 8 * *)", "cron(0 8 L * ? *)", "at(2026-01-01)"]
)
def test_unsupported_expressions_fail_loudly(expression: str) -> None:
    with pytest.raises(ScheduleError):
        Trigger(Schedule("s", "f", expression, None, None), datetime(2026, 1, 1, tzinfo=UTC))
