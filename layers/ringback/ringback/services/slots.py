"""``GET /v1/callbacks/slots``: the bookable slots of one or more days in the visitor's zone.

Only slots a visitor may book are listed: inside business hours, not on a holiday, after the
booking lead time, within the booking horizon, and not full.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

from ringback.domain import schedule
from ringback.domain.errors import FieldProblem, Unprocessable
from ringback.ports.callbacks import CallbackRepository
from ringback.ports.clock import Clock
from ringback.ports.operator_config import OperatorConfigSource

MAX_DAYS = 31


class SlotView(BaseModel):
    start: datetime
    end: datetime
    remaining: int


class DaySlots(BaseModel):
    date: date
    slots: list[SlotView]


class SlotsAnswer(BaseModel):
    timezone: str
    operator_timezone: str
    slot_minutes: int
    booking_horizon_days: int
    days: list[DaySlots]


def list_slots(
    config_source: OperatorConfigSource,
    repo: CallbackRepository,
    clock: Clock,
    *,
    day: date | None,
    tz: str | None,
    days: int = 1,
) -> SlotsAnswer:
    config = config_source.load()
    problems = []
    zone = config.zone
    if tz:
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(FieldProblem("tz", f"'{tz[:64]}' is not an IANA timezone like Europe/Prague"))
    if not 1 <= days <= MAX_DAYS:
        problems.append(FieldProblem("days", f"must be between 1 and {MAX_DAYS}"))
    now = clock.now()
    first = day or now.astimezone(zone).date()
    # Dates far from today have no slots; refusing them also keeps day arithmetic in range.
    today = now.astimezone(zone).date()
    if abs((first - today).days) > 366:
        problems.append(FieldProblem("date", "must be within a year of today"))
    if problems:
        raise Unprocessable("some parameters are not valid", fields=tuple(problems))
    start, _ = schedule.visitor_day_bounds(first, zone)
    _, end = schedule.visitor_day_bounds(first + timedelta(days=days - 1), zone)
    booked: dict[str, int] = {}
    horizon_end = now + timedelta(days=config.booking_horizon_days + 1)
    if end > now and start < horizon_end:
        operator_days = schedule.operator_days(config, max(start, now), min(end, horizon_end))
        booked = repo.slot_counts([d.isoformat() for d in operator_days])
    slots = schedule.bookable_slots(config, start, end, now, booked)
    by_day: dict[date, list[SlotView]] = {first + timedelta(days=i): [] for i in range(days)}
    for slot in slots:
        local_start = slot.start.astimezone(zone)
        by_day.setdefault(local_start.date(), []).append(
            SlotView(start=local_start, end=slot.end.astimezone(zone), remaining=slot.remaining)
        )
    return SlotsAnswer(
        timezone=zone.key,
        operator_timezone=config.timezone,
        slot_minutes=config.slot_minutes,
        booking_horizon_days=config.booking_horizon_days,
        days=[DaySlots(date=d, slots=s) for d, s in sorted(by_day.items())],
    )
