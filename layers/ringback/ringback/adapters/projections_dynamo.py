"""Projections on DynamoDB (ProjectionsTable) and the callback status link (CallbacksTable).

Every write is safe under concurrency and in any order: fact/membership records are idempotent
puts (a key always carries the same data), registers are conditional puts guarded by their
``order`` (``attribute_not_exists(pk) OR #order < :order``), and callback requests only move
forward through a condition listing the statuses ``may_advance`` allows to replace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ringback.adapters.aws import client as aws_client
from ringback.adapters.callback_pointer import phone_of_request, release_pointer
from ringback.adapters.dynamo import from_item, to_item
from ringback.adapters.event_log_dynamo import record_item
from ringback.domain.callback_status import OPEN, TERMINAL, CallbackStatus
from ringback.domain.events.console_rows import (
    MAX_ENTRIES_BYTES,
    BoardWrite,
    CountedRecord,
    CountedRegister,
    RowWrite,
    add_count,
    count_delta,
    merge_row,
    pack_counts,
    unpack_counts,
)
from ringback.domain.events.projections import (
    CallbackAdvance,
    ClosingRequest,
    ProjectionRecord,
    RegisterUpdate,
    open_statuses_below,
)
from ringback.domain.outbox import callback_entry_ids
from ringback.ports.projections import CallbackState

_BATCH = 25


def _conditional_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


_VERSION_RETRIES = 12


def _cancellation_reasons(error: ClientError) -> list[str]:
    """The per-item codes of a cancelled transaction ([] for any other error)."""
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return []
    reasons = [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]
    return reasons or ["Unknown"]


def _backoff(attempt: int) -> None:
    time.sleep(min(0.005 * 2**attempt, 0.2))


def encode_entries(entries: dict[str, Any]) -> str:
    return json.dumps(entries, separators=(",", ":"), sort_keys=True)


def decode_entries(item: dict[str, Any]) -> dict[str, Any]:
    """A console shard item's entries (its ``e``, compact JSON) as a dict."""
    body = item.get("e", {}).get("S")
    decoded = json.loads(body) if body else {}
    return decoded if isinstance(decoded, dict) else {}


def row_item(pk: str, sk: str, row: dict[str, Any], version: int) -> dict[str, Any]:
    """A console row item as stored: its order ``o``, value ``r`` (compact JSON), first attempt
    ``a`` and version ``v`` (a few hundred bytes: one write unit)."""
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "o": {"S": str(row.get("o", ""))}}
    if row.get("r") is not None:
        item["r"] = {"S": encode_entries(row["r"])}
    if row.get("a") is not None:
        item["a"] = {"N": str(int(row["a"]))}
    item["v"] = {"N": str(version)}
    return item


def decode_row(item: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A stored row item as ``merge_row`` reads it, and its version."""
    row: dict[str, Any] = {"o": item.get("o", {}).get("S", "")}
    if "r" in item:
        row["r"] = json.loads(item["r"]["S"])
    if "a" in item:
        row["a"] = int(item["a"]["N"])
    return row, int(item.get("v", {}).get("N", "0"))


def counter_item(pk: str, sk: str, counts: dict[str, int]) -> dict[str, Any]:
    """A counter item as stored: its counters packed (``console_rows.pack_counts``), six to a
    number attribute that ``ADD`` keeps."""
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{a: {"N": str(n)} for a, n in pack_counts(counts).items()}}


def decode_counters(item: dict[str, Any]) -> dict[str, int]:
    """A counter item's counters (name -> count)."""
    return unpack_counts({name: int(value["N"]) for name, value in item.items() if "N" in value})


def request_items(client: Any, table: str) -> Iterator[dict[str, Any]]:
    """Every stored callback request (plain values): what the rebuild re-projects. A Scan, for
    the rebuild command only; no page or request path calls it."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "sk = :r",
        "ExpressionAttributeValues": {":r": {"S": "REQUEST"}},
    }
    while True:
        page = client.scan(**kwargs)
        for item in page.get("Items", []):
            yield from_item(item)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoProjections:
    """Implements ``ports.projections.Projections``."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self._table = table
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0)

    def put_records(self, records: Sequence[ProjectionRecord]) -> None:
        unique = {(r.pk, r.sk): r for r in records}
        items = list(unique.values())
        if len(items) == 1:
            self._client.put_item(TableName=self._table, Item=record_item(items[0]))
            return
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": record_item(r)}} for r in items[start : start + _BATCH]]
            self._batch_write(requests)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._table: requests}
        for attempt in range(8):
            answer = self._client.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError("DynamoDB kept items unprocessed; the stream projector will retry")

    def update_register(self, update: RegisterUpdate) -> bool:
        item = to_item({**update.data, "pk": update.pk, "sk": update.sk, "order": update.order})
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #o < :o",
                ExpressionAttributeNames={"#o": "order"},
                ExpressionAttributeValues={":o": {"S": update.order}},
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False  # a later (or the same) update is already there
            raise
        return True

    def update_register_counted(self, counted: CountedRegister) -> bool:
        """One transaction: the register's put over an older order, and ``ADD v 1`` on its
        counter item (no read: concurrent writes of the counter do not conflict)."""
        update = counted.update
        for attempt in range(_VERSION_RETRIES):
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": to_item(
                                    {**update.data, "pk": update.pk, "sk": update.sk, "order": update.order}
                                ),
                                "ConditionExpression": "attribute_not_exists(pk) OR #o < :o",
                                "ExpressionAttributeNames": {"#o": "order"},
                                "ExpressionAttributeValues": {":o": {"S": update.order}},
                            }
                        },
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": {"pk": {"S": counted.counter[0]}, "sk": {"S": counted.counter[1]}},
                                "UpdateExpression": "ADD v :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                    ]
                )
                return True
            except ClientError as error:
                reasons = _cancellation_reasons(error)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # a later (or the same) register is already there
                if not reasons:
                    raise
            _backoff(attempt)
        raise RuntimeError("console register kept conflicting; the stream projector will retry")

    # -- the console's shard items: entries as one JSON map ``e``, version ``v`` -------------

    def _read_entries(self, pk: str, sk: str) -> tuple[dict[str, Any], int | None]:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
            ProjectionExpression="e, v",
        )
        item = answer.get("Item")
        if not item:
            return {}, None
        return decode_entries(item), int(item.get("v", {}).get("N", "0"))

    def _put_entries(self, pk: str, sk: str, entries: dict[str, Any], version: int | None) -> dict[str, Any]:
        body = encode_entries(entries)
        if len(body) > MAX_ENTRIES_BYTES:
            raise RuntimeError(
                f"console shard item {pk}/{sk} is full ({len(body)} bytes): more shards needed"
            )
        return {
            "TableName": self._table,
            "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "e": {"S": body}, "v": {"N": str((version or 0) + 1)}},
            "ConditionExpression": "attribute_not_exists(pk)" if version is None else "v = :v",
            **({"ExpressionAttributeValues": {":v": {"N": str(version)}}} if version is not None else {}),
        }

    def put_counted(self, counted: CountedRecord) -> bool:
        """One transaction: the membership put if absent, and the counter's next version."""
        for attempt in range(_VERSION_RETRIES):
            entries, version = self._read_entries(counted.counter_pk, counted.counter_sk)
            add_count(entries, counted.field)
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": record_item(counted.record),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {"Put": self._put_entries(counted.counter_pk, counted.counter_sk, entries, version)},
                    ]
                )
                return True
            except ClientError as error:
                reasons = _cancellation_reasons(error)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # counted already
                if not reasons:
                    raise
            _backoff(attempt)
        raise RuntimeError("console counter kept changing; the stream projector will retry")

    def write_board(self, write: BoardWrite) -> bool:
        """One transaction and no read: the row's put over an older order while its guard (the
        day row) is not newer, or its delete if not newer, and ``ADD v 1`` on its partition's
        counter (concurrent counter writes do not conflict). A failed condition is
        ``console_rows.merge_board`` saying no: nothing changes, the counter included."""
        order = {":o": {"S": write.order}}
        changes: list[dict[str, Any]] = []
        if write.kind == "register":
            if write.guard is not None:
                guard = {"pk": {"S": write.guard[0]}, "sk": {"S": write.guard[1]}}
                condition = "attribute_not_exists(o) OR o <= :o"
                check = {"TableName": self._table, "Key": guard, "ConditionExpression": condition}
                changes.append({"ConditionCheck": {**check, "ExpressionAttributeValues": order}})
            item = {
                "pk": {"S": write.pk},
                "sk": {"S": write.sk},
                "o": {"S": write.order},
                "r": {"S": encode_entries(dict(write.value or {}))},
            }
            condition = "attribute_not_exists(o) OR o < :o"
            put = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
            changes.append({"Put": {**put, "ExpressionAttributeValues": order}})
        else:
            key = {"pk": {"S": write.pk}, "sk": {"S": write.sk}}
            delete = {"TableName": self._table, "Key": key, "ConditionExpression": "o <= :o"}
            changes.append({"Delete": {**delete, "ExpressionAttributeValues": order}})
        counter = {"pk": {"S": write.counter[0]}, "sk": {"S": write.counter[1]}}
        add = {"TableName": self._table, "Key": counter, "UpdateExpression": "ADD v :one"}
        changes.append({"Update": {**add, "ExpressionAttributeValues": {":one": {"N": "1"}}}})
        for attempt in range(_VERSION_RETRIES):
            try:
                self._client.transact_write_items(TransactItems=changes)
                return True
            except ClientError as error:
                reasons = _cancellation_reasons(error)
                if "ConditionalCheckFailed" in reasons:
                    return False  # a newer (or the same) row, or a newer day row
                if not reasons:
                    raise
            _backoff(attempt)
        raise RuntimeError("console board row kept conflicting; the stream projector will retry")

    def write_row(self, write: RowWrite) -> bool:
        """Read the row item, merge (``console_rows.merge_row``), and write it back only if its
        version is unchanged, with ``count_delta`` of its old and new value ``ADD``ed to its
        counter item in the same transaction: a row moves its counts from the old buckets to
        the new ones exactly once, whatever the order and repetition of writes."""
        key = {"pk": {"S": write.pk}, "sk": {"S": write.sk}}
        for attempt in range(_VERSION_RETRIES):
            answer = self._client.get_item(
                TableName=self._table, Key=key, ConsistentRead=True, ProjectionExpression="o, r, a, v"
            )
            stored = answer.get("Item")
            old, version = decode_row(stored) if stored else (None, 0)
            new = merge_row(old, write)
            if new is None:
                return False
            put: dict[str, Any] = {
                "TableName": self._table,
                "Item": row_item(write.pk, write.sk, new, version + 1),
                "ConditionExpression": "attribute_not_exists(pk)" if stored is None else "v = :v",
                **({"ExpressionAttributeValues": {":v": {"N": str(version)}}} if stored else {}),
            }
            delta = pack_counts(count_delta(old, new)) if write.counter is not None else {}
            try:
                if not delta or write.counter is None:
                    self._client.put_item(**put)
                else:
                    names = {f"#c{i}": name for i, name in enumerate(delta)}
                    self._client.transact_write_items(
                        TransactItems=[
                            {"Put": put},
                            {
                                "Update": {
                                    "TableName": self._table,
                                    "Key": {"pk": {"S": write.counter[0]}, "sk": {"S": write.counter[1]}},
                                    "UpdateExpression": "ADD " + ", ".join(f"{n} :c{n[2:]}" for n in names),
                                    "ExpressionAttributeNames": names,
                                    "ExpressionAttributeValues": {
                                        f":c{i}": {"N": str(n)} for i, n in enumerate(delta.values())
                                    },
                                }
                            },
                        ]
                    )
                return True
            except ClientError as error:
                if not (_conditional_failed(error) or _cancellation_reasons(error)):
                    raise
            _backoff(attempt)
        raise RuntimeError("console row kept changing; the stream projector will retry")

    def records(self, pk: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._client.query(**kwargs)
            found += [from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def clear(self) -> int:
        deleted = 0
        kwargs: dict[str, Any] = {"TableName": self._table, "ProjectionExpression": "pk, sk"}
        while True:
            page = self._client.scan(**kwargs)
            keys = page.get("Items", [])
            for start in range(0, len(keys), _BATCH):
                self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys[start : start + _BATCH]])
            deleted += len(keys)
            if "LastEvaluatedKey" not in page:
                return deleted
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoCallbackStatus:
    """Implements ``ports.projections.CallbackStatusStore`` on the CallbacksTable."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self._table = table
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0)

    def advance(self, advance: CallbackAdvance) -> bool:
        """Forward only (``may_advance``); at the same status, the earliest fact's time wins.

        The second rule makes ``status_at``/``status_reason`` independent of arrival order: two
        events that both say "connected" leave the time of the earlier one, whichever came first.

        A terminal status releases the number's open-request pointer (``OPEN#<e164>``/``LOCK``)
        while it names this request, so the routing lookup stops saying ``pending_callback``.
        A terminal status refused because the request is already terminal releases it too: a
        retried event finishes a release that failed after the status was written.
        """
        allowed = open_statuses_below(advance.status)
        names = {f":from{i}": {"S": s.value} for i, s in enumerate(allowed)}
        earlier = "(#s = :s AND (status_at > :at OR (status_at = :at AND status_event > :e)))"
        condition = (
            f"attribute_exists(pk) AND (#s IN ({', '.join(names)}) OR {earlier})"
            if names
            else f"attribute_exists(pk) AND {earlier}"
        )
        terminal = advance.status in TERMINAL
        returns: dict[str, str] = (
            {"ReturnValues": "ALL_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if terminal else {}
        )
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"CB#{advance.callback_id}"}, "sk": {"S": "REQUEST"}},
                UpdateExpression="SET #s = :s, status_at = :at, status_reason = :r, status_event = :e",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":s": {"S": advance.status.value},
                    ":at": {"N": str(advance.at)},
                    ":r": {"S": advance.reason or advance.status.value},
                    ":e": {"S": advance.event_id},
                    **names,
                },
                **returns,
            )
        except ClientError as error:
            if _conditional_failed(error):
                old: dict[str, Any] = error.response.get("Item") or {}  # type: ignore[assignment]
                if terminal and old.get("status", {}).get("S") in {s.value for s in TERMINAL}:
                    self._release(old, advance.callback_id)
                return False  # unknown request, or already at/after this status
            raise
        if terminal:
            self._release(answer.get("Attributes") or {}, advance.callback_id)
        return True

    def _release(self, item: dict[str, Any], callback_id: str) -> None:
        e164 = phone_of_request(item)
        if e164 is not None:
            release_pointer(self._client, self._table, e164, callback_id)

    def requests_to_close(self, e164: str, created_before_ms: int, event_id: str) -> list[ClosingRequest]:
        # gsi1sk = "<created_at ISO-8601 UTC>#<id>"; everything created up to that second.
        bound = datetime.fromtimestamp(created_before_ms // 1000 + 1, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p AND gsi1sk < :b",
            "ExpressionAttributeValues": {":p": {"S": f"PHONE#{e164}"}, ":b": {"S": bound}},
        }
        found: list[ClosingRequest] = []
        while True:
            page = self._client.query(**kwargs)
            for raw in page.get("Items", []):
                item = from_item(raw)
                pk = str(item.get("pk", ""))
                if item.get("sk") != "REQUEST" or not pk.startswith("CB#"):
                    continue
                if item.get("status") in {s.value for s in OPEN} or item.get("status_event") == event_id:
                    callback_id = pk.removeprefix("CB#")
                    generations = int(str(item.get("reschedule_count") or 0))
                    found.append(ClosingRequest(callback_id, callback_entry_ids(callback_id, generations)))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def open_states(self, callback_ids: Sequence[str]) -> dict[str, CallbackState]:
        """``ports.projections.CallbackStates``: one consistent BatchGetItem per 100 ids."""
        states: dict[str, CallbackState] = {}
        terminal = {s.value for s in TERMINAL}
        unique = sorted(set(callback_ids))
        for start in range(0, len(unique), 100):
            keys: list[dict[str, Any]] = [
                {"pk": {"S": f"CB#{cid}"}, "sk": {"S": "REQUEST"}} for cid in unique[start : start + 100]
            ]
            for attempt in range(8):
                answer = self._client.batch_get_item(
                    RequestItems={
                        self._table: {
                            "Keys": keys,
                            "ProjectionExpression": "pk, #s, outbox_entry_id",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ConsistentRead": True,
                        }
                    }
                )
                for item in answer.get("Responses", {}).get(self._table, []):
                    callback_id = item["pk"]["S"].removeprefix("CB#")
                    status = item.get("status", {}).get("S")
                    entry_id = item.get("outbox_entry_id", {}).get("S")
                    states[callback_id] = CallbackState("closed" if status in terminal else "open", entry_id)
                keys = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not keys:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("callback states: DynamoDB kept keys unprocessed")
        return states

    def status(self, callback_id: str) -> dict[str, Any] | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"CB#{callback_id}"}, "sk": {"S": "REQUEST"}},
            ProjectionExpression="#s, status_at, status_reason",
            ExpressionAttributeNames={"#s": "status"},
        )
        item = answer.get("Item")
        if not item:
            return None
        plain = from_item(item)
        if plain.get("status") not in {s.value for s in CallbackStatus}:
            return None
        return plain
