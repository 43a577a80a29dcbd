"""The console's projections (domain.events.console_rows) through the projector, and the count of
degraded routing answers: idempotent and order-tolerant, read by key."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.template import ROOT
from ringback.domain.console_charts import agent_timeline
from ringback.domain.events import console_rows as rows
from ringback.domain.events import projections as p
from ringback.domain.events.envelope import EventSource, LoggedEvent
from ringback.services.projector import CLOSED_BY_CALL_IN, Projector, rebuild
from ringback.services.routing_degraded import DegradedTally
from tests.unit.events_fakes import FakeCallbacks, FakeProjections

pytestmark = pytest.mark.unit
ZONE = ZoneInfo("Europe/Prague")
NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
DAY = "2026-12-01"
MS = int(NOW.timestamp() * 1000)


def projector(projections: FakeProjections) -> Projector:
    return Projector(projections, FakeCallbacks(), zone=ZONE, default_region="CZ")


def image(callback_id: str, status: str, at_min: int, **extra: Any) -> dict[str, Any]:
    """A stored request at some point of its life (what the CallbacksTable's stream carries)."""
    return {
        "pk": f"CB#{callback_id}",
        "sk": "REQUEST",
        "id": callback_id,
        "status": status,
        "status_at": MS + at_min * 60_000,
        "created_at": (NOW - timedelta(minutes=30)).isoformat(),
        "expected_call_at": NOW.isoformat(),
        "expected_call_by": (NOW + timedelta(minutes=30)).isoformat(),
        "phone": "+420777666555",
        "name": "Jana Nováková",
        "source": "whisbi",
        **extra,
    }


LIFE = [
    image("cb1", "received", 0),
    image("cb1", "received", 0, repeat_count=1),
    image("cb1", "queued", 1),
    image("cb1", "dialing", 2),
    image("cb1", "completed", 3, status_reason="attempt succeeded"),
    image("cb2", "received", 0),
    image("cb2", "queued", 1),
    image("cb3", "received", 0, reschedule_count=0),
    image("cb3", "cancelled", 1),
    image("cb3", "received", 2, reschedule_count=1),
]


def board_of(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The open requests' board rows by request id (each item's ``r``)."""
    return {
        str(i["sk"]): i["r"]
        for i in items
        if str(i.get("pk", "")).startswith(rows.BOARD_ROW_PREFIX) and "r" in i
    }


def day_rows(items: list[dict[str, Any]], day: str = DAY) -> dict[str, dict[str, Any]]:
    """The day's row items by request id (those holding a request, not only an attempt)."""
    return {
        str(i["sk"]): i
        for i in items
        if str(i.get("pk", "")).startswith(f"CONSOLE#DAYROW#{day}#") and i.get("r") is not None
    }


def in_order() -> dict[tuple[str, str], dict[str, Any]]:
    projections = FakeProjections()
    for item in LIFE:
        projector(projections).apply_request(item)
    return projections.snapshot()


@settings(max_examples=80, derandomize=True)
@given(
    st.lists(st.sampled_from(range(len(LIFE))), min_size=len(LIFE), max_size=2 * len(LIFE)).filter(
        lambda picks: set(picks) == set(range(len(LIFE)))
    )
)
def test_request_rows_are_the_same_whatever_the_order_and_duplication_of_images(picks: list[int]) -> None:
    projections = FakeProjections()
    for index in picks:
        projector(projections).apply_request(LIFE[index])
    assert projections.snapshot() == in_order()


def test_the_board_holds_the_open_requests_with_their_newest_image_and_the_day_all_of_them() -> None:
    items = list(in_order().values())
    board = board_of(items)
    assert set(board) == {"cb2", "cb3"}  # cb1 completed; cb3 rescheduled after its cancel
    assert board["cb2"]["status"] == "queued" and board["cb2"]["phone_masked"] == "+420*******55"
    assert "name" not in board["cb2"] and "phone" not in board["cb2"]
    day = day_rows(items)
    assert {k: v["r"]["s"] for k, v in day.items()} == {
        "cb1": "completed",
        "cb2": "queued",
        "cb3": "received",
    }
    # The funnel's "uploaded" stage: every request whose member reached Webitel, once.
    counts = rows.fold_funnel_counters(items, NOW.date(), NOW.date())
    assert counts[0]["providers"]["whisbi"]["uploaded"] == 2


def test_a_late_open_image_never_brings_a_closed_request_back() -> None:
    projections = FakeProjections()
    projector(projections).apply_request(image("cb9", "expired", 5))
    projector(projections).apply_request(image("cb9", "received", 0))
    projector(projections).apply_request(image("cb9", "queued", 1))
    items = list(projections.snapshot().values())
    assert board_of(items) == {}
    assert day_rows(items)["cb9"]["r"]["s"] == "expired"
    assert rows.day_counts(items, DAY) == {"n": 1, "n14": 1, "o_expired": 1, "w93": 1}


def test_a_removed_request_leaves_the_board_and_the_day_and_other_items_are_ignored() -> None:
    projections = FakeProjections()
    projector(projections).apply_request(image("cb7", "queued", 1))
    assert projector(projections).apply_request(None, image("cb7", "queued", 1)) is True
    items = list(projections.snapshot().values())
    assert board_of(items) == {} == day_rows(items)
    assert rows.day_counts(items, DAY) == {}  # its counts left with it
    projector(projections).apply_request(image("cb7", "queued", 1))  # a late image: still removed
    assert day_rows(list(projections.snapshot().values())) == {}
    assert projector(projections).apply_request({"pk": "OPEN#+420777666555", "sk": "LOCK"}) is False


def test_uploaded_means_the_member_reached_webitel() -> None:
    assert rows.was_uploaded(image("c", "queued", 0)) and rows.was_uploaded(image("c", "connected", 0))
    assert rows.was_uploaded(image("c", "completed", 0, status_reason="attempt succeeded"))
    assert not rows.was_uploaded(image("c", "completed", 0, status_reason=CLOSED_BY_CALL_IN))
    assert not rows.was_uploaded(image("c", "received", 0)) and not rows.was_uploaded(image("c", "failed", 0))


def test_rebuild_projects_the_stored_requests_like_the_stream() -> None:
    projections = FakeProjections()
    finals = [LIFE[4], LIFE[6], LIFE[9]]  # what the table holds now
    summary = rebuild([], projector(projections), projections, clean=True, requests=finals)
    assert summary["requests"] == 3
    items = list(projections.snapshot().values())
    assert set(board_of(items)) == {"cb2", "cb3"}


def test_rebuild_writes_the_funnel_counters_on_their_partitions_only() -> None:
    streamed = FakeProjections()
    for item in LIFE:
        projector(streamed).apply_request(item)
    projections = FakeProjections()
    old = (f"CONSOLE#FUNNEL#{DAY}", "SHARD#0")  # an item of the version before
    projections.items[old] = {"pk": old[0], "sk": old[1], "e": {"whisbi#uploaded": 9}}
    rebuild([], projector(projections), projections, clean=True, requests=[LIFE[4], LIFE[6], LIFE[9]])
    funnel = {k: v for k, v in projections.snapshot().items() if k[0].startswith("CONSOLE#FUNNEL#")}
    assert old not in funnel and set(funnel) <= set(rows.funnel_counter_keys([DAY]))
    (day,) = rows.fold_funnel_counters(list(funnel.values()), NOW.date(), NOW.date())
    (expected,) = rows.fold_funnel_counters(list(streamed.snapshot().values()), NOW.date(), NOW.date())
    assert day == expected and day["total"]["uploaded"] == 2


# ------------------------------------------------------------- the day's counters vs the fold

FINAL_STATUSES = ["received", "queued", "dialing", "connected", "completed", "failed", "cancelled", "expired"]


@st.composite
def day_of_requests(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """Requests created today (Prague) before NOW, each with a final image and its attempts."""
    finals: list[dict[str, Any]] = []
    attempts: dict[str, list[int]] = {}
    for n in range(draw(st.integers(1, 8))):
        callback_id = f"cb{n}"
        created = NOW - timedelta(seconds=draw(st.integers(0, 800 * 60)))
        window = draw(st.one_of(st.none(), st.integers(0, 180 * 60)))
        item = {
            "pk": f"CB#{callback_id}",
            "sk": "REQUEST",
            "id": callback_id,
            "status": draw(st.sampled_from(FINAL_STATUSES)),
            "status_at": int(created.timestamp() * 1000) + 1,
            "created_at": created.isoformat(),
            "phone": "+420777666555",
            "source": "web",
        }
        if window is not None:
            item["expected_call_by"] = (created + timedelta(seconds=window)).isoformat()
        finals.append(item)
        room = int((NOW - created).total_seconds())
        attempts[callback_id] = [
            int(created.timestamp() * 1000) + 1000 * s
            for s in draw(st.lists(st.integers(0, room), max_size=3))
        ]
    return finals, attempts


@settings(max_examples=120, derandomize=True, deadline=None)
@given(day_of_requests(), st.randoms(use_true_random=False))
def test_the_day_counters_give_the_fold_of_the_final_rows_whatever_the_order_and_repeats(
    day: tuple[list[dict[str, Any]], dict[str, list[int]]], rnd: Any
) -> None:
    """Every image of each request (received first, its final one later) and its attempts, in
    any order and with repeats: the counters give the service level the pure fold of the final
    state gives: exact counts, percentiles within 5 % and 1 s (the histogram's buckets), and
    broken windows counted at most 10 minutes late."""
    from ringback.domain import console as c

    finals, attempts = day
    steps: list[tuple[str, Any]] = []
    for item in finals:
        first = {**item, "status": "received", "status_at": item["status_at"] - 1}
        steps += [("image", first), ("image", item)]
        steps += [("attempt", (item["id"], at)) for at in attempts[item["id"]]]
    steps += rnd.sample(steps, len(steps) // 2)
    rnd.shuffle(steps)
    projections = FakeProjections()
    for kind, value in steps:
        if kind == "image":
            projector(projections).apply_request(value)
        else:
            projections.write_row(rows.first_attempt(value[0], value[1], ZONE))
    counted = c.service_level_of_counts(rows.day_counts(projections.snapshot().values(), DAY), NOW, ZONE)
    first_attempts = {cid: min(ats) for cid, ats in attempts.items() if ats}
    exact = c.service_level(finals, first_attempts, NOW, ZONE)
    for name in ("requests", "attempted", "within_window", "outcomes"):
        assert counted[name] == exact[name], name
    assert [
        {k: h[k] for k in ("hour", "requests", "attempted", "within_window")} for h in exact["per_hour"]
    ] == (counted["per_hour"])
    for name in ("first_attempt_p50_s", "first_attempt_p90_s"):
        if exact[name] is None:
            assert counted[name] is None
        else:
            assert abs(counted[name] - exact[name]) <= 0.05 * exact[name] + 1, name
    late = c.service_level(finals, first_attempts, NOW - timedelta(minutes=10), ZONE)
    broken_late = late["judged"] - late["attempted"]  # windows ended by NOW - 10 min
    assert exact["attempted"] + broken_late <= counted["judged"] <= exact["judged"]


@settings(max_examples=200, derandomize=True)
@given(st.lists(st.floats(0, 90_000, allow_nan=False), min_size=1, max_size=60), st.sampled_from([50, 90]))
def test_a_histogram_percentile_is_within_5_percent_and_1_s_of_the_exact_one(
    delays: list[float], q: int
) -> None:
    from ringback.domain import console as c

    histogram: dict[int, int] = {}
    for delay in delays:
        bucket = c.delay_bucket(delay)
        low, high = c.delay_bucket_bounds(bucket)
        assert low <= delay < high
        histogram[bucket] = histogram.get(bucket, 0) + 1
    exact = c.percentile(delays, q)
    approx = c.histogram_percentile(histogram, q)
    assert exact is not None and approx is not None
    assert abs(round(approx) - round(exact)) <= 0.05 * exact + 1
    assert len(histogram) <= 140  # a day's delays: a bounded number of counters


@settings(max_examples=100, derandomize=True)
@given(
    st.lists(st.tuples(st.sampled_from(rows.COUNTER_NAMES), st.integers(1, 999)), max_size=40),
    st.randoms(use_true_random=False),
)
def test_packed_counters_add_up_like_the_counters(adds: list[tuple[str, int]], rnd: Any) -> None:
    """Rows moving their counts (+ then - in any valid order): the ADDed packed attributes
    unpack to the counters the plain sums give."""
    moves = [{name: n} for name, n in adds]
    moves += [{name: -n} for name, n in rnd.sample(adds, len(adds) // 2)]  # after their adds
    packed: dict[str, int] = {}
    plain: dict[str, int] = {}
    for move in moves:
        for attribute, n in rows.pack_counts(move).items():
            packed[attribute] = packed.get(attribute, 0) + n
        rows.add_counts(plain, move)
    assert rows.unpack_counts(packed) == {k: v for k, v in plain.items() if v}
    assert len(packed) <= -(-len(rows.COUNTER_NAMES) // rows.PACK_SLOTS)


def test_a_counter_item_stays_small_whatever_the_day() -> None:
    """Every counter a day's shard can hold: its size does not grow with the day's volume."""
    from ringback.adapters.projections_dynamo import counter_item
    from ringback.domain import console as c

    names = ["n", "t", "k", *(f"o_{o}" for o in c.OUTCOME_NAMES)]
    names += [f"{p}{h:02d}" for p in "ntk" for h in range(24)]
    names += [f"d{b}" for b in range(c.delay_bucket(90_000) + 1)]
    names += [f"w{b}" for b in range(c.WINDOW_BUCKETS + 1)]
    item = counter_item(*rows.day_counter_keys(DAY)[0], dict.fromkeys(names, 999_999))
    size = sum(len(k) + len(next(iter(v.values()))) for k, v in item.items())
    assert size < 4096


# ------------------------------------------------------------------- counters, attempts, agents


@settings(max_examples=60, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["whisbi", "mluvii"]), st.sampled_from(["opened", "requested"]), st.integers(0, 6)
        ),
        min_size=1,
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_funnel_counters_count_distinct_members_whatever_the_order_and_repeats(
    marks: list[tuple[str, str, int]], rnd: Any
) -> None:
    projections = FakeProjections()
    repeated = marks + marks[: len(marks) // 2]
    rnd.shuffle(repeated)
    for provider, stage, member in repeated:
        projections.put_counted(rows.counted_funnel(DAY, provider, stage, f"ev{member}"))
    (day,) = rows.fold_funnel_counters(list(projections.snapshot().values()), NOW.date(), NOW.date())
    expected: dict[str, dict[str, int]] = {}
    for provider, stage, _member in set(marks):
        expected.setdefault(provider, {}).setdefault(stage, 0)
        expected[provider][stage] += 1
    assert day["providers"] == dict(sorted(expected.items()))
    # The membership records are the same set the funnel's fold counts.
    records = [r for pk in p.funnel_pks(DAY) for r in projections.records(pk)]
    folded = p.fold_funnel(records, NOW.date(), NOW.date())[0]["total"]
    assert sum(folded.values()) == sum(sum(s.values()) for s in expected.values())
    # Each member's record sits on the partition its count went to.
    for (pk, sk), item in projections.snapshot().items():
        if item.get("kind") == "funnel":
            member = sk.split("#", 2)[2]
            assert pk == p.funnel_pk(DAY, member) == f"FUNNEL#{DAY}#{p.funnel_shard(member)}"
            assert rows.funnel_counter_pk(DAY, member).endswith(pk.removeprefix("FUNNEL"))


def test_the_funnel_counters_are_each_their_own_partition_and_all_on_the_page() -> None:
    keys = rows.funnel_counter_keys([DAY])
    assert len({pk for pk, _ in keys}) == len(keys) == rows.FUNNEL_SHARDS
    page = set(rows.page_keys(DAY, [DAY]))
    members = [f"ev{n}" for n in range(200)]
    counters = {
        (c.counter_pk, c.counter_sk)
        for c in (rows.counted_funnel(DAY, "whisbi", "opened", m) for m in members)
    }
    assert counters == set(keys) and counters <= page  # every partition used, every one read
    records = {rows.counted_funnel(DAY, "whisbi", "opened", m).record.pk for m in members}
    assert records == set(p.funnel_pks(DAY)[1:])  # the membership records spread the same way
    # The old shared-partition items (``CONSOLE#FUNNEL#<day>`` / ``SHARD#<n>``) are not counted.
    old = {"pk": f"CONSOLE#FUNNEL#{DAY}", "sk": "SHARD#0", "e": {"whisbi#opened": 5}}
    new = {"pk": keys[0][0], "sk": "COUNTS", "e": {"whisbi#opened": 2}}
    (day,) = rows.fold_funnel_counters([old, new], NOW.date(), NOW.date())
    assert day["total"] == {"opened": 2}


@settings(max_examples=40, derandomize=True)
@given(st.permutations([3, 1, 4, 1, 5, 9, 2, 6]))
def test_the_first_attempt_is_the_least_whatever_the_order(minutes: list[int]) -> None:
    projections = FakeProjections()
    for minute in minutes:
        projections.write_row(rows.first_attempt("cb1", MS + minute * 60_000, ZONE))
    items = list(projections.snapshot().values())
    (row,) = [i for i in items if i["sk"] == "cb1"]
    assert row["a"] == MS + 60_000 and "r" not in row  # an attempt of a request not created that day
    assert rows.day_counts(items, DAY) == {}  # counts nothing


def agent_event(agent_id: str, status: str, minute: int, event_id: str) -> LoggedEvent:
    at = int((NOW.replace(hour=7) + timedelta(minutes=minute)).timestamp() * 1000)
    return LoggedEvent(
        source=EventSource.WEBITEL,
        event_type="agent_status",
        event_id=event_id,
        known=True,
        occurred_at=at,
        received_at=at,
        payload={"event": "agent_status", "agent_id": agent_id, "status": status, "agent_name": "Eva"},
    )


def _agent_event(status: str, minute: int, event_id: str) -> LoggedEvent:
    return agent_event("7", status, minute, event_id)


AGENT_DAY = [
    _agent_event("online", 0, "event-a1"),
    _agent_event("pause", 30, "event-a2"),
    _agent_event("online", 45, "event-a3"),
    _agent_event("offline", 120, "event-a4"),
]


@settings(max_examples=40, derandomize=True)
@given(st.permutations(AGENT_DAY + AGENT_DAY[:2]))
def test_the_agents_timeline_and_status_now_are_the_same_whatever_the_order(
    events: list[LoggedEvent],
) -> None:
    projections = FakeProjections()
    for event in events:
        projector(projections).apply(event)
    items = list(projections.snapshot().values())
    start = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # Prague midnight
    lines = rows.fold_agent_lines(projections.first_agents(rows.agent_line_pk(DAY), 40, 4000), start, NOW)
    assert all(len(str(i)) < 1024 for i in items)  # one small item per fact, counter, register
    assert [(s["status"], s["from"] <= s["to"]) for s in lines[0]["segments"]] == [
        ("online", True),
        ("pause", True),
        ("online", True),
        ("offline", True),
    ]
    assert lines[0]["segments"][-1]["to"] == MS
    (agent,) = p.fold_agents(projections.first_agents(rows.AGENTS_NOW_PK, 200, 2000).values())
    assert agent["status"] == "offline"


def test_the_agents_timeline_chart_is_valid_svg_that_states_its_segments() -> None:
    start = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    at = int(start.timestamp() * 1000)
    lines = [
        {
            "source": "webitel",
            "agent_id": "7",
            "name": "Eva <&>",
            "segments": [
                {"status": "online", "from": at + 3_600_000, "to": at + 7_200_000},
                {"status": "pause", "from": at + 7_200_000, "to": MS},
            ],
        }
    ]
    svg = agent_timeline("Agents today", lines, start.astimezone(ZONE), NOW)
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert root.find(f"{ns}title") is not None and root.find(f"{ns}title").text == "Agents today"  # type: ignore[union-attr]
    desc = root.find(f"{ns}desc").text  # type: ignore[union-attr]
    assert desc == "Eva <&>: online 01:00-02:00, pause 02:00-15:00"  # Prague time
    classes = [r.get("class") for r in root.iter(f"{ns}rect")]
    assert classes.count("a-online") == 2 and classes.count("a-pause") == 2  # bars and legend


def test_merge_board_removes_only_what_is_not_newer_and_registers_only_under_an_older_guard() -> None:
    def remove(order: str) -> rows.BoardWrite:
        return rows.BoardWrite("P", "x", "remove", order=order)

    assert rows.merge_board("000001#1", remove("000000#9")) is False  # the row is newer
    assert rows.merge_board("000001#1", remove("000001#1")) is True
    assert rows.merge_board("000001#1", remove("~")) is True
    assert rows.merge_board(None, remove("~")) is False  # nothing to remove: nothing changes
    register = rows.BoardWrite("P", "x", "register", {"id": "x"}, "000001#2", guard=("D", "x"))
    assert rows.merge_board(None, register) is True and rows.merge_board("000001#1", register) is True
    assert rows.merge_board("000001#2", register) is False  # the same image again
    assert rows.merge_board(None, register, guard="000001#2") is True  # the day row of this image
    assert rows.merge_board(None, register, guard="000001#3") is False  # the request moved on
    assert rows.merge_board(None, register, guard="~") is False  # erased
    assert register.counter == rows.board_count_key("P")


def test_the_board_rows_spread_over_every_partition_with_a_counter_each() -> None:
    pks = {rows.board_row_pk(f"cb-{n}") for n in range(200)}
    assert pks == {f"{rows.BOARD_ROW_PREFIX}{n}" for n in range(rows.BOARD_SHARDS)}
    counters = {rows.board_count_key(pk) for pk in pks}
    assert counters == set(rows.board_count_keys())
    assert {rows.board_row_pk_of_count(pk) for pk, _ in counters} == pks


def test_every_page_key_fits_one_batch_read() -> None:
    days = [f"2026-11-{d:02d}" for d in range(25, 32)]
    keys = rows.page_keys(DAY, days)
    assert len(keys) == len(set(keys)) and len(keys) + 1 + 20 <= 100  # with the counter and the ring


# ------------------------------------------------------------------ degraded routing answers


class Counter:
    def __init__(self, fail: int = 0) -> None:
        self.added: list[tuple[str, int]] = []
        self.fail = fail

    def add(self, day: str, count: int) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("DynamoDB unreachable")
        self.added.append((day, count))


class Later:
    """An executor that runs what it is given only when told (the flush is off the answer path)."""

    def __init__(self) -> None:
        self.queued: list[Any] = []

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        self.queued.append((fn, args))
        return Future()

    def run(self) -> None:
        while self.queued:
            fn, args = self.queued.pop(0)
            fn(*args)


def tally(counter: Counter, executor: Later, clock: list[float], day: list[str]) -> DegradedTally:
    return DegradedTally(
        counter, executor, today=lambda: day[0], monotonic=lambda: clock[0], retry_after_s=30
    )  # type: ignore[arg-type]


def test_degraded_answers_are_counted_in_memory_and_flushed_later_in_one_add() -> None:
    counter, executor, clock, day = Counter(), Later(), [0.0], ["2026-12-01"]
    t = tally(counter, executor, clock, day)
    for _ in range(3):
        t.count()
    assert counter.added == [] and len(executor.queued) == 1  # nothing written while answering
    executor.run()
    assert counter.added == [("2026-12-01", 3)] and t.pending() == {}
    day[0] = "2026-12-02"
    t.count()
    executor.run()
    assert counter.added[-1] == ("2026-12-02", 1)


def test_a_failed_flush_keeps_its_counts_and_waits_before_trying_again() -> None:
    counter, executor, clock, day = Counter(fail=1), Later(), [0.0], ["2026-12-01"]
    t = tally(counter, executor, clock, day)
    t.count()
    t.count()
    executor.run()
    assert counter.added == [] and t.pending() == {"2026-12-01": 2}
    t.count()
    assert executor.queued == []  # within retry_after_s: counted, not flushed
    clock[0] = 31.0
    t.count()
    executor.run()
    assert counter.added == [("2026-12-01", 4)] and t.pending() == {}


def test_routing_counts_a_degraded_answer_and_imports_the_tally_only_then() -> None:
    from ringback.services import routing_degraded
    from ringback.services.routing import RoutingPolicy, RoutingService

    counter, executor = Counter(), Later()
    routing_degraded.install(tally(counter, executor, [0.0], ["2026-12-01"]))
    try:
        RoutingService(lambda *_: {}, policy=RoutingPolicy(budget_ms=300)).degraded("timeout")  # type: ignore[arg-type]
        executor.run()
    finally:
        routing_degraded.install(None)
    assert counter.added == [("2026-12-01", 1)]
    probe = (
        "import sys; import ringback.services.routing; "
        "print('ringback.services.routing_degraded' in sys.modules, 'ringback.adapters.routing_degraded' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "ringback"), "PATH": ""},
    ).stdout
    assert out.split() == ["False", "False"]


class BatchClient:
    """A low-level client answering batch_get_item from a dict of items (table -> key -> item)."""

    def __init__(self, items: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.items = items
        self.calls: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(RequestItems)
        responses: dict[str, list[dict[str, Any]]] = {}
        for table, request in RequestItems.items():
            for key in request["Keys"]:
                found = self.items.get(table, {}).get(key["pk"]["S"] + "|" + key.get("sk", {}).get("S", ""))
                if found is not None:
                    responses.setdefault(table, []).append(found)
        return {"Responses": responses}


def test_the_aggregates_are_one_batch_read_and_decoded_again_only_when_their_version_changes() -> None:
    from ringback.adapters.console_dynamo import DynamoConsoleAggregates

    counter_pk = f"{rows.FUNNEL_COUNTER_PREFIX}{DAY}#0"

    def counter(version: int, opened: int) -> dict[str, Any]:
        body = json.dumps({"whisbi#opened": opened})
        return {"pk": {"S": counter_pk}, "sk": {"S": "COUNTS"}, "e": {"S": body}, "v": {"N": str(version)}}

    def opened(items: list[dict[str, Any]]) -> int:
        (found,) = [i for i in items if i["pk"] == counter_pk]
        return int(found["e"]["whisbi#opened"])

    client = BatchClient(
        {
            "proj": {f"{counter_pk}|COUNTS": counter(1, 3)},
            "guard": {"HEALTH#routing_degraded#2026-12-01|": {"pk": {"S": "x"}, "count": {"N": "4"}}},
        }
    )
    aggregates = DynamoConsoleAggregates("proj", "guard", "outbox", client=client)
    keys = rows.page_keys(DAY, [DAY])
    first = aggregates.read(keys, DAY, 20)
    assert (
        len(client.calls) == 1 and sum(len(r["Keys"]) for r in client.calls[0].values()) == len(keys) + 1 + 20
    )
    assert first.routing_degraded == 4 and first.receipts == []
    assert opened(first.items) == 3
    again = aggregates.read(keys, DAY, 20)
    assert again.items[0]["e"] is first.items[0]["e"]  # same version: not decoded again
    client.items["proj"][f"{counter_pk}|COUNTS"] = counter(2, 4)
    assert opened(aggregates.read(keys, DAY, 20).items) == 4
    # An item without a version (none of our writers makes one) is never kept decoded.
    unversioned = {k: v for k, v in counter(3, 5).items() if k != "v"}
    client.items["proj"][f"{counter_pk}|COUNTS"] = unversioned
    assert opened(aggregates.read(keys, DAY, 20).items) == 5
    client.items["proj"][f"{counter_pk}|COUNTS"] = {**unversioned, "e": counter(3, 6)["e"]}
    assert opened(aggregates.read(keys, DAY, 20).items) == 6


def test_the_receipts_ring_is_read_by_its_bodies_only_newest_first() -> None:
    from ringback.adapters.console_dynamo import DynamoConsoleAggregates
    from ringback.adapters.outbox_dynamo import RECEIPT_SLOTS
    from ringback.domain.receipts import Receipt

    def slot(n: int, run_id: str, minutes_ago: int) -> dict[str, Any]:
        receipt = Receipt(
            run_id=run_id, kind="upload", job="callbacks", started_at=NOW - timedelta(minutes=minutes_ago)
        )
        return {"body": {"S": receipt.model_dump_json()}}

    ring = {
        f"RUNS#SLOT#{n:02d}|RECEIPT": slot(n, f"run-{n}", minutes) for n, minutes in [(0, 5), (1, 1), (2, 30)]
    }
    client = BatchClient({"outbox": ring})
    aggregates = DynamoConsoleAggregates("proj", "guard", "outbox", client=client)
    snapshot = aggregates.read(rows.page_keys(DAY, [DAY]), DAY, 2)
    assert [r.run_id for r in snapshot.receipts] == ["run-1", "run-0"]  # the newest 2
    request = client.calls[0]
    assert (
        request["outbox"]["ProjectionExpression"] == "body"
        and len(request["outbox"]["Keys"]) == RECEIPT_SLOTS
    )
    assert request["guard"]["ProjectionExpression"] == "#c"
    assert request["guard"]["ExpressionAttributeNames"] == {"#c": "count"}
    assert "ProjectionExpression" not in request["proj"]


class _NoStates:
    def states(self, entry_ids: Any) -> dict[str, str]:
        return {}


class _NoDepths:
    def depths(self) -> dict[str, int | None]:
        return {}


class _Versioned:
    """The console's aggregates over fake projections, every item at ``version``."""

    def __init__(self, projections: FakeProjections) -> None:
        self.projections = projections
        self.version = 1

    def read(self, keys: Any, day: str, receipts: int) -> Any:
        from ringback.ports.console import ConsoleSnapshot

        items = [
            {**self.projections.items[k], "v": str(self.version)} for k in keys if k in self.projections.items
        ]
        return ConsoleSnapshot(items, 0, [])

    def first_agents(self, pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
        return self.projections.first_agents(pk, agents, max_items)


def test_the_timeline_is_left_out_while_the_page_shows_the_current_one() -> None:
    from ringback.services.console import ConsoleData

    projections = FakeProjections()
    for event in AGENT_DAY[:2]:
        projector(projections).apply(event)
    source = _Versioned(projections)
    data = ConsoleData(source, _NoStates(), _NoDepths(), zone=ZONE)
    first = data.data(NOW)
    tag = first["agent_timeline_tag"]
    assert first["agent_timeline"] and first["agent_timeline_chart"].startswith("<svg") and len(tag) == 16
    same = data.data(NOW + timedelta(seconds=40), tag)
    assert same["agent_timeline"] is None and same["agent_timeline_chart"] is None
    assert same["agent_timeline_tag"] == tag
    assert data.data(NOW + timedelta(seconds=40), "0" * 16)["agent_timeline"] == first["agent_timeline"]
    next_minute = data.data(NOW + timedelta(minutes=1), tag)  # the segments reach the new minute
    assert next_minute["agent_timeline"] is not None and next_minute["agent_timeline_tag"] != tag
    tag = next_minute["agent_timeline_tag"]
    projector(projections).apply(AGENT_DAY[2])
    source.version = 2
    changed = data.data(NOW + timedelta(minutes=1), tag)  # a new status change, the same minute
    assert [s["status"] for s in changed["agent_timeline"][0]["segments"]] == ["online", "pause", "online"]
    assert changed["agent_timeline_tag"] != tag
    # Another container (no cache) names the same timeline with the same tag.
    other = ConsoleData(source, _NoStates(), _NoDepths(), zone=ZONE)
    assert other.data(NOW + timedelta(minutes=1), changed["agent_timeline_tag"])["agent_timeline"] is None


def test_items_without_a_version_always_carry_the_timeline() -> None:
    from ringback.ports.console import ConsoleSnapshot
    from ringback.services.console import ConsoleData

    projections = FakeProjections()
    projector(projections).apply(AGENT_DAY[0])

    class Unversioned:
        def read(self, keys: Any, day: str, receipts: int) -> ConsoleSnapshot:
            return ConsoleSnapshot(
                [dict(projections.items[k]) for k in keys if k in projections.items], 0, []
            )

        def first_agents(self, pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
            return projections.first_agents(pk, agents, max_items)

    data = ConsoleData(Unversioned(), _NoStates(), _NoDepths(), zone=ZONE)
    first = data.data(NOW)
    assert first["agent_timeline_tag"] is None
    projector(projections).apply(AGENT_DAY[1])
    again = data.data(NOW + timedelta(seconds=5), "0" * 16)
    assert [s["status"] for s in again["agent_timeline"][0]["segments"]] == ["online", "pause"]


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=95), st.sampled_from([None, *range(len(AGENT_DAY))])),
        min_size=1,
        max_size=12,
    )
)
def test_the_page_always_shows_the_timeline_a_fresh_read_draws(steps: list[tuple[int, int | None]]) -> None:
    """Polls ``seconds`` apart, some after a status change (any order, repeats included): the
    page, keeping what it drew while the answer leaves the timeline out (as console.js does),
    always shows what a container with no cache draws at that moment."""
    from ringback.services.console import ConsoleData

    projections = FakeProjections()
    source = _Versioned(projections)
    data = ConsoleData(source, _NoStates(), _NoDepths(), zone=ZONE)
    now = NOW
    shown: tuple[Any, Any, str | None] = (None, None, None)
    for seconds, change in steps:
        now += timedelta(seconds=seconds)
        if change is not None:
            projector(projections).apply(AGENT_DAY[change])
            source.version += 1  # the projector's write makes the items' next version
        answer = data.data(now, shown[2])
        if answer["agent_timeline"] is not None:
            shown = (answer["agent_timeline"], answer["agent_timeline_chart"], answer["agent_timeline_tag"])
        fresh = ConsoleData(source, _NoStates(), _NoDepths(), zone=ZONE).data(now)
        assert shown[0] == fresh["agent_timeline"]
        assert shown[1] == fresh["agent_timeline_chart"]


def test_the_agents_timeline_is_drawn_again_only_for_a_new_minute_or_a_changed_item() -> None:
    from ringback.ports.console import ConsoleSnapshot
    from ringback.services.console import ConsoleData

    projections = FakeProjections()
    for event in AGENT_DAY:
        projector(projections).apply(event)

    class Versioned:
        version = "1"

        def read(self, keys: Any, day: str, receipts: int) -> ConsoleSnapshot:
            items = [{**projections.items[k], "v": self.version} for k in keys if k in projections.items]
            return ConsoleSnapshot(items, 0, [])

        def first_agents(self, pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
            return projections.first_agents(pk, agents, max_items)

    class NoStates:
        def states(self, entry_ids: Any) -> dict[str, str]:
            return {}

    class NoDepths:
        def depths(self) -> dict[str, int | None]:
            return {}

    source = Versioned()
    data = ConsoleData(source, NoStates(), NoDepths(), zone=ZONE)
    first = data.data(NOW)["agent_timeline_chart"]
    assert data.data(NOW + timedelta(seconds=30))["agent_timeline_chart"] is first  # same minute, items
    assert data.data(NOW + timedelta(minutes=1))["agent_timeline_chart"] is not first  # the next minute
    later = data.data(NOW + timedelta(minutes=1))["agent_timeline_chart"]
    source.version = "2"
    assert data.data(NOW + timedelta(minutes=1))["agent_timeline_chart"] is not later  # a changed item


@pytest.mark.parametrize(("agents", "shown"), [(50, 50), (rows.AGENTS_SHOWN + 30, rows.AGENTS_SHOWN)])
def test_the_agents_now_and_the_timeline_stay_bounded_whatever_the_center(agents: int, shown: int) -> None:
    """A 50-agent center sees every agent now (and the first 40 on the timeline, as before); a
    larger one sees the first AGENTS_SHOWN in agent order, read only when their counters change."""
    from ringback.services.console import ConsoleData

    projections = FakeProjections()
    for a in range(agents):
        projector(projections).apply(agent_event(f"{a:05d}", "online", a % 600, f"event-{a:05d}"))
    source = _Versioned(projections)
    calls: list[str] = []
    real = source.first_agents

    def counted(pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
        calls.append(pk)
        return real(pk, agents, max_items)

    source.first_agents = counted  # type: ignore[method-assign]
    data = ConsoleData(source, _NoStates(), _NoDepths(), zone=ZONE)
    view = data.data(NOW)
    assert len(view["agents"]) == shown
    assert [a["agent_id"] for a in view["agents"]] == [f"{a:05d}" for a in range(shown)]
    assert len(view["agent_timeline"]) == min(agents, rows.TIMELINE_AGENTS)
    assert len(calls) == 2
    data.data(NOW + timedelta(seconds=5))
    assert len(calls) == 2  # the same counters' versions: nothing Queried again
    source.version += 1
    data.data(NOW + timedelta(seconds=10))
    assert len(calls) == 4
