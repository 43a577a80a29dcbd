"""The routing read's adapter with a scripted DynamoDB client: one BatchGetItem for the entry and
the open-request pointer, unprocessed keys asked again within the budget, the pointer's expiry,
and the directory alone when the batch is refused; and the routing settings reader against
pydantic's Settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.adapters.routing_dynamo import DynamoCallerLookup
from ringback.adapters.routing_settings import RoutingSettings, read_routing_settings
from ringback.config import Settings

pytestmark = pytest.mark.unit

NUMBER = "+420777666555"
CUSTOMERS, CALLBACKS = "customers", "callbacks"
NOW = 1_800_000_000.0
ENTRY = {"pk": {"S": f"PHONE#{NUMBER}"}, "customer_id": {"S": "C1"}, "debt": {"BOOL": True}}
ENTRY_KEY = {"pk": {"S": f"PHONE#{NUMBER}"}}
POINTER_KEY = {"pk": {"S": f"OPEN#{NUMBER}"}, "sk": {"S": "LOCK"}}


def pointer(until: float, callback_id: str = "cb-1") -> dict[str, Any]:
    return {**POINTER_KEY, "callback_id": {"S": callback_id}, "lock_until": {"N": str(int(until))}}


class Client:
    """Answers batch_get_item from a script of (items returned, keys left unprocessed)."""

    def __init__(self, script: list[tuple[dict[str, list[Any]], dict[str, list[Any]]]]) -> None:
        self.script = script
        self.batches: list[dict[str, Any]] = []
        self.gets: list[dict[str, Any]] = []
        self.refuse: ClientError | None = None
        self.items = {CUSTOMERS: ENTRY}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batches.append(RequestItems)
        if self.refuse is not None:
            raise self.refuse
        responses, unprocessed = self.script.pop(0)
        return {
            "Responses": responses,
            "UnprocessedKeys": {table: {"Keys": keys} for table, keys in unprocessed.items()},
        }

    def get_item(self, TableName: str, Key: dict[str, Any]) -> dict[str, Any]:
        self.gets.append({"TableName": TableName, "Key": Key})
        item = self.items.get(TableName)
        return {"Item": item} if item else {}


def lookup(client: Client, sleeps: list[float] | None = None) -> DynamoCallerLookup:
    record = sleeps if sleeps is not None else []
    return DynamoCallerLookup(CUSTOMERS, CALLBACKS, client, epoch=lambda: NOW, sleep=record.append)


def roomy() -> float:
    return 1.0


def test_one_batch_reads_the_entry_and_the_pointer() -> None:
    client = Client([({CUSTOMERS: [ENTRY], CALLBACKS: [pointer(NOW + 60)]}, {})])
    record = lookup(client).read(NUMBER, callbacks=True, remaining=roomy)
    assert record.entry is not None and (record.entry.customer_id, record.entry.debt) == ("C1", True)
    assert record.callback is not None and record.callback.callback_id == "cb-1"
    assert record.callback_read is True
    assert client.batches == [{CUSTOMERS: {"Keys": [ENTRY_KEY]}, CALLBACKS: {"Keys": [POINTER_KEY]}}]
    assert client.gets == []


@pytest.mark.parametrize(("until", "pending"), [(NOW + 1, True), (NOW, False), (NOW - 3600, False)])
def test_a_pointer_past_lock_until_is_no_pending_callback(until: float, pending: bool) -> None:
    client = Client([({CUSTOMERS: [], CALLBACKS: [pointer(until)]}, {})])
    record = lookup(client).read(NUMBER, callbacks=True, remaining=roomy)
    assert record.entry is None
    assert (record.callback is not None) is pending
    assert record.callback_read is True


def test_unprocessed_keys_are_asked_again_within_the_budget() -> None:
    client = Client(
        [
            ({CUSTOMERS: [], CALLBACKS: []}, {CUSTOMERS: [ENTRY_KEY], CALLBACKS: [POINTER_KEY]}),
            ({CALLBACKS: [pointer(NOW + 60)]}, {CUSTOMERS: [ENTRY_KEY]}),
            ({CUSTOMERS: [ENTRY]}, {}),
        ]
    )
    sleeps: list[float] = []
    record = lookup(client, sleeps).read(NUMBER, callbacks=True, remaining=roomy)
    assert record.entry is not None and record.callback is not None and record.callback_read
    # Only what was left unprocessed is asked again.
    assert client.batches[1:] == [
        {CALLBACKS: {"Keys": [POINTER_KEY]}, CUSTOMERS: {"Keys": [ENTRY_KEY]}},
        {CUSTOMERS: {"Keys": [ENTRY_KEY]}},
    ]
    assert len(sleeps) == 2 and sleeps == sorted(sleeps)


def test_a_pointer_left_unprocessed_past_the_budget_is_unknown_not_absent() -> None:
    client = Client([({CUSTOMERS: [ENTRY]}, {CALLBACKS: [POINTER_KEY]})])
    record = lookup(client).read(NUMBER, callbacks=True, remaining=lambda: 0.0)
    assert record.entry is not None
    assert (record.callback, record.callback_read) == (None, False)
    assert len(client.batches) == 1  # no time left: no retry


def test_an_entry_left_unprocessed_past_the_budget_fails_the_read() -> None:
    client = Client([({CALLBACKS: []}, {CUSTOMERS: [ENTRY_KEY]})])
    with pytest.raises(TimeoutError):
        lookup(client).read(NUMBER, callbacks=True, remaining=lambda: 0.0)


def test_a_refused_batch_still_answers_from_the_directory() -> None:
    client = Client([])
    client.refuse = ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "callbacks table missing"}}, "BatchGetItem"
    )
    record = lookup(client).read(NUMBER, callbacks=True, remaining=roomy)
    assert record.entry is not None and (record.callback, record.callback_read) == (None, False)
    assert client.gets == [{"TableName": CUSTOMERS, "Key": ENTRY_KEY}]
    with pytest.raises(ClientError):  # no time left: the refusal is the answer
        lookup(client).read(NUMBER, callbacks=True, remaining=lambda: 0.0)


def test_without_callbacks_it_is_one_get_item() -> None:
    client = Client([])
    record = lookup(client).read(NUMBER, callbacks=False, remaining=roomy)
    assert record.entry is not None and record.callback is None
    assert client.batches == [] and len(client.gets) == 1


# ------------------------------------------------------------------ settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.upper().startswith("RINGBACK_"):
            monkeypatch.delenv(key)
    return monkeypatch


def _as_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[Any, Any]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        light: Any = read_routing_settings()
    except ValueError:
        light = ValueError
    try:
        full = Settings()
        heavy: Any = RoutingSettings(
            **{name: getattr(full, name) for name in RoutingSettings.__dataclass_fields__}
        )
    except ValueError:  # pydantic's ValidationError is a ValueError
        heavy = ValueError
    for key in env:
        monkeypatch.delenv(key)
    return light, heavy


def test_routing_settings_defaults_match_the_settings(clean_env: pytest.MonkeyPatch) -> None:
    light, heavy = _as_settings(clean_env, {})
    assert light == heavy == RoutingSettings()


_VALUES = {
    "RINGBACK_ROUTING_BUDGET_MS": st.one_of(st.integers(0, 1200).map(str), st.sampled_from(["x", "", "3.5"])),
    "RINGBACK_ROUTING_CACHE_TTL_S": st.one_of(
        st.floats(-1, 400, allow_nan=False).map(str), st.sampled_from(["0", "7", "nan", "bad"])
    ),
    "RINGBACK_ROUTING_CACHE_SIZE": st.integers(-5, 2_000_000).map(str),
    "RINGBACK_ROUTING_FALLBACK_FOUND": st.sampled_from(["true", "False", "1", "0", "yes", "off", "maybe"]),
    "RINGBACK_ROUTING_CALLBACK_LOOKUP": st.sampled_from(["true", "false", "ON", "n"]),
    "RINGBACK_DEFAULT_REGION": st.sampled_from(["CZ", "SK", "cz", "CZE"]),
    "RINGBACK_CUSTOMERS_TABLE": st.sampled_from(["", "t-customers"]),
    "RINGBACK_SECRETS_MAX_AGE_S": st.integers(-2, 900).map(str),
}


@given(env=st.fixed_dictionaries({}, optional=_VALUES))
@settings(max_examples=150, deadline=None)
def test_routing_settings_read_the_environment_as_the_settings_do(env: dict[str, str]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        import os

        for key in list(os.environ):
            if key.upper().startswith("RINGBACK_"):
                monkeypatch.delenv(key)
        light, heavy = _as_settings(monkeypatch, env)
    assert light == heavy


GUARD = "guard"
OFFER_KEY = {"pk": {"S": "CACHE#IVR#OFFER"}}


def offer_item(fetched_at_ms: int) -> dict[str, Any]:
    value = {
        "enabled": True,
        "offer_after_s": 60,
        "queues": {"3": {"waiting": "4", "wait_s": 200}},
        "branch_queues": {"found": "3", "debt": "3", "unknown": "3"},
        "open_windows": [[0, 4_000_000_000_000]],
        "capacity_left": 7,
    }
    return {**OFFER_KEY, "value": {"S": json.dumps(value)}, "fetched_at": {"N": str(fetched_at_ms)}}


def test_the_offer_snapshot_comes_in_the_same_batch() -> None:
    client = Client([({CUSTOMERS: [ENTRY], CALLBACKS: [], GUARD: [offer_item(123)]}, {})])
    reader = DynamoCallerLookup(CUSTOMERS, CALLBACKS, client, epoch=lambda: NOW, guard_table=GUARD)
    record = reader.read(NUMBER, callbacks=True, remaining=roomy)
    assert len(client.batches) == 1 and client.batches[0][GUARD] == {"Keys": [OFFER_KEY]}
    assert record.offer is not None
    assert (record.offer.fetched_at_ms, record.offer.capacity_left) == (123, 7)
    assert record.offer.queues["3"].waiting == 4 and record.offer.queues["3"].wait_s == 200


def test_a_refused_guard_table_still_answers_the_caller_and_the_pointer() -> None:
    refusal = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchGetItem")

    class Refusing(Client):
        def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            if GUARD in RequestItems:
                self.batches.append(RequestItems)
                raise refusal
            return super().batch_get_item(RequestItems)

    client = Refusing([({CUSTOMERS: [ENTRY], CALLBACKS: [pointer(NOW + 60)]}, {})])
    reader = DynamoCallerLookup(CUSTOMERS, CALLBACKS, client, epoch=lambda: NOW, guard_table=GUARD)
    record = reader.read(NUMBER, callbacks=True, remaining=roomy)
    assert record.offer is None
    assert record.callback is not None and record.callback_read is True
    assert record.entry is not None
