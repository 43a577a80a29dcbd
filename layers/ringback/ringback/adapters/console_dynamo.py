"""The console's reads: the CallbacksTable's status index, outbox states by key, DLQ depths.

``gsi2`` of the CallbacksTable (template.yaml) has ``status`` as its partition key and
``gsi1sk`` (``"<created ISO UTC>#<id>"``) as its sort key; only request items carry both, so
the index holds requests only, and DynamoDB keeps it in step with every status write: the
board can never drift from the requests. It projects ``domain.console.BOARD_ATTRIBUTES`` only
(no names, no e-mails). Each status is one Query (paged), issued concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final

from ringback.adapters.aws import client as aws_client
from ringback.adapters.dynamo import from_item
from ringback.adapters.outbox_dynamo import entry_key
from ringback.domain.receipts import Receipt

STATUS_INDEX: Final = "gsi2"
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console-ddb")
_BATCH_GET = 100


class DynamoConsoleRequests:
    """Implements ``ports.console.ConsoleRequests``."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        if not table:
            raise ValueError("the callbacks table name is not configured")
        self._table = table
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0)

    def by_status(
        self, statuses: Sequence[str], *, created_since: datetime | None = None
    ) -> list[dict[str, Any]]:
        since = created_since.astimezone(UTC).isoformat(timespec="seconds") if created_since else None
        found: list[dict[str, Any]] = []
        for items in _POOL.map(lambda status: self._query(status, since), statuses):
            found += items
        return found

    def _query(self, status: str, since: str | None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s" + (" AND gsi1sk >= :since" if since else ""),
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status}, **({":since": {"S": since}} if since else {})},
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._client.query(**kwargs)
            found += [
                from_item(item) for item in page.get("Items", []) if item.get("sk", {}).get("S") == "REQUEST"
            ]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


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
    """Implements ``ports.console.QueueDepths``: ApproximateNumberOfMessages of named queues."""

    def __init__(self, queues: Mapping[str, str], *, client: Any = None) -> None:
        self._queues = {name: url for name, url in queues.items() if url}
        self._client = client

    def depths(self) -> dict[str, int | None]:
        if not self._queues:
            return {}
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
