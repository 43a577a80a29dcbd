"""Business hours, holidays and the booking grid, as pure functions over ``OperatorConfig``.

Conventions:
- Opening ranges are wall-clock times in the operator's timezone (DST handled by zoneinfo).
- An operator with no ``business_hours`` at all is open around the clock (holidays still close).
- A slot starts on the grid of its opening range (``opens + k * slot_minutes``) and must end
  by the range's close. Slot counters are keyed by the slot's UTC start (``slot_key``) and
  grouped by the operator-local day (``slot_day``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ringback.domain.callback_policy import CallbackPolicy
from ringback.domain.operator_config import WEEKDAYS, OperatorConfig

_MAX_SEARCH_DAYS = 400


@dataclass(frozen=True)
class Window:
    """One opening range on one day, as aware datetimes in the operator's zone."""

    opens: datetime
    closes: datetime


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    capacity: int
    booked: int

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)


def policy_of(config: OperatorConfig) -> CallbackPolicy:
    return config.callbacks


def _local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)


def windows_on(config: OperatorConfig, day: date) -> list[Window]:
    """The opening windows of ``day`` (operator-local date); none on a holiday."""
    if day in config.holidays:
        return []
    zone = config.zone
    if not config.business_hours:
        return [Window(_local(day, time(0, 0), zone), _local(day + timedelta(days=1), time(0, 0), zone))]
    windows = []
    for opening in config.opening_ranges(WEEKDAYS[day.weekday()]):
        opens = _local(day, opening.opens, zone)
        if opening.until_midnight:  # "24:00"
            closes = _local(day + timedelta(days=1), time(0, 0), zone)
        else:
            closes = _local(day, opening.closes, zone)
        windows.append(Window(opens, closes))
    return sorted(windows, key=lambda w: w.opens)


def is_open(config: OperatorConfig, at: datetime) -> bool:
    local = at.astimezone(config.zone)
    return any(w.opens <= local < w.closes for w in windows_on(config, local.date()))


def is_holiday(config: OperatorConfig, at: datetime) -> bool:
    return at.astimezone(config.zone).date() in config.holidays


def next_opening(config: OperatorConfig, at: datetime) -> datetime | None:
    """``at`` itself when open, else the start of the next opening window (None: never opens)."""
    local = at.astimezone(config.zone)
    for offset in range(_MAX_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for window in windows_on(config, day):
            if window.opens <= local < window.closes:
                return at
            if window.opens > local:
                return window.opens.astimezone(UTC)
    return None


def current_close(config: OperatorConfig, at: datetime) -> datetime | None:
    """When the window ``at`` falls into closes (None when closed)."""
    local = at.astimezone(config.zone)
    for window in windows_on(config, local.date()):
        if window.opens <= local < window.closes:
            return window.closes.astimezone(UTC)
    return None


def next_change(config: OperatorConfig, at: datetime, horizon: datetime) -> datetime | None:
    """The first moment after ``at`` and before ``horizon`` at which ``is_open`` or
    ``is_holiday`` differs from its value at ``at`` (None: neither changes before ``horizon``).

    Until then the status answer (open or not, closed or holiday, its next opening) stays what
    it is at ``at``: how long a computed answer holds (``domain.status_answer``). Windows that
    meet (08:00-12:00 then 12:00-18:00, or around the clock across midnight) are no change.
    """
    if is_open(config, at):  # open: never a holiday; the change is the first close not met
        cursor = at
        while (close := current_close(config, cursor)) is not None and close < horizon:
            if not is_open(config, close):
                return close
            cursor = close
        return None
    # Closed: the next opening, or an earlier local midnight where closed turns holiday or back.
    opening = next_opening(config, at)
    end = horizon if opening is None else min(opening, horizon)
    holiday = is_holiday(config, at)
    day = at.astimezone(config.zone).date()
    for offset in range(1, _MAX_SEARCH_DAYS + 1):
        midnight = _local(day + timedelta(days=offset), time(0, 0), config.zone).astimezone(UTC)
        if midnight >= end:
            break
        if is_holiday(config, midnight) != holiday:
            return midnight
    return opening if opening is not None and opening < horizon else None


def slot_starts(config: OperatorConfig, day: date) -> list[datetime]:
    """Every slot start of an operator-local ``day`` (UTC, ascending)."""
    step = timedelta(minutes=config.slot_minutes)
    zone = config.zone
    starts: list[datetime] = []
    for window in windows_on(config, day):
        # Walk the wall clock so a DST change keeps slots on the local grid.
        cursor = window.opens.replace(tzinfo=None)
        end = window.closes.astimezone(zone).replace(tzinfo=None)
        if window.closes.date() > day:
            end = datetime.combine(day + timedelta(days=1), time(0, 0))
        while cursor + step <= end:
            aware = cursor.replace(tzinfo=zone)
            # Skip wall-clock times that do not exist (spring-forward gap).
            if datetime.fromtimestamp(aware.timestamp(), zone).replace(tzinfo=None) == cursor:
                starts.append(aware.astimezone(UTC))
            cursor += step
    return sorted(set(starts))


def slot_day(config: OperatorConfig, start: datetime) -> str:
    return start.astimezone(config.zone).date().isoformat()


def slot_key(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def booking_bounds(config: OperatorConfig, now: datetime) -> tuple[datetime, datetime]:
    """The earliest and latest bookable slot starts (lead time; booking horizon)."""
    policy = config.callbacks
    earliest = now + timedelta(minutes=policy.booking_lead_minutes)
    latest = now + timedelta(days=config.booking_horizon_days)
    return earliest, latest


def schedule_problem(config: OperatorConfig, at: datetime, now: datetime) -> str | None:
    """Why ``at`` cannot be booked (capacity aside), in words for the visitor; None when it can."""
    earliest, latest = booking_bounds(config, now)
    zone = config.zone
    local = at.astimezone(zone)
    if at <= now:
        return "is in the past"
    if at < earliest:
        return f"is too soon: book at least {config.callbacks.booking_lead_minutes} minutes ahead"
    if at > latest:
        return f"is more than {config.booking_horizon_days} days ahead"
    day = local.date()
    if day in config.holidays:
        return f"is on a holiday ({day.isoformat()}); we are closed that day"
    if not is_open(config, at):
        return f"is outside our business hours ({_hours_text(config, day)}, {zone.key})"
    if at.astimezone(UTC) not in slot_starts(config, day):
        return (
            f"is not on the {config.slot_minutes}-minute slot grid "
            f"(for example {_grid_example(config, day)}); pick a listed slot"
        )
    return None


def _hours_text(config: OperatorConfig, day: date) -> str:
    windows = windows_on(config, day)
    if not windows:
        return f"closed on {WEEKDAYS[day.weekday()]}"
    return ", ".join(f"{w.opens:%H:%M}-{_closing_text(w)}" for w in windows)


def _closing_text(window: Window) -> str:
    """A window closing at the next midnight closes at 24:00 of its own day."""
    midnight = window.closes.date() > window.opens.date() and window.closes.time() == time(0)
    return "24:00" if midnight else f"{window.closes:%H:%M}"


def _grid_example(config: OperatorConfig, day: date) -> str:
    starts = slot_starts(config, day)[:2]
    return ", ".join(s.astimezone(config.zone).strftime("%H:%M") for s in starts) or "none"


def operator_days(config: OperatorConfig, start: datetime, end: datetime) -> list[date]:
    """Operator-local days overlapping [start, end)."""
    first = start.astimezone(config.zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(config.zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def bookable_slots(
    config: OperatorConfig, start: datetime, end: datetime, now: datetime, booked: Mapping[str, int]
) -> list[Slot]:
    """Slots starting in [start, end) a visitor may book now: in bounds and not full.

    ``booked`` maps ``slot_key`` to the number of callbacks already booked in that slot.
    """
    earliest, latest = booking_bounds(config, now)
    step = timedelta(minutes=config.slot_minutes)
    slots = []
    for day in operator_days(config, start, end):
        for slot_start in slot_starts(config, day):
            if not (start <= slot_start < end and earliest <= slot_start <= latest):
                continue
            taken = booked.get(slot_key(slot_start), 0)
            if taken >= config.slot_capacity:
                continue
            slots.append(Slot(slot_start, slot_start + step, config.slot_capacity, taken))
    return slots


def visitor_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of ``day`` in the visitor's zone, as UTC."""
    start = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone).astimezone(UTC)
    return start, end


@dataclass(frozen=True)
class CallTiming:
    """When a request will be dialled and what the visitor is told."""

    due_at: datetime
    expected_by: datetime
    next_opening: bool
    expire_at: datetime


def timing_for(config: OperatorConfig, mode: str, now: datetime, scheduled: datetime | None) -> CallTiming:
    """Due time, expected window and member expiry for a request made at ``now``.

    ``now``/``later`` out of hours are due at the next opening (``next_opening`` = True);
    ``scheduled`` is due at its slot. A config that never opens keeps the request due now (it
    is stored and visible, and the operator sees it pending) rather than inventing a time.
    """
    policy = config.callbacks
    if mode == "scheduled" and scheduled is not None:
        end = scheduled + timedelta(minutes=config.slot_minutes)
        return CallTiming(scheduled, end, False, end + timedelta(minutes=policy.scheduled_grace_minutes))
    opening = next_opening(config, now)
    due = opening if opening is not None else now
    out_of_hours = opening is not None and opening > now
    target = timedelta(minutes=policy.later_target_minutes if mode == "later" else 15)
    expected_by = due + target
    close = current_close(config, due)
    if close is not None and expected_by > close > due:
        expected_by = close
    return CallTiming(due, expected_by, out_of_hours, due + timedelta(hours=policy.member_ttl_hours))
