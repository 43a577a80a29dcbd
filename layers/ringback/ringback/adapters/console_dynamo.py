"""The console's reads beyond the ProjectionsTable's partitions: the aggregate items in one
BatchGetItem, outbox states by key, the newest receipts, and the DLQ depths (cached briefly)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ringback.adapters.aws import client as aws_client
from ringback.adapters.dynamo import from_item
from ringback.adapters.outbox_dynamo import entry_key
from ringback.adapters.routing_degraded import routing_degraded_key
from ringback.domain.receipts import Receipt

_BATCH_GET = 100
DEPTHS_TTL_S: Final = 30.0


class DynamoConsoleAggregates:
    """Implements ``ports.console.ConsoleAggregates``: one BatchGetItem over the ProjectionsTable
    (the funnel's counter shards) and the GuardTable (``routing_degraded_key``)."""

    def __init__(self, projections_table: str, guard_table: str, *, client: Any = None) -> None:
        self._projections = projections_table
        self._guard = guard_table
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0)

    def read(self, keys: Sequence[tuple[str, str]], day: str) -> tuple[list[dict[str, Any]], int | None]:
        request: dict[str, Any] = {}
        if keys:
            request[self._projections] = {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys]}
        if self._guard:
            request[self._guard] = {"Keys": [{"pk": {"S": routing_degraded_key(day)}}]}
        found: dict[str, list[dict[str, Any]]] = {self._projections: [], self._guard: []}
        for _ in range(5):
            if not request:
                break
            answer = self._client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                found.setdefault(table, []).extend(from_item(item) for item in items)
            request = answer.get("UnprocessedKeys") or {}
        guard = found.get(self._guard, []) if self._guard else []
        degraded = int(guard[0].get("count", 0)) if guard else (0 if self._guard and not request else None)
        return found.get(self._projections, []), degraded


class DynamoOutboxStates:
    """Implements ``ports.console.OutboxStates`` (BatchGetItem by key, only the state)."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self._table = table
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0)

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


class DynamoRecentReceipts:
    """The newest receipts in one Query: the outbox's ``gsi1`` projects every attribute, so the
    ``RUNS`` partition already holds each receipt's body (``DynamoReceipts.recent`` reads each
    again by key, one round trip per receipt). Implements ``ReceiptStore.recent`` only."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self._table = table
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0)

    def recent(self, limit: int = 20) -> list[Receipt]:
        answer = self._client.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "RUNS"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            Receipt.model_validate_json(item["body"]["S"])
            for item in answer.get("Items", [])
            if "body" in item
        ]


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
