"""The operator console, pure parts and service: board, service level, session, CSRF, charts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain import console as c
from ringback.domain.console_charts import grouped_bars
from ringback.domain.errors import Forbidden, Unauthorized, Unprocessable
from ringback.domain.events import console_rows as rows
from ringback.domain.events.attempts import attempt_records, attempts_pk
from ringback.domain.events.envelope import EventSource
from ringback.domain.events.webitel import WebitelEvent
from ringback.domain.outbox import OutboxEntry, OutboxState
from ringback.domain.receipts import Problem, Receipt
from ringback.domain.webitel import MemberItem
from ringback.ports.console import ConsoleSnapshot
from ringback.services.console import ConsoleAccess, ConsoleData
from ringback.services.ingest import to_logged
from ringback.services.projector import Projector
from tests.unit.dialer_fakes import MemoryReceipts
from tests.unit.events_fakes import FakeCallbacks, FakeProjections, FixedClock

pytestmark = pytest.mark.unit
ZONE = ZoneInfo("Europe/Prague")
NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 15:00 in Prague


def iso(moment: datetime) -> str:
    return moment.isoformat()


def request(
    callback_id: str,
    status: str = "received",
    *,
    created: timedelta = timedelta(minutes=-10),
    due: timedelta = timedelta(minutes=-5),
    window: tuple[timedelta, timedelta] = (timedelta(0), timedelta(minutes=30)),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": callback_id,
        "status": status,
        "created_at": iso(NOW + created),
        "due_at": iso(NOW + due),
        "expected_call_at": iso(NOW + window[0]),
        "expected_call_by": iso(NOW + window[1]),
        "phone": "+420777666555",
        "source": "web",
        "utm": {"utm_source": "google", "utm_campaign": "winter"},
        **extra,
    }


# ------------------------------------------------------------------------------------ board


def test_board_states_from_stored_status_and_due_time() -> None:
    assert c.board_state("received", NOW - timedelta(seconds=1), NOW) == "pending"
    assert c.board_state("received", NOW + timedelta(hours=2), NOW) == "scheduled"
    assert c.board_state("queued", None, NOW) == "uploaded"
    assert c.board_state("dialing", None, NOW) == "in_call"
    assert c.board_state("connected", None, NOW) == "in_call"
    for closed in ("completed", "failed", "expired", "cancelled"):
        assert c.board_state(closed, None, NOW) is None


def test_board_row_masks_the_number_and_states_age_window_and_time_left() -> None:
    row = c.board_row(request("cb1", window=(timedelta(minutes=-20), timedelta(minutes=-2))), NOW)
    assert row is not None
    assert row["phone"] == "+420*******55"
    assert "777666" not in str(row)
    assert row["age_s"] == 600
    assert row["time_left_s"] == -120
    assert row["overdue"] is True
    assert row["window_end"] == "2026-12-01T13:58:00Z"
    assert row["utm"] == {"utm_campaign": "winter", "utm_source": "google"}


def test_board_puts_overdue_first_then_least_time_left_and_counts_every_state() -> None:
    requests = [
        request("late-a", window=(timedelta(minutes=-30), timedelta(minutes=-1))),
        request("late-b", "queued", window=(timedelta(minutes=-30), timedelta(minutes=-20))),
        request("soon", "dialing", window=(timedelta(0), timedelta(minutes=3))),
        request("later", due=timedelta(hours=3), window=(timedelta(hours=3), timedelta(hours=4))),
        request("done", "completed"),
        request("gone", expires_at=int((NOW - timedelta(seconds=1)).timestamp())),
    ]
    board = c.build_board(requests, NOW, limit=3)
    assert [r["id"] for r in board["rows"]] == ["late-b", "late-a", "soon"]
    assert board["counts"] == {"pending": 1, "scheduled": 1, "uploaded": 1, "in_call": 1}
    assert board["overdue"] == 2
    assert board["total"] == 4
    assert board["rows_not_shown"] == 1


@settings(max_examples=60, derandomize=True)
@given(st.permutations(range(6)), st.integers(min_value=0, max_value=2))
def test_board_is_independent_of_the_order_and_duplication_of_requests(order: list[int], dup: int) -> None:
    base = [
        request(
            f"cb{i}",
            ("received", "queued", "dialing")[i % 3],
            window=(timedelta(0), timedelta(minutes=i * 7 - 20)),
        )
        for i in range(6)
    ]
    shuffled = [base[i] for i in order] + base[:dup]
    assert c.build_board(shuffled, NOW) == c.build_board(base, NOW)


# ----------------------------------------------------------------------------- service level


def test_service_level_percentiles_window_share_outcomes_and_hours() -> None:
    at = lambda delta: int((NOW + delta).timestamp() * 1000)  # noqa: E731
    requests = [
        # created 13:00 UTC (14:00 Prague), attempted after 2 min, within its window
        request(
            "a",
            "completed",
            created=timedelta(hours=-1),
            window=(timedelta(hours=-1), timedelta(minutes=-30)),
        ),
        # attempted after 40 min, after its window ended
        request(
            "b", "failed", created=timedelta(hours=-1), window=(timedelta(hours=-1), timedelta(minutes=-30))
        ),
        # never attempted, window over: a broken promise
        request(
            "c",
            "expired",
            created=timedelta(minutes=-50),
            window=(timedelta(minutes=-50), timedelta(minutes=-5)),
        ),
        # still inside its window, not attempted: not judged yet
        request("d", "received", created=timedelta(minutes=-1)),
        request("e", "cancelled", created=timedelta(minutes=-2)),
        # yesterday (Prague): not today's
        request("old", "completed", created=timedelta(hours=-16)),
    ]
    attempts = {
        "a": at(timedelta(minutes=-58)),
        "b": at(timedelta(minutes=-20)),
        "old": at(timedelta(hours=-15)),
    }
    level = c.service_level(requests, attempts, NOW, ZONE)
    assert level["day"] == "2026-12-01"
    assert level["requests"] == 5
    assert level["attempted"] == 2
    assert level["first_attempt_p50_s"] == 120
    assert level["first_attempt_p90_s"] == 2400
    assert (level["within_window"], level["judged"]) == (1, 3)
    assert level["within_window_share"] == 0.333
    assert level["outcomes"] == {"connected": 1, "missed": 1, "cancelled": 1, "expired": 1}
    by_hour = {h["hour"]: h for h in level["per_hour"]}
    assert by_hour[14] == {"hour": 14, "requests": 5, "attempted": 2, "within_window": 1, "judged": 3}
    assert sum(h["requests"] for h in level["per_hour"]) == 5


def test_percentile_is_nearest_rank() -> None:
    assert c.percentile([], 50) is None
    assert c.percentile([5.0], 90) == 5.0
    assert c.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert c.percentile([float(v) for v in range(1, 11)], 90) == 9.0


def test_day_start_is_the_operator_midnight() -> None:
    assert c.day_start(NOW, ZONE) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


# ------------------------------------------------------------------------ attempts projection


def _hook(event: str, at_ms: int, callback_id: str = "cb1") -> Any:
    model = WebitelEvent.model_validate(
        {
            "event": event,
            "timestamp": str(at_ms),
            "call_id": "u1",
            "attempt_id": "a1",
            "ringback_callback_id": callback_id,
        }
    )
    return to_logged(EventSource.WEBITEL, model, at_ms + 5)


def test_the_projector_keeps_attempt_facts_per_day_and_the_first_attempt_is_their_min() -> None:
    projections = FakeProjections()
    projector = Projector(projections, FakeCallbacks(), zone=ZONE, default_region="CZ")
    start = int(NOW.timestamp() * 1000)
    events = [_hook("offering", start + 60_000), _hook("joined", start), _hook("active", start + 5_000)]
    for event in events + events:  # applied twice, in any order
        projector.apply(event)
    records = projections.records(attempts_pk("2026-12-01"))
    assert len(records) == 2  # offering and active; joined is not an attempt
    assert c.first_attempts(records) == {"cb1": start + 5_000}


def test_attempt_records_only_for_requests_and_ringing_events() -> None:
    event = _hook("offering", int(NOW.timestamp() * 1000))
    assert attempt_records("", "offering", event, ZONE) == ()
    assert attempt_records("cb1", "bridged", event, ZONE) == ()
    (record,) = attempt_records("cb1", "offering", event, ZONE)
    assert record.pk == "ATTEMPTS#2026-12-01"


# --------------------------------------------------------------------------- session and CSRF


class Tokens:
    def __init__(self, *tokens: str) -> None:
        self.values = list(tokens)

    def tokens(self) -> list[str]:
        return list(self.values)


def access(tokens: Tokens, key: str = "signing-key") -> ConsoleAccess:
    return ConsoleAccess(tokens, lambda: key, ttl=timedelta(hours=1))


def test_sign_in_opens_a_session_the_cookie_proves_until_it_expires() -> None:
    console = access(Tokens("secret-one"))
    session, value = console.sign_in("secret-one", NOW)
    assert "secret-one" not in value
    assert console.session(value, NOW + timedelta(minutes=59)) == session
    with pytest.raises(Unauthorized):
        console.session(value, NOW + timedelta(hours=1))


@pytest.mark.parametrize("credential", ["wrong", "secret-on", "secret-one "])
def test_a_wrong_credential_is_refused(credential: str) -> None:
    with pytest.raises(Unauthorized):
        access(Tokens("secret-one")).sign_in(credential, NOW)


def test_a_missing_credential_is_a_field_error() -> None:
    with pytest.raises(Unprocessable) as raised:
        access(Tokens("secret-one")).sign_in("", NOW)
    assert raised.value.fields[0].field == "credential"


def test_rotation_keeps_sessions_of_a_kept_credential_and_ends_those_of_a_removed_one() -> None:
    tokens = Tokens("old", "new")
    console = access(tokens)
    _, by_old = console.sign_in("old", NOW)
    _, by_new = console.sign_in("new", NOW)
    tokens.values = ["new"]
    assert console.session(by_new, NOW)
    with pytest.raises(Unauthorized):
        console.session(by_old, NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),
        lambda v: "x" + v,
        lambda v: v.split(".")[0],
        lambda v: "",
        lambda v: v + "." + v,
    ],
)
def test_a_forged_or_damaged_cookie_is_no_session(tamper: Any) -> None:
    console = access(Tokens("secret-one"))
    _, value = console.sign_in("secret-one", NOW)
    with pytest.raises(Unauthorized):
        console.session(tamper(value), NOW)


def test_a_cookie_signed_with_another_key_is_no_session() -> None:
    _, value = access(Tokens("secret-one"), key="other-stack").sign_in("secret-one", NOW)
    with pytest.raises(Unauthorized):
        access(Tokens("secret-one")).session(value, NOW)


def test_writes_need_the_same_origin_and_the_session_csrf_token() -> None:
    console = access(Tokens("secret-one"))
    session, _ = console.sign_in("secret-one", NOW)
    other, _ = console.sign_in("secret-one", NOW)
    token = console.csrf(session)
    assert token != console.csrf(other)
    console.check_write(session, csrf=token, origin="https://console.example.com", host="console.example.com")
    console.check_write(session, csrf=token, origin=None, host="console.example.com")
    for origin in ("https://evil.example.net", "null"):
        with pytest.raises(Forbidden):
            console.check_write(session, csrf=token, origin=origin, host="console.example.com")
    for wrong in (None, "", console.csrf(other), token[:-1]):
        with pytest.raises(Forbidden):
            console.check_write(session, csrf=wrong, origin=None, host="console.example.com")


def test_cookie_value_is_read_from_the_request_cookies() -> None:
    assert c.cookie_value(["a=1", " rb_console=abc.def", "b=2"]) == "abc.def"
    assert c.cookie_value(["rb_consoles=x"]) is None


# ------------------------------------------------------------------------------------ charts


def test_chart_is_valid_svg_with_a_title_and_escaped_text() -> None:
    svg = grouped_bars("Per hour <today>", ["a&b", "c"], [("requested", [3, 0]), ("called", [1, 12])])
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert root.find(f"{ns}title") is not None and root.find(f"{ns}title").text == "Per hour <today>"  # type: ignore[union-attr]
    assert "requested: a&b 3" in (root.find(f"{ns}desc").text or "")  # type: ignore[union-attr]
    bars = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(bars) == 4
    heights = [float(r.get("height", "0")) for r in bars]
    assert heights[3] == max(heights) and heights[2] == 0.0
    assert "<today>" not in svg


@pytest.mark.parametrize(
    ("top", "axis"), [(0, 4), (1, 4), (4, 4), (5, 8), (9, 20), (33, 40), (41, 80), (999, 2000)]
)
def test_chart_axis_has_four_whole_steps_above_the_highest_bar(top: int, axis: int) -> None:
    from ringback.domain.console_charts import _nice_max

    assert _nice_max(top) == axis and axis % 4 == 0 and axis >= top


def test_chart_refuses_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError):
        grouped_bars("x", ["a", "b"], [("s", [1])])


# ----------------------------------------------------------------------------------- service


class Aggregates:
    """``ports.console.ConsoleAggregates`` over the fake projections (items by key) and receipts."""

    def __init__(
        self, projections: FakeProjections, receipts: MemoryReceipts, degraded: int | None = 3
    ) -> None:
        self.projections = projections
        self.receipts = receipts
        self.degraded = degraded
        self.calls: list[tuple[int, str]] = []

    def read(self, keys: Any, day: str, receipts: int) -> ConsoleSnapshot:
        keys = list(keys)
        self.calls.append((len(keys), day))
        return ConsoleSnapshot(
            [dict(self.projections.items[k]) for k in keys if k in self.projections.items],
            self.degraded,
            self.receipts.recent(receipts),
        )

    def first_agents(self, pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
        return self.projections.first_agents(pk, agents, max_items)

    def board_rows(self, pk: str, max_rows: int) -> tuple[list[dict[str, Any]], bool]:
        self.calls.append((-1, pk))  # a board partition's Query
        return self.projections.board_rows(pk, max_rows)


def stored(row: dict[str, Any]) -> dict[str, Any]:
    """A request dict as the CallbacksTable stores it (what its stream carries)."""
    return {"pk": f"CB#{row['id']}", "sk": "REQUEST", "status_at": 1, **row}


class States:
    def __init__(self, states: dict[str, str]) -> None:
        self.map = states

    def states(self, entry_ids: Any) -> dict[str, str]:
        return {i: self.map[i] for i in entry_ids if i in self.map}


class Depths:
    def depths(self) -> dict[str, int | None]:
        return {"projector": 0, "dialer_schedules": 2}


def _receipt(run_id: str, minutes_ago: int, problems: list[Problem], stopped: str | None = None) -> Receipt:
    receipt = Receipt(
        run_id=run_id, kind="upload", job="callbacks", started_at=NOW - timedelta(minutes=minutes_ago)
    )
    group = receipt.group("1")
    for problem in problems:
        group.add("rejected")
        group.problem(problem)
    receipt.stopped = stopped
    return receipt


def _data(
    requests: list[dict[str, Any]], receipts: list[Receipt], states: dict[str, str]
) -> tuple[ConsoleData, Aggregates]:
    store = MemoryReceipts()
    for receipt in receipts:
        store.save(receipt)
    projections = FakeProjections()
    projector = Projector(projections, FakeCallbacks(), zone=ZONE, default_region="CZ")
    for row in requests:
        projector.apply_request(stored(row))
    aggregates = Aggregates(projections, store)
    return ConsoleData(aggregates, States(states), Depths(), zone=ZONE), aggregates


def test_data_shows_only_members_still_rejected_with_webitel_reason_masked() -> None:
    receipts = [
        _receipt("r1", 30, [Problem(reason="old reason", entry_id="e1"), Problem(reason="x", entry_id="e2")]),
        _receipt("r2", 5, [Problem(reason="phone +420 777 666 555 invalid", entry_id="e1")]),
    ]
    data, source = _data([request("cb1")], receipts, {"e1": "rejected", "e2": "pending"})
    view = data.data(NOW)
    rejected = view["receipts"]["rejected"]
    assert [r["entry_id"] for r in rejected] == ["e1"]
    assert rejected[0]["reason"] == "phone ***55 invalid"
    assert view["board"]["total"] == 1
    assert view["health"]["webitel"]["state"] == "reachable"
    assert view["health"]["dead_letters"] == {"projector": 0, "dialer_schedules": 2}
    assert view["service_level_chart"].startswith("<svg")
    assert len(view["funnel"]["days"]) == 7
    # Every aggregate in one read by key: the board's counters, today, the funnel's 7 days,
    # agents, their day; then a Query of the one board partition that holds a row.
    keys = rows.BOARD_SHARDS + rows.DAY_SHARDS + 7 * rows.FUNNEL_SHARDS + 2 + rows.AGENT_LINE_SHARDS
    assert source.calls == [(keys, "2026-12-01"), (-1, rows.board_row_pk("cb1"))]
    assert view["health"]["routing_degraded_today"] == 3
    assert "777666" not in str(view)


def test_the_board_queries_only_the_partitions_whose_counter_moved() -> None:
    ids = [f"cb{n}" for n in range(12)]
    data, source = _data([request(i) for i in ids], [], {})
    first = data.data(NOW)["board"]
    assert first["total"] == 12 and first["partial"] is False
    assert {pk for n, pk in source.calls if n == -1} == {rows.board_row_pk(i) for i in ids}
    source.calls.clear()
    assert data.data(NOW)["board"] == first  # nothing moved: no Query at all
    assert [call for call in source.calls if call[0] == -1] == []
    # cb3 moves on: only its partition is read again, and the board shows the change.
    projector = Projector(source.projections, FakeCallbacks(), zone=ZONE, default_region="CZ")
    projector.apply_request(stored(request("cb3", "queued", status_at=2)))
    projector.apply_request(stored(request("cb5", "completed", status_at=3)))
    source.calls.clear()
    board = data.data(NOW)["board"]
    assert sorted(pk for n, pk in source.calls if n == -1) == sorted(
        {rows.board_row_pk("cb3"), rows.board_row_pk("cb5")}
    )
    states = {row["id"]: row["state"] for row in board["rows"]}
    assert states["cb3"] == "uploaded" and "cb5" not in states and board["total"] == 11
    # Another container (nothing kept) reads the same board.
    other = ConsoleData(source, States({}), Depths(), zone=ZONE)
    assert other.data(NOW)["board"] == board


def test_a_board_larger_than_what_the_page_reads_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows, "BOARD_MAX_ROWS", rows.BOARD_SHARDS)  # one row per partition
    ids = [f"cb{n}" for n in range(3 * rows.BOARD_SHARDS)]
    data, _ = _data([request(i) for i in ids], [], {})
    board = data.data(NOW)["board"]
    assert board["partial"] is True and board["total"] <= rows.BOARD_SHARDS
    monkeypatch.setattr(rows, "BOARD_MAX_ROWS", 10 * len(ids))
    whole = _data([request(i) for i in ids], [], {})[0].data(NOW)["board"]
    assert whole["partial"] is False and whole["total"] == len(ids)


def test_a_new_receipt_and_a_changed_member_state_show_on_the_next_read() -> None:
    """The receipts' rows are kept while the receipts read are the same; the members' states
    are read every time."""
    states = {"e1": "rejected"}  # what the outbox holds (the fake reads this dict every time)
    data, source = _data([], [_receipt("r1", 30, [Problem(reason="bad number", entry_id="e1")])], states)
    first = data.data(NOW)["receipts"]
    assert [r["entry_id"] for r in first["rejected"]] == ["e1"] and [r["run_id"] for r in first["runs"]] == [
        "r1"
    ]
    states["e1"] = "pending"  # re-driven
    assert data.data(NOW + timedelta(seconds=5))["receipts"]["rejected"] == []
    source.receipts.save(_receipt("r2", 1, [Problem(reason="unknown type", entry_id="e2")]))
    states["e2"] = "rejected"
    later = data.data(NOW + timedelta(seconds=10))["receipts"]
    assert [(r["entry_id"], r["run_id"]) for r in later["rejected"]] == [("e2", "r2")]
    assert [r["run_id"] for r in later["runs"]] == ["r2", "r1"]


def test_health_says_webitel_unreachable_when_the_last_run_stopped() -> None:
    data, _ = _data([], [_receipt("r1", 2, [], stopped="Webitel unreachable: connect timeout")], {})
    health = data.data(NOW)["health"]
    assert health["webitel"]["state"] == "unreachable"
    assert health["webitel"]["last_run_age_s"] == 120


def test_redrive_uses_the_dialer_redrive_and_bounds_the_request() -> None:
    from tests.unit.dialer_fakes import MemoryOutbox

    outbox = MemoryOutbox()
    member = MemberItem.model_validate(
        {"name": "x", "communications": [{"destination": "+420777666555", "type": {"id": "1"}}]}
    )
    outbox.add(
        OutboxEntry(
            entry_id="entry-0001", source="callback", source_id="cb1", queue_id="1", member=member, due_at=NOW
        )
    )
    outbox.entries["entry-0001"] = outbox.entries["entry-0001"].model_copy(
        update={"state": OutboxState.REJECTED}
    )
    data, _ = _data([], [], {})
    assert data.redrive(outbox, ["entry-0001", "nope-0001"], FixedClock(NOW)) == {
        "entry-0001": "re-driven",
        "nope-0001": "not found",
    }
    with pytest.raises(Unprocessable):
        data.redrive(outbox, [], FixedClock(NOW))
    with pytest.raises(Unprocessable):
        data.redrive(outbox, [f"e{i:08d}" for i in range(51)], FixedClock(NOW))


def test_static_page_has_no_inline_script_and_labels_its_controls() -> None:
    from pathlib import Path

    static = Path(__file__).resolve().parents[2] / "functions/console/static"
    html = (static / "console.html").read_text()
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
    assert 'lang="en"' in html
    for control in re.findall(r'<input[^>]*id="([^"]+)"', html):
        assert f'for="{control}"' in html
    script = (static / "console.js").read_text()
    assert "?token" not in script and "localStorage" not in script


def test_the_console_rows_keep_only_what_the_console_may_show() -> None:
    from ringback.domain.events.console_rows import request_rows

    item = stored(
        request("cb1", name="Jana Nováková", email="j@example.com", client_ip_hash="x", page_url="u")
    )
    writes, _ = request_rows(item, ZONE)
    day_row, board_row = writes
    assert isinstance(board_row, rows.BoardWrite) and isinstance(day_row, rows.RowWrite)
    assert board_row.kind == "register" and board_row.guard == (day_row.pk, day_row.sk)
    assert (board_row.pk, board_row.sk) == (rows.board_row_pk("cb1"), "cb1")
    assert board_row.value is not None
    assert set(board_row.value) <= set(c.BOARD_ATTRIBUTES) - {"phone"} | {"phone_masked"}
    # The day's row: status, local hour and time of creation, the window's end and its bucket.
    assert set(day_row.value) == {"s", "h", "c", "w", "b"} and day_row.sk == "cb1"
    assert board_row.value["phone_masked"] == "+420*******55"
    assert "777666" not in str(writes)


def test_the_callbacks_table_streams_both_images_to_the_projector() -> None:
    from devstack.template import load

    resources = load().raw["Resources"]
    table = resources["CallbacksTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert "gsi2" not in {i["IndexName"] for i in table["GlobalSecondaryIndexes"]}
    events = resources["ProjectorFunction"]["Properties"]["Events"]
    assert events["CallbacksStream"]["Properties"]["Stream"] == {
        "Fn::GetAtt": ["CallbacksTable", "StreamArn"]
    }
