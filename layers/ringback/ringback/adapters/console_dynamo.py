"""The console's reads beyond the ProjectionsTable's partitions: the aggregate items in one
BatchGetItem, outbox states by key, the newest receipts, and the DLQ depths (cached briefly)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ringback.adapters.aws import client as aws_client
from ringback.adapters.dynamo import from_item
from ringback.adapters.outbox_dynamo import RECEIPT_SLOTS, entry_key, receipt_slot_key
from ringback.adapters.projections_dynamo import decode_counters, decode_entries
from ringback.adapters.routing_degraded import routing_degraded_key
from ringback.domain.events import console_rows as rows
from ringback.domain.receipts import Receipt
from ringback.ports.console import ConsoleSnapshot

_BATCH_GET = 100
_KEEP_DECODED = 256
DEPTHS_TTL_S: Final = 30.0


def console_client() -> Any:
    """The console's one DynamoDB client (cached by ``adapters.aws.client``). Its requests are
    built here with a fixed shape (the page's BatchGetItem of ~79 keys, the outbox states',
    the partitions' Queries), so botocore's client-side validation is skipped: it cost ~9 ms a
    poll (bench/console.py --profile); DynamoDB validates them anyway."""
    return aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0, validate_parameters=False)


class DynamoConsoleAggregates:
    """Implements ``ports.console.ConsoleAggregates``: one BatchGetItem over the ProjectionsTable
    (the console's counter and shard items), the GuardTable (``routing_degraded_key``) and the
    outbox (the receipts' ring, ``outbox_dynamo.receipt_slot_key``)."""

    def __init__(
        self, projections_table: str, guard_table: str, outbox_table: str, *, client: Any = None
    ) -> None:
        self._projections = projections_table
        self._guard = guard_table
        self._outbox = outbox_table
        self._client = client or console_client()
        self._decoded: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._receipts: dict[str, Receipt] = {}

    def _entries(self, item: dict[str, Any]) -> dict[str, Any]:
        """An item's decoded entries, kept per container while its version is the same (most
        polls find most items unchanged); the caller must not change them. An item without a
        version (no writer of ours makes one) is decoded every time."""
        if "e" not in item:  # a counter item: one number per counter
            return decode_counters(item)
        key = (item["pk"]["S"], item["sk"]["S"])
        version = item.get("v", {}).get("N")
        if version is None:
            return decode_entries(item)
        kept = self._decoded.get(key)
        if kept is not None and kept[0] == version:
            return kept[1]
        entries = decode_entries(item)
        if len(self._decoded) >= _KEEP_DECODED:
            self._decoded.clear()
        self._decoded[key] = (version, entries)
        return entries

    def _receipt(self, body: str) -> Receipt:
        """A receipt never changes once saved: parsed once per container (by its body)."""
        kept = self._receipts.get(body)
        if kept is None:
            if len(self._receipts) >= _KEEP_DECODED:
                self._receipts.clear()
            kept = self._receipts[body] = Receipt.model_validate_json(body)
        return kept

    def read(self, keys: Sequence[tuple[str, str]], day: str, receipts: int) -> ConsoleSnapshot:
        wanted: list[tuple[str, dict[str, Any]]] = [
            (self._projections, {"pk": {"S": pk}, "sk": {"S": sk}}) for pk, sk in keys
        ]
        if self._guard:
            wanted.append((self._guard, {"pk": {"S": routing_degraded_key(day)}}))
        if self._outbox and receipts:
            wanted += [(self._outbox, receipt_slot_key(slot)) for slot in range(RECEIPT_SLOTS)]
        # Only the attributes used: the answer's cost (and a local moto server's, which walks
        # the output shape per attribute value) grows with the values it carries.
        only: dict[str, dict[str, Any]] = {
            self._guard: {"ProjectionExpression": "#c", "ExpressionAttributeNames": {"#c": "count"}},
            self._outbox: {"ProjectionExpression": "body"},
        }
        found: dict[str, list[dict[str, Any]]] = {}
        unread = False
        for start in range(0, len(wanted), _BATCH_GET):
            request: dict[str, Any] = {}
            for table, key in wanted[start : start + _BATCH_GET]:
                request.setdefault(table, {"Keys": [], **only.get(table, {})})["Keys"].append(key)
            for attempt in range(5):
                answer = self._client.batch_get_item(RequestItems=request)
                for table, items in answer.get("Responses", {}).items():
                    found.setdefault(table, []).extend(items)
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.02 * 2**attempt)
            unread = unread or bool(request)
        guard = found.get(self._guard, []) if self._guard else []
        degraded: int | None
        if guard:
            degraded = int(guard[0].get("count", {}).get("N", "0"))
        else:
            degraded = None if not self._guard or unread else 0
        ring = sorted(
            (self._receipt(item["body"]["S"]) for item in found.get(self._outbox, []) if "body" in item),
            key=lambda receipt: (receipt.started_at.timestamp(), receipt.run_id),
            reverse=True,
        )
        newest: dict[str, Receipt] = {}
        for receipt in ring:
            newest.setdefault(receipt.run_id, receipt)
        return ConsoleSnapshot(
            [
                {
                    "pk": item["pk"]["S"],
                    "sk": item["sk"]["S"],
                    "e": self._entries(item),
                    "v": item.get("v", {}).get("N"),
                }
                for item in found.get(self._projections, [])
            ],
            degraded,
            list(newest.values())[:receipts],
        )

    def first_agents(self, pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
        """A Query of ``pk``'s items in agent order, pages of at most 1,000, until an agent past
        the first ``agents`` or ``max_items`` items. Strongly consistent: read after the
        counters it is kept by, it holds at least what they counted."""
        kwargs: dict[str, Any] = {
            "TableName": self._projections,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
            "Limit": min(1000, max_items),
            "ConsistentRead": True,
        }
        read: list[tuple[str, dict[str, Any]]] = []
        while len(read) < max_items:
            page = self._client.query(**kwargs)
            read += [(item["sk"]["S"], from_item(item)) for item in page.get("Items", [])]
            if rows.first_agents(read, agents)[1] or "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return rows.first_agents(read[:max_items], agents)[0]

    def board_rows(self, pk: str, max_rows: int) -> tuple[list[dict[str, Any]], bool]:
        """A Query of one board partition, in pages, until ``max_rows`` rows."""
        kwargs: dict[str, Any] = {
            "TableName": self._projections,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
            "ProjectionExpression": "sk, o, r",
            "Limit": max(1, min(2000, max_rows)),
            "ConsistentRead": True,
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                if "r" in item:
                    found.append(
                        {"sk": item["sk"]["S"], "o": item["o"]["S"], "r": json.loads(item["r"]["S"])}
                    )
            more = "LastEvaluatedKey" in page
            if not more or len(found) >= max_rows:
                return found[:max_rows], more or len(found) > max_rows
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            kwargs["Limit"] = max(1, min(2000, max_rows - len(found)))


class DynamoOutboxStates:
    """Implements ``ports.console.OutboxStates`` (BatchGetItem by key, only the state)."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self._table = table
        self._client = client or console_client()

    def states(self, entry_ids: Sequence[str]) -> dict[str, str]:
        states: dict[str, str] = {}
        ids = list(dict.fromkeys(entry_ids))
        for start in range(0, len(ids), _BATCH_GET):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [entry_key(i) for i in ids[start : start + _BATCH_GET]],
                    "ProjectionExpression": "entry_id, #s",
                    "ExpressionAttributeNames": {"#s": "state"},
                }
            }
            for _ in range(5):
                answer = self._client.batch_get_item(RequestItems=pending)
                for item in answer.get("Responses", {}).get(self._table, []):
                    states[item["entry_id"]["S"]] = item["state"]["S"]
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
        return states


class SqsQueueDepths:
    """Implements ``ports.console.QueueDepths``: ApproximateNumberOfMessages of named queues,
    kept ``ttl_s`` per container (an approximate depth does not need a read every poll)."""

    def __init__(self, queues: Mapping[str, str], *, client: Any = None, ttl_s: float = DEPTHS_TTL_S) -> None:
        self._queues = {name: url for name, url in queues.items() if url}
        self._client = client
        self._ttl = ttl_s
        self._kept: tuple[float, dict[str, int | None]] | None = None
        self._lock = threading.Lock()

    def depths(self) -> dict[str, int | None]:
        if not self._queues:
            return {}
        with self._lock:
            kept = self._kept
        if kept is not None and time.monotonic() - kept[0] < self._ttl:
            return dict(kept[1])
        depths = self._read()
        with self._lock:
            self._kept = (time.monotonic(), depths)
        return dict(depths)

    def _read(self) -> dict[str, int | None]:
        sqs = self._client or aws_client("sqs", connect_timeout=1.0, read_timeout=2.0, max_attempts=1)
        depths: dict[str, int | None] = {}
        for name, url in self._queues.items():
            try:
                answer = sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )
                depths[name] = int(answer["Attributes"]["ApproximateNumberOfMessages"])
            except Exception:  # health must show what it can: an unreadable queue is "unknown"
                depths[name] = None
        return depths
