"""EventBridge Scheduler, locally: rate() and cron() expressions from template.yaml.

Cron follows EventBridge's six fields (minutes hours day-of-month month day-of-week year) with
``*``, ``?``, lists, ranges, ``/`` increments and day names; day-of-week 1-7 is SUN-SAT.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from devstack.template import Schedule

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


class ScheduleError(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    if text in ("*", "?"):
        return frozenset(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleError(f"'{text}' is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    if not upper.isdigit():
        raise ScheduleError(f"unsupported cron token '{text}' (L, W and # are not emulated locally)")
    return int(upper)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 1 = Sunday
    years: frozenset[int]

    @classmethod
    def parse(cls, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleError(f"cron needs 6 fields, got {len(fields)}: '{body}'")
        return cls(
            _field(fields[0], 0, 59),
            _field(fields[1], 0, 23),
            _field(fields[2], 1, 31),
            _field(fields[3], 1, 12, _MONTHS),
            _field(fields[4], 1, 7, _DAYS),
            _field(fields[5], 1970, 2199),
        )

    def matches(self, moment: datetime) -> bool:
        weekday = (moment.isoweekday() % 7) + 1  # Monday=2 ... Sunday=1
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.day in self.days
            and moment.month in self.months
            and weekday in self.weekdays
            and moment.year in self.years
        )


class Trigger:
    """When one schedule fires next."""

    def __init__(self, schedule: Schedule, started: datetime) -> None:
        self.schedule = schedule
        self._zone = ZoneInfo(schedule.timezone) if schedule.timezone else UTC
        rate, cron = _RATE.match(schedule.expression), _CRON.match(schedule.expression)
        if rate:
            unit = rate.group(2).rstrip("s")
            self._every = timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[unit])
            self._cron: Cron | None = None
            self.next_at = started + self._every
        elif cron:
            self._cron = Cron.parse(cron.group(1))
            self.next_at = self._next_cron(started)
        else:
            raise ScheduleError(f"unsupported schedule expression '{schedule.expression}'")

    def _next_cron(self, after: datetime) -> datetime:
        assert self._cron is not None
        moment = after.astimezone(self._zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(60 * 24 * 366):
            if self._cron.matches(moment):
                return moment.astimezone(UTC)
            moment += timedelta(minutes=1)
        raise ScheduleError(f"'{self.schedule.expression}' never fires within a year")

    def advance(self) -> None:
        self.next_at = self.next_at + self._every if self._cron is None else self._next_cron(self.next_at)


class LocalScheduler:
    def __init__(self, schedules: list[Schedule], fire: Callable[[Schedule], object]) -> None:
        now = datetime.now(UTC)
        self.triggers = {s.name: Trigger(s, now) for s in schedules}
        self._fire = fire
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def fire(self, name: str) -> object:
        if name not in self.triggers:
            raise KeyError(name)
        return self._fire(self.triggers[name].schedule)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            for trigger in self.triggers.values():
                if trigger.next_at <= now:
                    trigger.advance()
                    threading.Thread(target=self._fire, args=(trigger.schedule,), daemon=True).start()
            wait = min((t.next_at for t in self.triggers.values()), default=now + timedelta(minutes=1)) - now
            self._stop.wait(max(0.2, min(wait.total_seconds(), 30)))


def schedule_event(schedule: Schedule) -> object:
    """What the target receives: the schedule's Input as JSON (EventBridge Scheduler semantics)."""
    return json.loads(schedule.input) if schedule.input else {}
