"""Folded rate-limit counters on DynamoDB (moto): every window of a subject enforced by one
conditional UpdateItem, refusals give back what was taken, repeats keep their counters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack import aws
from ringback.adapters.callbacks_dynamo import CallbacksTable
from ringback.domain.abuse import fold_guards, submit_guards
from ringback.domain.callback_policy import CallbackPolicy
from ringback.ports.callbacks import Reservation, SlotBooking, WriteRefused
from tests.unit.callbacks_fakes import at

pytestmark = pytest.mark.integration

NOW = at("2026-11-18T10:17:00+00:00")


@pytest.fixture
def ddb(moto_stack: aws.ProvisionedStack) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=moto_stack.endpoint,
        region_name=aws.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def table(moto_stack: aws.ProvisionedStack, ddb: Any) -> CallbacksTable:
    return CallbacksTable(moto_stack.names["CallbacksTable"], moto_stack.names["GuardTable"], ddb)


def record(phone: str | None = None) -> Any:
    return SimpleNamespace(
        id=uuid.uuid4().hex,
        phone=phone or f"+4206{uuid.uuid4().int % 10**8:08d}",
        created_at=datetime.now(UTC),  # a slot place names its holder by it
    )


def policy(**limits: int) -> CallbackPolicy:
    # These tests share one fixed NOW, so one global-cap window: keep that cap out of their way.
    return CallbackPolicy.model_validate({"new_callbacks_per_minute": 1_000_000, **limits})


def reserve(
    table: CallbacksTable,
    rec: Any,
    limits: CallbackPolicy,
    phone_key: str,
    ip_key: str,
    *,
    now: Any = NOW,
    slot: SlotBooking | None = None,
) -> Reservation:
    guards = submit_guards(limits, phone_key=phone_key, ip_key=ip_key, now=now)
    return table.reserve(rec, lock_until=now + timedelta(hours=1), guards=guards, slot=slot, now=now)


def stored(moto_stack: aws.ProvisionedStack, ddb: Any, key: str) -> dict[str, Any]:
    item = ddb.get_item(TableName=moto_stack.names["GuardTable"], Key={"pk": {"S": key}}, ConsistentRead=True)
    return dict(item.get("Item", {}))


def key_of(limits: CallbackPolicy, subject: str, phone_key: str, ip_key: str, now: Any = NOW) -> str:
    items = {
        i.guards[0].subject: i
        for i in fold_guards(submit_guards(limits, phone_key=phone_key, ip_key=ip_key, now=now))
    }
    return items[subject].storage_key


def refused_guard(call: Any) -> str:
    with pytest.raises(WriteRefused) as refused:
        call()
    assert refused.value.reason == "guard" and refused.value.guard is not None
    return refused.value.guard.name


def test_number_hour_and_day_windows_on_one_item(
    moto_stack: aws.ProvisionedStack, ddb: Any, table: CallbacksTable
) -> None:
    limits = policy(per_number_per_hour=2, per_number_per_day=3, per_ip_per_hour=100)
    phone_key, phone = uuid.uuid4().hex, None
    for _ in range(2):
        rec = record(phone)
        phone = rec.phone
        taken = reserve(table, rec, limits, phone_key, uuid.uuid4().hex)
        table.release(rec, Reservation(lock=taken.lock))  # free the lock, keep the counters
    assert (
        refused_guard(lambda: reserve(table, record(phone), limits, phone_key, uuid.uuid4().hex))
        == "number_hour"
    )
    item = stored(moto_stack, ddb, key_of(limits, "number", phone_key, "x"))
    assert item["number_hour_10"] == {"N": "2"} and item["number_day"] == {"N": "2"}  # refusal took nothing
    later = NOW + timedelta(hours=1)
    rec = record(phone)
    taken = reserve(table, rec, limits, phone_key, uuid.uuid4().hex, now=later)
    table.release(rec, Reservation(lock=taken.lock))
    assert (
        refused_guard(
            lambda: reserve(
                table, record(phone), limits, phone_key, uuid.uuid4().hex, now=later + timedelta(hours=1)
            )
        )
        == "number_day"
    )
    item = stored(moto_stack, ddb, key_of(limits, "number", phone_key, "x"))
    assert item["number_day"] == {"N": "3"} and item["number_hour_11"] == {"N": "1"}
    assert "number_hour_12" not in item


def test_ip_hour_window_and_distinct_numbers_cap(
    moto_stack: aws.ProvisionedStack, ddb: Any, table: CallbacksTable
) -> None:
    limits = policy(
        per_ip_per_hour=4, distinct_numbers_per_ip_per_day=2, per_number_per_hour=10, per_number_per_day=10
    )
    ip_key = uuid.uuid4().hex
    numbers = [(uuid.uuid4().hex, record()) for _ in range(3)]
    for phone_key, rec in numbers[:2]:
        reserve(table, rec, limits, phone_key, ip_key)
    # The same number again is free for the distinct cap (a repeat; its lock is held).
    with pytest.raises(WriteRefused) as repeat:
        reserve(table, record(numbers[0][1].phone), limits, numbers[0][0], ip_key)
    assert repeat.value.reason == "phone_open" and repeat.value.open_id == numbers[0][1].id
    assert (
        refused_guard(lambda: reserve(table, numbers[2][1], limits, numbers[2][0], ip_key))
        == "ip_numbers_day"
    )
    item = stored(moto_stack, ddb, key_of(limits, "ip", "x", ip_key))
    assert set(item["ip_numbers_day"]["SS"]) == {numbers[0][0], numbers[1][0]}
    assert item["ip_hour_10"] == {"N": "3"}
    # The refused third number's own counters were given back.
    assert stored(moto_stack, ddb, key_of(limits, "number", numbers[2][0], "x"))["number_hour_10"] == {
        "N": "0"
    }
    with pytest.raises(WriteRefused):
        reserve(table, record(numbers[1][1].phone), limits, numbers[1][0], ip_key)  # 4th hit: a repeat
    assert refused_guard(lambda: reserve(table, record(), limits, numbers[0][0], ip_key)) == "ip_hour"


def test_a_refusal_gives_back_every_counter_the_lock_and_the_slot(
    moto_stack: aws.ProvisionedStack, ddb: Any, table: CallbacksTable
) -> None:
    limits = policy(
        per_ip_per_hour=1, per_number_per_hour=5, per_number_per_day=5, distinct_numbers_per_ip_per_day=5
    )
    ip_key = uuid.uuid4().hex
    reserve(table, record(), limits, uuid.uuid4().hex, ip_key)  # uses the IP's one per hour
    phone_key, rec = uuid.uuid4().hex, record()
    slot = SlotBooking(day="2026-11-20", key=f"T{uuid.uuid4().hex}", capacity=1, expires_at=2_000_000_000)
    assert refused_guard(lambda: reserve(table, rec, limits, phone_key, ip_key, slot=slot)) == "ip_hour"
    number = stored(moto_stack, ddb, key_of(limits, "number", phone_key, ip_key))
    assert number["number_hour_10"] == {"N": "0"} and number["number_day"] == {"N": "0"}
    lock = ddb.get_item(
        TableName=moto_stack.names["CallbacksTable"],
        Key={"pk": {"S": f"OPEN#{rec.phone}"}, "sk": {"S": "LOCK"}},
    )
    assert "Item" not in lock
    assert table.slot_counts(["2026-11-20"]).get(slot.key, 0) == 0
    # And it can be taken now by someone else: the slot (capacity 1) and the number are free.
    taken = reserve(table, rec, limits, phone_key, uuid.uuid4().hex, slot=slot)
    assert taken.lock and taken.slot == slot and len(taken.counters) == 3  # number, IP, global


def test_release_gives_back_the_member_only_when_this_submit_added_it(
    moto_stack: aws.ProvisionedStack, ddb: Any, table: CallbacksTable
) -> None:
    limits = policy(per_number_per_hour=10, per_number_per_day=10)
    ip_key, phone_key = uuid.uuid4().hex, uuid.uuid4().hex
    first_rec = record()
    first = reserve(table, first_rec, limits, phone_key, ip_key)
    table.release(first_rec, Reservation(lock=True))
    second_rec = record(first_rec.phone)
    second = reserve(table, second_rec, limits, phone_key, ip_key)
    assert [added for _, added in first.counters] == [False, True, False]
    assert [added for _, added in second.counters] == [False, False, False]
    table.release(second_rec, second)
    item = stored(moto_stack, ddb, key_of(limits, "ip", phone_key, ip_key))
    assert item["ip_numbers_day"]["SS"] == [phone_key] and item["ip_hour_10"] == {"N": "1"}
    table.release(first_rec, Reservation(counters=first.counters))
    item = stored(moto_stack, ddb, key_of(limits, "ip", phone_key, ip_key))
    assert "ip_numbers_day" not in item and item["ip_hour_10"] == {"N": "0"}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hour_limit=st.integers(1, 3),
    cap=st.integers(1, 3),
    picks=st.lists(st.integers(0, 3), min_size=1, max_size=8),
)
def test_counters_match_a_model_of_the_windows(
    moto_stack: aws.ProvisionedStack,
    ddb: Any,
    table: CallbacksTable,
    hour_limit: int,
    cap: int,
    picks: list[int],
) -> None:
    """Any sequence of submits from one client: accepted iff every window has room, and what is
    stored equals what was accepted (refusals consume nothing)."""
    limits = policy(
        per_ip_per_hour=hour_limit,
        distinct_numbers_per_ip_per_day=cap,
        per_number_per_hour=10,
        per_number_per_day=10,
    )
    ip_key = uuid.uuid4().hex
    phone_keys = [uuid.uuid4().hex for _ in range(4)]
    accepted, members = 0, set()
    for pick in picks:
        rec = record()
        room = accepted < hour_limit and (phone_keys[pick] in members or len(members) < cap)
        try:
            taken = reserve(table, rec, limits, phone_keys[pick], ip_key)
        except WriteRefused as refused:
            assert not room and refused.reason == "guard"
            continue
        assert room
        table.release(rec, Reservation(lock=taken.lock))
        accepted += 1
        members.add(phone_keys[pick])
    item = stored(moto_stack, ddb, key_of(limits, "ip", "x", ip_key))
    assert int(item.get("ip_hour_10", {"N": "0"})["N"]) == accepted
    assert set(item.get("ip_numbers_day", {"SS": []})["SS"]) == members
