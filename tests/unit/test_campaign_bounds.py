"""Campaign rows Webitel would refuse are refused at import, per row and naming the column;
a ``24:00`` calling window is open to the end of the day on the whole path."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from devstack.webitel_sandbox import validation
from ringback.domain.campaigns import CallingWindow, entry_window
from ringback.domain.operator_config import END_OF_DAY, OperatorConfig, parse_range
from ringback.domain.outbox import OutboxState
from ringback.domain.schedule import is_open, schedule_problem, windows_on
from ringback.domain.webitel import MAX_EPOCH_MS, BulkMembersRequest, epoch_ms
from ringback.services.dialer_upload import run_upload
from tests.unit.dialer_fakes import FakeClock, FakeWebitel
from tests.unit.test_campaigns import CONFIG, only, run_import

pytestmark = pytest.mark.unit

HEADER = "name,phone,timezone,expire_at,not_before,calling_window\n"
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # FakeClock's start
PRAGUE = ZoneInfo("Europe/Prague")


def row(expire_at: str = "", not_before: str = "", window: str = "") -> str:
    return HEADER + f"Jan,777666555,Europe/Prague,{expire_at},{not_before},{window}\n"


def reason_of(text: str, **settings: object) -> str:
    report, outbox = run_import(text, clock=FakeClock(NOW), **settings)
    assert not outbox.entries, "a refused row must not reach the outbox"
    (problem,) = report.bad_rows
    return problem.reason


@pytest.mark.parametrize(
    ("expire_at", "not_before", "column", "words"),
    [
        ("6000-01-01", "", "expire_at", "more than 365 days ahead"),
        ("2027-11-19T10:00:00Z", "", "expire_at", "more than 365 days ahead"),
        ("2020-01-01", "", "expire_at", "already in the past"),
        ("", "1999-05-01T08:00:00Z", "not_before", "more than a day in the past"),
        ("", "2026-11-17T09:59:00Z", "not_before", "more than a day in the past"),
        ("2027-06-01", "2028-01-01T08:00:00Z", "not_before", "more than 365 days ahead"),
        ("2026-12-01", "2026-12-02T08:00:00+01:00", "not_before", "not before expire_at"),
        ("9999-99-99", "", "expire_at", "is not a date"),
        ("", "10000-01-01T00:00:00", "not_before", "not an ISO 8601"),
    ],
)
def test_times_webitel_would_refuse_are_refused_per_row_naming_the_column(
    expire_at: str, not_before: str, column: str, words: str
) -> None:
    reason = reason_of(row(expire_at, not_before))
    assert reason.startswith(f"{column}:") and words in reason, reason


def test_the_horizon_is_configurable() -> None:
    assert "more than 30 days" in reason_of(row("2027-01-01"), time_horizon_days=30)
    report, outbox = run_import(row("2029-01-01"), clock=FakeClock(NOW), time_horizon_days=1000)
    assert not report.bad_rows and len(outbox.entries) == 1


def test_a_past_not_before_is_sent_as_no_min_offering_at_and_a_future_one_as_epoch_ms() -> None:
    _, outbox = run_import(row(not_before="2026-11-17T12:00:00Z"), clock=FakeClock(NOW))
    entry = only(outbox)
    assert entry.member.min_offering_at is None and entry.due_at == NOW
    wire = BulkMembersRequest(items=[entry.member], file_name="f.csv").to_wire()
    assert "min_offering_at" not in wire["items"][0]
    validation.validate_body(validation.BULK_MEMBERS, wire)

    later = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    _, outbox = run_import(row(not_before=later.isoformat()), clock=FakeClock(NOW))
    member = only(outbox).member
    assert member.min_offering_at == str(int(later.timestamp() * 1000))
    assert member.expire_at is not None and 0 < int(member.expire_at) <= MAX_EPOCH_MS


def test_epoch_ms_stays_inside_what_webitels_engine_can_hold() -> None:
    # engine model/call.go Int64ToTime: time.Unix(0, ms * 1e6) -> the last representable ms.
    assert MAX_EPOCH_MS == 9_223_372_036_854
    assert epoch_ms(datetime(2262, 4, 11, 23, 47, 16, 854000, tzinfo=UTC)) == str(MAX_EPOCH_MS)
    with pytest.raises(ValueError, match="outside"):
        epoch_ms(datetime(2262, 4, 11, 23, 47, 16, 855000, tzinfo=UTC))
    with pytest.raises(ValueError, match="outside"):
        epoch_ms(datetime(1969, 12, 31, tzinfo=UTC))


def test_24_00_is_the_end_of_the_day_and_nothing_else_past_23_59_parses() -> None:
    assert parse_range("00:00-24:00").until_midnight
    assert parse_range("00:00-24:00").closes == END_OF_DAY
    assert not parse_range("08:00-23:59").until_midnight
    for text in ("08:00-24:30", "08:00-24:01", "24:00-24:00", "08:00-25:00"):
        with pytest.raises(ValueError):
            parse_range(text)


def test_a_24_hour_calling_window_is_open_in_its_last_minute_through_the_whole_path() -> None:
    # parse -> store (the member's ringback_window variable) -> read back by the uploader.
    _, outbox = run_import(row(window="mon-sun 00:00-24:00"), clock=FakeClock(NOW))
    entry = only(outbox)
    assert entry.member.variables["ringback_window"] == "mon,tue,wed,thu,fri,sat,sun 00:00-24:00"
    window, zones = entry_window(entry) or pytest.fail("the entry lost its window")
    last_minute = datetime(2026, 11, 18, 23, 59, 30, tzinfo=PRAGUE)
    last_instant = datetime(2026, 11, 18, 23, 59, 59, 999999, tzinfo=PRAGUE)
    assert window.is_open(last_minute, zones) and window.is_open(last_instant, zones)
    assert window.next_opening(last_minute, zones) == last_minute
    # An evening window ending at 24:00 is closed before it opens and open to midnight.
    evening = CallingWindow.parse("mon-fri 18:00-24:00")
    assert evening.spec() == "mon,tue,wed,thu,fri 18:00-24:00"
    assert CallingWindow.parse(evening.spec()) == evening
    wednesday = datetime(2026, 11, 18, 23, 59, 45, tzinfo=PRAGUE)
    assert evening.is_open(wednesday, [PRAGUE])
    assert not evening.is_open(wednesday.replace(hour=17), [PRAGUE])
    assert not evening.is_open(datetime(2026, 11, 21, 23, 59, 45, tzinfo=PRAGUE), [PRAGUE])  # Saturday

    # The uploader sends it in its last minute instead of deferring it to the next day.
    clock = FakeClock(last_minute.astimezone(UTC))
    webitel = FakeWebitel()
    _, outbox = run_import(row(window="mon-sun 00:00-24:00"), clock=clock)
    run_upload("campaigns", outbox, webitel, clock, CONFIG, "a")
    assert only(outbox).state == OutboxState.DELIVERED and len(webitel.members) == 1
    sent = next(iter(webitel.members.values()))
    assert sent.variables["ringback_window"].endswith("00:00-24:00")


def test_business_hours_to_24_00_are_open_in_the_last_minute_and_bookable() -> None:
    config = OperatorConfig(business_hours={"wed": ["20:00-24:00"]}, slot_minutes=30, booking_horizon_days=30)
    (window,) = windows_on(config, datetime(2026, 11, 18).date())
    assert window.closes == datetime(2026, 11, 19, 0, 0, tzinfo=PRAGUE)
    assert is_open(config, datetime(2026, 11, 18, 23, 59, 59, tzinfo=PRAGUE))
    assert not is_open(config, datetime(2026, 11, 19, 0, 0, tzinfo=PRAGUE))
    last_slot = datetime(2026, 11, 18, 23, 30, tzinfo=PRAGUE)
    assert schedule_problem(config, last_slot, NOW) is None
    problem = schedule_problem(config, datetime(2026, 11, 18, 19, 0, tzinfo=PRAGUE), NOW)
    assert problem is not None and "20:00-24:00" in problem
