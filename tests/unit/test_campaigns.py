"""Debtor campaign CSV: parsing, bad rows, merges, do-not-call, timezones and calling windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.webitel_sandbox import validation
from ringback.domain.campaigns import (
    CallingWindow,
    check_header,
    entry_id_for,
    zones_for_number,
)
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import ID_TAG, OutboxState
from ringback.domain.webitel import BulkMembersRequest
from ringback.services.campaign_import import (
    ImportSettings,
    decoded_lines,
    import_campaign_csv,
    import_dnc_csv,
)
from ringback.services.dialer_upload import run_upload
from tests.unit.dialer_fakes import FakeClock, FakeWebitel, MemoryDnc, MemoryOutbox, MemoryReceipts

pytestmark = pytest.mark.unit

CONFIG = OperatorConfig(callback_queue_id="1", debtor_queue_id="2", communication_type_id="3")
HEADER = "name,phone,phone2,debt_amount,debt_currency,timezone,bucket,expire_at,priority,var_contract\n"


def run_import(
    text: str,
    outbox: MemoryOutbox | None = None,
    *,
    file_name: str = "march.csv",
    dnc: MemoryDnc | None = None,
    clock: FakeClock | None = None,
    **kwargs: object,
):
    outbox = outbox if outbox is not None else MemoryOutbox()
    report = import_campaign_csv(
        text.splitlines(keepends=True),
        file_name,
        outbox,
        clock or FakeClock(),
        CONFIG,
        dnc=dnc,
        settings=ImportSettings(**kwargs),
    )  # type: ignore[arg-type]
    return report, outbox


def only(outbox: MemoryOutbox):
    (entry,) = outbox.entries.values()
    return entry


def test_a_good_row_becomes_a_member_on_the_webitel_contract() -> None:
    report, outbox = run_import(
        HEADER + "Jan Novák,777 666 555,+420 602 111 222,12500.5,CZK,,7,2026-12-31,5,C-1\n"
    )
    assert report.receipt.total("imported") == 1 and not report.bad_rows
    entry = only(outbox)
    member = entry.member
    assert entry.queue_id == "2" and entry.source == "campaign" and entry.line == 2
    assert entry.entry_id == entry_id_for("2", "", "+420777666555")
    assert [c.destination for c in member.communications] == ["+420777666555", "+420602111222"]
    assert all(c.type.id == "3" for c in member.communications)
    assert member.communications[0].priority > member.communications[1].priority
    assert member.communications[0].description == "primary"
    assert member.bucket is not None and member.bucket.id == "7"
    assert member.priority == 5
    assert member.variables[ID_TAG] == entry.entry_id
    assert member.variables["debt_amount"] == "12500.50" and member.variables["debt_currency"] == "CZK"
    assert member.variables["contract"] == "C-1"
    assert member.variables["ringback_tz"] == "Europe/Prague"
    assert member.variables["ringback_window"] == "mon,tue,wed,thu,fri,sat 08:00-20:00"
    # A date expiry means the end of that day in the member's timezone, as epoch ms.
    end = datetime(2027, 1, 1, tzinfo=ZoneInfo("Europe/Prague"))
    assert member.expire_at == str(int(end.timestamp() * 1000))
    assert entry.expires_at == end
    wire = BulkMembersRequest(items=[member], file_name="march.csv").to_wire()
    assert all(isinstance(v, str) for v in wire["items"][0]["variables"].values())
    validation.validate_body(validation.BULK_MEMBERS, wire)


def test_every_bad_row_is_reported_with_line_and_reason_and_the_rest_imported() -> None:
    rows = [
        "Ok One,777666555,,,,,,,,",  # 2 ok
        ",777666556,,,,,,,,",  # 3 no name
        "Bad Phone,12,,,,,,,,",  # 4 impossible phone
        "Bad Zone,777666557,,,,Mars/Olympus,,,,",  # 5 bad timezone
        "Bad Amount,777666558,,12x,CZK,,,,,",  # 6 bad amount
        "No Currency,777666559,,100,,,,,,",  # 7 amount without currency
        "Old,777666560,,,,,,2020-01-01,,",  # 8 expired
        "Bad Prio,777666561,,,,,,,high,",  # 9 priority
        "Bad Bucket,777666562,,,,,x1,,,",  # 10 bucket id
        "Premium,900123456,,,,,,,,",  # 11 premium-rate number
        "Too,777666563,,,,,,,,,extra",  # 12 more values than columns
        "Ok Two,+421 905 123 456,,,,,,,,",  # 13 ok (Slovakia)
    ]
    report, outbox = run_import(HEADER + "\n".join(rows) + "\n")
    reasons = {p.line: p.reason for p in report.bad_rows}
    assert sorted(reasons) == list(range(3, 13))
    assert reasons[3].startswith("name:")
    assert reasons[4].startswith("phone:")
    assert reasons[5].startswith("timezone:") and "Mars/Olympus" in reasons[5]
    assert reasons[6].startswith("debt_amount:")
    assert reasons[7].startswith("debt_currency:")
    assert reasons[8] == "expire_at: already in the past"
    assert reasons[9].startswith("priority:")
    assert reasons[10].startswith("bucket:")
    assert reasons[11].startswith("phone:")
    assert "more values" in reasons[12]
    assert report.receipt.total("imported") == 2 and report.receipt.total("bad_rows") == 10
    assert len(outbox.entries) == 2


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("name,phnoe\n", "unknown column 'phnoe'"),
        ("name,phone,phone\n", "appears twice"),
        ("phone\n", "no 'name' column"),
        ("name,debt_amount\n", "no 'phone'"),
    ],
)
def test_a_wrong_column_is_a_file_problem_and_nothing_is_imported(header: str, problem: str) -> None:
    report, outbox = run_import(header + "A,777666555\n")
    assert any(problem in text for text in report.receipt.file_problems)
    assert outbox.entries == {}


def test_empty_and_non_utf8_files_are_reported_not_crashed() -> None:
    report, _ = run_import("")
    assert report.receipt.file_problems == ["the file is empty (a header row is required)"]
    raw = HEADER.encode() + "Jiří,777666555,,,,,,,,\n".encode("cp1250") + b"Ok,777666556,,,,,,,,\n"
    outbox = MemoryOutbox()
    report = import_campaign_csv(decoded_lines([raw[:17], raw[17:]]), "x.csv", outbox, FakeClock(), CONFIG)
    assert [(p.line, p.reason) for p in report.bad_rows] == [(2, "not UTF-8 text; save the file as UTF-8")]
    assert len(outbox.entries) == 1


def test_semicolon_separated_excel_export_with_bom() -> None:
    text = "\ufeffName;Phone;Debt Amount;Debt Currency\nEva;777666555;1 234,50;EUR\n"
    report, outbox = run_import(text)
    assert report.receipt.total("imported") == 1
    assert only(outbox).member.variables["debt_amount"] == "1234.50"


def test_duplicates_within_a_file_are_merged() -> None:
    text = (
        HEADER
        + "\n".join(
            [
                "Jan,777666555,,100,CZK,,,2026-12-01,1,",
                "Jan Novak,+420777666555,602111222,150,CZK,,,2026-12-31,3,",
                "Jan N.,00420 777 666 555,,,,,,2026-12-15,2,",
            ]
        )
        + "\n"
    )
    report, outbox = run_import(text)
    assert report.receipt.total("imported") == 1 and report.receipt.total("duplicates_merged") == 2
    member = only(outbox).member
    assert [c.destination for c in member.communications] == ["+420777666555", "+420602111222"]
    assert member.name == "Jan N."  # the later row's values win
    assert member.priority == 3  # the higher priority wins
    assert member.variables["debt_amount"] == "150.00"  # kept from the row that had it
    assert only(outbox).line == 2


def test_duplicates_across_chunks_and_files_are_merged() -> None:
    rows = [f"P{n},777{n:06d},,,,,,,," for n in range(150)]
    _, outbox = run_import(HEADER + "\n".join(rows) + "\n", chunk_size=20)
    assert len(outbox.entries) == 150
    report, outbox = run_import(HEADER + "P7,777000007,602111222,,,,,,,\n", outbox, file_name="april.csv")
    assert report.receipt.total("duplicates_merged") == 1 and report.receipt.total("imported") == 0
    merged = outbox.entries[entry_id_for("2", "", "+420777000007")]
    assert len(merged.member.communications) == 2
    assert merged.file_name == "march.csv"


def test_a_duplicate_of_a_delivered_member_is_not_sent_again() -> None:
    clock, webitel = FakeClock(), FakeWebitel()
    _, outbox = run_import(HEADER + "Jan,777666555,,,,,,,,\n", clock=clock)
    run_upload("campaigns", outbox, webitel, clock, CONFIG, "a")
    report, _ = run_import(HEADER + "Jan,777666555,,,,,,,,\n", outbox, clock=clock)
    assert report.receipt.total("duplicates_skipped") == 1
    run_upload("campaigns", outbox, webitel, clock, CONFIG, "a")
    assert len(webitel.members) == 1


def test_a_rejected_row_fixed_and_uploaded_again_is_re_driven() -> None:
    clock, webitel = FakeClock(), FakeWebitel()
    _, outbox = run_import(HEADER + "Jan,777666555,,,,,9,,,\n", clock=clock)
    webitel.invalid = {"+420777666555"}
    run_upload("campaigns", outbox, webitel, clock, CONFIG, "a")
    assert only(outbox).state == OutboxState.REJECTED
    webitel.invalid = set()
    report, _ = run_import(HEADER + "Jan,777666555,,,,,8,,,\n", outbox, clock=clock)
    assert report.receipt.total("imported") == 1
    assert only(outbox).state == OutboxState.PENDING and only(outbox).member.bucket.id == "8"
    run_upload("campaigns", outbox, webitel, clock, CONFIG, "a")
    assert only(outbox).state == OutboxState.DELIVERED


def test_campaign_key_scopes_identity() -> None:
    text = (
        "name,phone,key,campaign\nA,777666555,acct-1,2026-11\nB,777666555,acct-2,2026-11\n"
        "A,777666555,acct-1,2026-12\n"
    )
    report, outbox = run_import(text)
    assert report.receipt.total("imported") == 3
    assert {e.source_id for e in outbox.entries.values()} == {
        "2026-11:acct-1",
        "2026-11:acct-2",
        "2026-12:acct-1",
    }


def test_do_not_call_at_import() -> None:
    dnc = MemoryDnc(["+420777666555", "+420602111222"])
    text = HEADER + "All Blocked,777666555,,,,,,,,\nOne Blocked,777666556,602111222,,,,,,,\n"
    report, outbox = run_import(text, dnc=dnc)
    assert report.receipt.total("dnc_suppressed") == 1 and report.receipt.total("imported") == 1
    assert [c.destination for c in only(outbox).member.communications] == ["+420777666556"]
    assert any(p.line == 2 and "do-not-call" in p.reason for p in report.receipt.groups[0].problems)


def test_dnc_file_import_adds_and_removes_and_reports_bad_rows() -> None:
    dnc = MemoryDnc(["+420602111222"])
    text = "phone,reason,action\n777666555,asked,\n602111222,,remove\nnot-a-phone,,\n777666556,,delete\n"
    report = import_dnc_csv(
        text.splitlines(keepends=True), "dnc.csv", dnc, FakeClock(), receipts=MemoryReceipts()
    )
    assert set(dnc.numbers) == {"+420777666555"}
    assert [(p.line, p.reason.split(":")[0]) for p in report.bad_rows] == [(4, "phone"), (5, "action")]
    assert report.receipt.total("dnc_added") == 1 and report.receipt.total("dnc_removed") == 1


def test_timezone_is_derived_from_the_number_when_missing() -> None:
    assert zones_for_number("+12125551234", "Europe/Prague") == ["America/New_York"]
    assert zones_for_number("+447700900123", "Europe/Prague") == ["Europe/Prague"]  # unknown -> default
    text = "name,phone\nNY,+1 212 555 1234\n"
    _, outbox = run_import(text)
    assert only(outbox).member.variables["ringback_tz"] == "America/New_York"


def test_a_timezone_id_map_sets_webitels_lookup() -> None:
    _, outbox = run_import("name,phone\nA,777666555\n", timezone_ids={"Europe/Prague": "42"})
    assert only(outbox).member.timezone is not None and only(outbox).member.timezone.id == "42"


def test_number_spanning_zones_too_far_apart_is_reported() -> None:
    # A Russian mobile may be anywhere from Kaliningrad to Kamchatka: no common 2-hour window.
    report, _ = run_import("name,phone,calling_window\nA,+7 916 123 45 67,mon-fri 09:00-11:00\n")
    assert report.bad_rows and "timezone" in report.bad_rows[0].reason


def test_calling_window_rules() -> None:
    window = CallingWindow.parse("mon-fri 09:00-18:00")
    prague = [ZoneInfo("Europe/Prague")]
    monday_10 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # 10:00 in Prague
    assert window.is_open(monday_10, prague)
    friday_night = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 19:00 Friday
    assert not window.is_open(friday_night, prague)
    assert window.next_opening(friday_night, prague) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    both = [ZoneInfo("Europe/Prague"), ZoneInfo("Europe/London")]
    # Opens when it is 09:00 in London = 10:00 in Prague.
    assert window.next_opening(friday_night, both) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert CallingWindow.parse("sat-mon 10:00-12:00").days == {"sat", "sun", "mon"}
    with pytest.raises(ValueError, match="weekday"):
        CallingWindow.parse("mon-xyz 10:00-12:00")
    with pytest.raises(ValueError, match="calling window"):
        CallingWindow.parse("10:00-12:00")


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)),
    st.lists(
        st.sampled_from(
            ["Europe/Prague", "America/New_York", "Asia/Tokyo", "Europe/London", "America/Los_Angeles"]
        ),
        min_size=1,
        max_size=2,
        unique=True,
    ),
)
def test_next_opening_is_open_and_nothing_earlier_is(moment: datetime, names: list[str]) -> None:
    window = CallingWindow.parse("mon-sat 08:00-20:00")
    zones = [ZoneInfo(name) for name in names]
    opening = window.next_opening(moment, zones)
    assert opening is not None and opening >= moment
    assert window.is_open(opening, zones)
    probe = moment
    while probe < opening:
        assert not window.is_open(probe, zones)
        probe += timedelta(minutes=30)


def test_expiry_and_windows_in_check_header_are_consistent() -> None:
    assert check_header(["Name", "Phone 2", "var_x", "Expiry"]) == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(0, 9)), min_size=1, max_size=25),
    st.integers(1, 7),
)
def test_any_order_and_chunking_of_duplicate_rows_gives_the_same_members(
    rows: list[tuple[int, int, int]], chunk: int
) -> None:
    lines = [f"P{who},777{who:06d},602{extra:06d},,,,,,{prio}," for who, extra, prio in rows]
    forward, _ = run_import(HEADER + "\n".join(lines) + "\n", chunk_size=chunk)
    outbox_a = run_import(HEADER + "\n".join(lines) + "\n", chunk_size=chunk)[1]
    outbox_b = run_import(HEADER + "\n".join(reversed(lines)) + "\n", chunk_size=max(1, chunk - 1))[1]

    def shape(outbox: MemoryOutbox) -> dict[str, tuple[frozenset[str], int]]:
        return {
            e.entry_id: (frozenset(c.destination for c in e.member.communications), e.member.priority)
            for e in outbox.entries.values()
        }

    assert shape(outbox_a) == shape(outbox_b)
    assert len(outbox_a.entries) == len({who for who, _, _ in rows})
    totals = forward.receipt.totals()
    assert totals.get("imported", 0) + totals.get("duplicates_merged", 0) == len(rows)


def test_the_demo_campaigns_refused_rows_are_exactly_the_ones_the_stack_calls_deliberate() -> None:
    # `make run` labels each refused row of the demo file; a row added to the file (or a rule
    # that starts refusing a good row) must not be reported as a deliberate example by mistake.
    from devstack.stack import DELIBERATE_DEMO_ROWS

    demo = Path(__file__).resolve().parents[2] / "devstack" / "demo" / "campaign.csv"
    report, outbox = run_import(demo.read_text(encoding="utf-8"), file_name="campaign.csv")
    assert {problem.line for problem in report.bad_rows} == DELIBERATE_DEMO_ROWS
    assert outbox.entries  # the good rows are imported
