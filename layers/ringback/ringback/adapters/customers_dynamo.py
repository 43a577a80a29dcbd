"""The customer directory in DynamoDB (CustomersTable, one item per phone number).

Item: ``pk = "PHONE#<e164>"``, the entry's fields (strings, ``debt`` as BOOL, ``priority`` as N;
empty fields are left out) and ``fp``, the entry's fingerprint (see ``domain.customers``).
The routing read of an entry is ``adapters.routing_dynamo`` (one ``BatchGetItem`` with the
number's open-callback pointer); this module must stay cheap to import for it (no boto3).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from ringback.domain.customers import PK_PREFIX, DirectoryEntry

_BATCH = 25
_STRING_FIELDS = (
    "customer_id",
    "name",
    "debt_amount",
    "debt_currency",
    "debt_as_of",
    "segment",
    "agent_extension",
    "bucket_id",
    "language",
)


def import_client() -> Any:
    """A DynamoDB client for bulk imports: patient, with retries for throttling."""
    from ringback.adapters import aws

    return aws.client("dynamodb", connect_timeout=3.0, read_timeout=20.0, max_attempts=8)


def entry_to_item(entry: DirectoryEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": entry.pk},
        "fp": {"S": entry.fingerprint()},
        "debt": {"BOOL": entry.debt},
        "priority": {"N": str(entry.priority)},
    }
    for name in _STRING_FIELDS:
        value = getattr(entry, name)
        if value is not None and value != "":
            item[name] = {"S": value}
    return item


def entry_from_item(item: Mapping[str, Any]) -> DirectoryEntry:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value.get("S") if isinstance(value, dict) else None

    priority = item.get("priority", {}).get("N")
    return DirectoryEntry(
        e164=item["pk"]["S"].removeprefix(PK_PREFIX),
        customer_id=text("customer_id") or "",
        name=text("name"),
        debt=bool(item.get("debt", {}).get("BOOL", False)),
        debt_amount=text("debt_amount"),
        debt_currency=text("debt_currency"),
        debt_as_of=text("debt_as_of"),
        segment=text("segment"),
        priority=int(priority) if priority else 0,
        agent_extension=text("agent_extension"),
        bucket_id=text("bucket_id"),
        language=text("language"),
    )


class DynamoCustomerDirectory:
    """Implements ``ports.customers.CustomerDirectory``."""

    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client

    def find(self, e164: str) -> DirectoryEntry | None:
        response = self._client.get_item(TableName=self._table, Key={"pk": {"S": PK_PREFIX + e164}})
        item = response.get("Item")
        return entry_from_item(item) if item else None


class DynamoCustomerStore:
    """Implements ``ports.customers.CustomerStore`` (used by the CSV import)."""

    def __init__(self, table: str, client: Any, *, sleep: Any = time.sleep) -> None:
        self._table = table
        self._client = client
        self._sleep = sleep

    def fingerprints(self) -> dict[str, str]:
        result: dict[str, str] = {}
        kwargs: dict[str, Any] = {"TableName": self._table, "ProjectionExpression": "pk, fp"}
        while True:
            page = self._client.scan(**kwargs)
            for item in page.get("Items", []):
                pk = item.get("pk", {}).get("S", "")
                if pk.startswith(PK_PREFIX):
                    result[pk.removeprefix(PK_PREFIX)] = item.get("fp", {}).get("S", "")
            if "LastEvaluatedKey" not in page:
                return result
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put(self, entries: Sequence[DirectoryEntry]) -> None:
        for start in range(0, len(entries), _BATCH):
            requests = [{"PutRequest": {"Item": entry_to_item(e)}} for e in entries[start : start + _BATCH]]
            self._write_batch(requests)

    def delete(self, stale: Mapping[str, str]) -> int:
        deleted = 0
        for e164, fingerprint in stale.items():
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key={"pk": {"S": PK_PREFIX + e164}},
                    ConditionExpression="fp = :fp",
                    ExpressionAttributeValues={":fp": {"S": fingerprint}},
                )
                deleted += 1
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        return deleted

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending = requests
        for attempt in range(10):
            response = self._client.batch_write_item(RequestItems={self._table: pending})
            pending = response.get("UnprocessedItems", {}).get(self._table, [])
            if not pending:
                return
            self._sleep(min(0.05 * 2**attempt, 2.0))
        raise RuntimeError(f"{len(pending)} directory writes stayed unprocessed after retries")
