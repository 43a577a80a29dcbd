"""Folded rate-limit counters: one item per subject and day enforces every window at once.

Pure rules (``fold_guards``, ``GuardItem.exhausted``) and the service with the in-memory
repository; tests/integration/test_callbacks_counters_dynamo.py runs the same rules on DynamoDB (moto).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringback.domain.abuse import DAY, fold_guards, global_counter, global_shards, submit_guards
from ringback.domain.callback_policy import CallbackPolicy
from tests.unit.callbacks_fakes import at

pytestmark = pytest.mark.unit

NOW = at("2026-11-18T10:17:00+00:00")


def test_guards_fold_into_one_item_per_subject_and_day() -> None:
    guards = submit_guards(CallbackPolicy(), phone_key="p" * 32, ip_key="i" * 32, now=NOW)
    number, client, everyone = fold_guards(guards)
    assert [g.name for g in everyone.guards] == ["global_minute"]
    assert everyone.attribute(everyone.guards[0]) == "global_minute_617"  # 10:17 is minute 617
    assert [g.name for g in number.guards] == ["number_hour", "number_day"]
    assert [g.name for g in client.guards] == ["ip_hour", "ip_numbers_day"]
    day = int(at("2026-11-18T00:00:00+00:00").timestamp())
    assert number.storage_key == f"RL#number#{'p' * 32}#{day}"
    assert client.storage_key == f"RL#ip#{'i' * 32}#{day}"
    assert [number.attribute(g) for g in number.guards] == ["number_hour_10", "number_day"]
    assert [client.attribute(g) for g in client.guards] == ["ip_hour_10", "ip_numbers_day"]
    assert number.expires_at == day + DAY
    # The next hour is another attribute of the same item; the next day another item.
    later = fold_guards(
        submit_guards(CallbackPolicy(), phone_key="p" * 32, ip_key=None, now=NOW + timedelta(hours=1))
    )
    assert later[0].storage_key == number.storage_key
    assert later[0].attribute(later[0].guards[0]) == "number_hour_11"
    tomorrow = fold_guards(
        submit_guards(CallbackPolicy(), phone_key="p" * 32, ip_key=None, now=NOW + timedelta(days=1))
    )
    assert tomorrow[0].storage_key != number.storage_key


def test_a_window_that_does_not_divide_a_day_is_refused() -> None:
    (guard,) = [
        g
        for g in submit_guards(CallbackPolicy(), phone_key="p", ip_key=None, now=NOW)
        if g.name == "number_hour"
    ]
    from dataclasses import replace

    with pytest.raises(ValueError, match="divide a day"):
        fold_guards([replace(guard, window_s=7 * 3600)])


policies = st.builds(
    CallbackPolicy,
    per_number_per_hour=st.integers(1, 5),
    per_number_per_day=st.integers(1, 8),
    per_ip_per_hour=st.integers(1, 6),
    distinct_numbers_per_ip_per_day=st.integers(1, 4),
)


@given(
    policy=policies,
    hour_hits=st.integers(0, 9),
    day_hits=st.integers(0, 9),
    ip_hits=st.integers(0, 9),
    members=st.sets(st.sampled_from("abcdef"), max_size=6),
    phone=st.sampled_from("abcdef"),
)
def test_exhausted_names_the_first_full_window(
    policy: CallbackPolicy, hour_hits: int, day_hits: int, ip_hits: int, members: set[str], phone: str
) -> None:
    number, client, _ = fold_guards(submit_guards(policy, phone_key=phone, ip_key="ip", now=NOW))
    stored_number = {"number_hour_10": hour_hits, "number_day": day_hits}
    stored_client = {"ip_hour_10": ip_hits, "ip_numbers_day": frozenset(members)}
    expected_number = (
        "number_hour"
        if hour_hits >= policy.per_number_per_hour
        else "number_day"
        if day_hits >= policy.per_number_per_day
        else None
    )
    full = phone not in members and len(members) >= policy.distinct_numbers_per_ip_per_day
    expected_client = "ip_hour" if ip_hits >= policy.per_ip_per_hour else "ip_numbers_day" if full else None
    refused = number.exhausted(stored_number)
    assert (refused.name if refused else None) == expected_number
    refused = client.exhausted(stored_client)
    assert (refused.name if refused else None) == expected_client
    # Other hours' counters on the same item do not count against this hour.
    assert number.exhausted({"number_hour_09": 99}) is None


def test_the_global_cap_is_spread_over_small_hourly_shard_items() -> None:
    """Every submit writes the global counter: it is sharded by the number's pseudonym and kept
    to one item per shard and hour (60 minute counters), never one item every submit grows."""
    policy = CallbackPolicy(new_callbacks_per_minute=1000)
    keys = {
        fold_guards(submit_guards(policy, phone_key=f"p{i}", ip_key=None, now=NOW))[-1].storage_key
        for i in range(400)
    }
    day = int(at("2026-11-18T00:00:00+00:00").timestamp())
    assert keys == {f"RL#global#all{shard:02d}h10#{day}" for shard in range(10)}
    (everyone,) = [
        item
        for item in fold_guards(submit_guards(policy, phone_key="p1", ip_key=None, now=NOW))
        if item.storage_key.startswith("RL#global#")
    ]
    assert [(g.name, g.limit) for g in everyone.guards] == [("global_minute", 100)]
    next_hour = fold_guards(submit_guards(policy, phone_key="p1", ip_key=None, now=NOW + timedelta(hours=1)))
    assert next_hour[-1].storage_key != everyone.storage_key


@given(cap=st.integers(min_value=1, max_value=1_000_000))
def test_the_shares_of_the_global_cap_add_up_to_the_cap(cap: int) -> None:
    shards = global_shards(cap)
    _, share = global_counter(cap, "p", NOW)
    assert 1 <= shards <= 16
    assert cap <= shards * share < cap + shards
    # A small cap stays one counter: exact, and never hot (it refuses past 100 a minute).
    assert shards == 1 or cap >= 200
