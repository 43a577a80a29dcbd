"""The console's row items and day counters through the real DynamoDB adapter on the session's
moto server: the same images and attempts in any order and with repeats give the counters the
in-memory fake gives (the one pure rule, ``console_rows.merge_row`` and ``count_delta``), and the
same board rows (``merge_board``); every item written stays small, and the board's guard is the
day row's order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack import aws
from ringback.adapters.console_dynamo import DynamoConsoleAggregates
from ringback.adapters.projections_dynamo import DynamoProjections, decode_counters
from ringback.domain.events import console_rows as rows
from ringback.services.projector import Projector
from tests.support.tables import new_table
from tests.unit.events_fakes import FakeCallbacks, FakeProjections
from tests.unit.test_console_projections import DAY, NOW, ZONE, day_of_requests, image

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dynamo(moto_stack: Any) -> Any:
    return aws.aws_client("dynamodb", moto_stack.endpoint)


def _table(client: Any) -> str:
    return new_table(client, "console-rows")


def _apply(projections: Any, steps: list[tuple[str, Any]]) -> None:
    projector = Projector(projections, FakeCallbacks(), zone=ZONE, default_region="CZ")
    for kind, value in steps:
        if kind == "image":
            projector.apply_request(value)
        else:
            projections.write_row(rows.first_attempt(value[0], value[1], ZONE))


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(day_of_requests(), st.randoms(use_true_random=False))
def test_the_adapter_keeps_the_fakes_counters_whatever_the_order(
    dynamo: Any, day: tuple[list[dict[str, Any]], dict[str, list[int]]], rnd: Any
) -> None:
    finals, attempts = day
    steps: list[tuple[str, Any]] = []
    for item in finals:
        steps += [
            ("image", {**item, "status": "received", "status_at": item["status_at"] - 1}),
            ("image", item),
        ]
        steps += [("attempt", (item["id"], at)) for at in attempts[item["id"]]]
    fake = FakeProjections()
    _apply(fake, steps)
    mixed = steps + rnd.sample(steps, len(steps) // 2)
    rnd.shuffle(mixed)
    table = _table(dynamo)
    _apply(DynamoProjections(table, client=dynamo), mixed)
    stored = dynamo.scan(TableName=table)["Items"]
    counters = [
        {"pk": i["pk"]["S"], "e": {k: n for k, n in decode_counters(i).items() if n}}
        for i in stored
        if i["pk"]["S"].startswith("CONSOLE#DAYSUM#")
    ]
    assert rows.day_counts(counters, DAY) == rows.day_counts(fake.snapshot().values(), DAY)
    rows_stored = {i["sk"]["S"]: i for i in stored if i["pk"]["S"].startswith("CONSOLE#DAYROW#")}
    assert set(rows_stored) == {i["id"] for i in finals}
    for item in stored:  # every row and counter item a few hundred bytes, whatever the day
        assert sum(len(k) + len(str(v)) for k, v in item.items()) < 1024
    aggregates = DynamoConsoleAggregates(table, "", "", client=dynamo)
    for n in range(rows.BOARD_SHARDS):
        pk = f"{rows.BOARD_ROW_PREFIX}{n}"
        assert aggregates.board_rows(pk, 1000) == fake.board_rows(pk, 1000)


def test_a_board_row_is_not_written_over_a_newer_day_row(dynamo: Any) -> None:
    table = _table(dynamo)
    projections = DynamoProjections(table, client=dynamo)
    projector = Projector(projections, FakeCallbacks(), zone=ZONE, default_region="CZ")
    aggregates = DynamoConsoleAggregates(table, "", "", client=dynamo)
    partition = rows.board_row_pk("cb5")
    counter = rows.board_count_key(partition)

    def version() -> int | None:
        found = aggregates.read([counter], DAY, 0).items
        return int(found[0]["v"]) if found else None

    projector.apply_request(image("cb5", "expired", 5))
    # A late open image: its day row is older (not written), and the board's guard refuses it.
    projector.apply_request(image("cb5", "queued", 1))
    assert aggregates.board_rows(partition, 100) == ([], False)
    assert version() is None  # nothing changed on the board: its counter was never written
    counters = aggregates.read(rows.day_counter_keys(DAY), DAY, 0)
    assert rows.day_counts(counters.items, DAY) == {
        "n": 1,
        "n14": 1,
        "o_expired": 1,
        "w93": 1,
    }
    # Another request opens, moves on, ends and is imaged late: each change moves the counter.
    projector.apply_request(image("cb6", "received", 0))
    projector.apply_request(image("cb6", "received", 0))  # a repeat changes nothing
    other = rows.board_row_pk("cb6")
    (row,), unread = aggregates.board_rows(other, 100)
    assert row["sk"] == "cb6" and row["r"]["status"] == "received" and not unread
    assert "phone" not in row["r"] and row["r"]["phone_masked"].endswith("55")
    before = aggregates.read([rows.board_count_key(other)], DAY, 0).items[0]["v"]
    projector.apply_request(image("cb6", "completed", 9))
    projector.apply_request(image("cb6", "queued", 3))  # late: the day row is newer
    assert aggregates.board_rows(other, 100) == ([], False)
    assert int(aggregates.read([rows.board_count_key(other)], DAY, 0).items[0]["v"]) == int(before) + 1


def test_a_board_partition_is_read_in_pages_up_to_its_bound(dynamo: Any) -> None:
    table = _table(dynamo)
    projector = Projector(
        DynamoProjections(table, client=dynamo), FakeCallbacks(), zone=ZONE, default_region="CZ"
    )
    partition = rows.board_row_pk("cb-0")
    same = [i for i in (f"cb-{n}" for n in range(200)) if rows.board_row_pk(i) == partition][:12]
    for callback_id in same:
        projector.apply_request(image(callback_id, "received", 0))
    aggregates = DynamoConsoleAggregates(table, "", "", client=dynamo)
    found, unread = aggregates.board_rows(partition, 5)
    assert len(found) == 5 and unread
    found, unread = aggregates.board_rows(partition, 12)
    assert sorted(row["sk"] for row in found) == sorted(same) and not unread


def test_the_timeline_facts_are_read_in_agent_order_and_bounded(dynamo: Any) -> None:
    from tests.unit.test_console_projections import agent_event

    table = _table(dynamo)
    fake, projections = FakeProjections(), DynamoProjections(table, client=dynamo)
    events = [
        agent_event(str(a), status, minute, f"event-{a:03d}-{minute:03d}")
        for a in range(45)
        for status, minute in (("online", a), ("pause", a + 60))
    ]
    for target in (fake, projections):
        projector = Projector(target, FakeCallbacks(), zone=ZONE, default_region="CZ")
        for event in events + events[:10]:  # repeats count nothing
            projector.apply(event)
    aggregates = DynamoConsoleAggregates(table, "", "", client=dynamo)
    facts = aggregates.first_agents(rows.agent_line_pk(DAY), 40, 4000)
    assert facts == fake.first_agents(rows.agent_line_pk(DAY), 40, 4000)
    assert len({(f["source"], f["agent_id"]) for f in facts.values()}) == 40 and len(facts) == 80
    assert len(aggregates.first_agents(rows.agent_line_pk(DAY), 40, 7)) == 7  # at most max_items read
    # Status now: one register item per agent and register, the first agents in agent order.
    now = aggregates.first_agents(rows.AGENTS_NOW_PK, 30, 2000)
    assert now == fake.first_agents(rows.AGENTS_NOW_PK, 30, 2000)
    assert len({(r["source"], r["agent_id"]) for r in now.values()}) == 30
    assert {r["status"] for r in now.values()} == {"pause"}  # the newest register of each
    snapshot = aggregates.read(rows.agent_line_count_keys(DAY), DAY, 0)
    assert sum(int(i["e"]["n"]) for i in snapshot.items) == 90  # one count per distinct fact


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["whisbi", "mluvii"]),
            st.sampled_from(["opened", "requested", "uploaded"]),
            st.integers(0, 9),
        ),
        min_size=1,
        max_size=20,
    ),
    st.randoms(use_true_random=False),
)
def test_the_funnel_counters_on_their_partitions_fold_as_the_fakes_whatever_the_order(
    dynamo: Any, marks: list[tuple[str, str, int]], rnd: Any
) -> None:
    counted = [rows.counted_funnel(DAY, provider, stage, f"ev{member}") for provider, stage, member in marks]
    fake = FakeProjections()
    for record in counted:
        fake.put_counted(record)
    mixed = counted + rnd.sample(counted, len(counted) // 2)
    rnd.shuffle(mixed)
    table = _table(dynamo)
    projections = DynamoProjections(table, client=dynamo)
    for record in mixed:
        projections.put_counted(record)
    keys = rows.funnel_counter_keys([DAY])
    snapshot = DynamoConsoleAggregates(table, "", "", client=dynamo).read(keys, DAY, 0)
    day = rows.fold_funnel_counters(snapshot.items, NOW.date(), NOW.date())
    assert day == rows.fold_funnel_counters(list(fake.snapshot().values()), NOW.date(), NOW.date())
    expected = len({(provider, stage, member) for provider, stage, member in marks})
    assert sum(day[0]["total"].values()) == expected
    stored = dynamo.scan(TableName=table)["Items"]
    counters = [i for i in stored if i["pk"]["S"].startswith("CONSOLE#FUNNEL#")]
    # Only the day's counter partitions are written (never the old SHARD#<n> items), each small.
    assert {(i["pk"]["S"], i["sk"]["S"]) for i in counters} <= set(keys)
    assert all(sum(len(k) + len(str(v)) for k, v in i.items()) < 1024 for i in counters)
