"""Erasure tombstones in DialerOutboxTable (``ports.erasures``).

``pk = "ERASE#<keyed hash of the number>"``, ``sk = "TOMBSTONE"``; ``targets`` (a string set of
outbox entry and request targets, no number), ``phone_masked``, ``local_done``, ``attempts``;
``gsi1pk = "ERASURES"``, ``gsi1sk = "<due ISO>#<key>"`` for the dialer schedule's retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ringback.adapters.aws import client
from ringback.adapters.outbox_dynamo import iso
from ringback.ports.erasures import Tombstone

_SK = "TOMBSTONE"
_INDEX = "ERASURES"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _key(key: str) -> dict[str, Any]:
    return {"pk": _s(f"ERASE#{key}"), "sk": _s(_SK)}


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class DynamoErasureTombstones:
    """Implements ``ports.erasures.ErasureTombstones``."""

    def __init__(self, table: str, *, dynamodb: Any = None) -> None:
        if not table:
            raise ValueError("the outbox table name is not configured")
        self._table = table
        self._ddb = dynamodb if dynamodb is not None else client("dynamodb")

    @staticmethod
    def _tombstone(item: dict[str, Any]) -> Tombstone:
        return Tombstone(
            key=item["pk"]["S"].removeprefix("ERASE#"),
            phone_masked=item.get("phone_masked", {}).get("S", ""),
            targets=tuple(sorted(item.get("targets", {}).get("SS", []))),
            local_done=bool(item.get("local_done", {}).get("BOOL", False)),
            requested_at=_parse(item["requested_at"]["S"]),
            due_at=_parse(item["due_at"]["S"]),
            attempts=int(item.get("attempts", {}).get("N", "0")),
        )

    def open(self, key: str, *, phone_masked: str, targets: Sequence[str], now: datetime) -> Tombstone:
        values: dict[str, Any] = {
            ":m": _s(phone_masked),
            ":now": _s(iso(now)),
            ":false": {"BOOL": False},
            ":pk": _s(_INDEX),
            ":sk": _s(f"{iso(now)}#{key}"),
            ":zero": {"N": "0"},
        }
        update = (
            "SET phone_masked = :m, local_done = :false, requested_at = if_not_exists(requested_at, :now), "
            "due_at = :now, gsi1pk = :pk, gsi1sk = :sk, attempts = if_not_exists(attempts, :zero)"
        )
        if targets:
            update += " ADD targets :t"
            values[":t"] = {"SS": sorted(set(targets))}
        answer = self._ddb.update_item(
            TableName=self._table,
            Key=_key(key),
            UpdateExpression=update,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return self._tombstone(answer["Attributes"])

    def get(self, key: str) -> Tombstone | None:
        item = self._ddb.get_item(TableName=self._table, Key=_key(key), ConsistentRead=True).get("Item")
        return self._tombstone(item) if item else None

    def settle(
        self, key: str, *, pending: Sequence[str], local_done: bool, due_at: datetime, failed: bool
    ) -> None:
        current = self.get(key)
        if current is None:
            return
        left = sorted(set(pending))
        if not left and local_done:
            self._ddb.delete_item(TableName=self._table, Key=_key(key))
            return
        done = sorted(set(current.targets) - set(left))
        values: dict[str, Any] = {
            ":local": {"BOOL": local_done},
            ":due": _s(iso(due_at)),
            ":sk": _s(f"{iso(due_at)}#{key}"),
            ":n": {"N": "1" if failed else "0"},
        }
        update = "SET local_done = :local, due_at = :due, gsi1sk = :sk ADD attempts :n"
        if done:
            update += " DELETE targets :done"
            values[":done"] = {"SS": done}
        self._ddb.update_item(
            TableName=self._table,
            Key=_key(key),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
        )

    def claim_due(self, now: datetime, *, limit: int, lease_s: int) -> list[Tombstone]:
        answer = self._ddb.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :upto",
            ExpressionAttributeValues={":pk": _s(_INDEX), ":upto": _s(f"{iso(now)}#~")},
            ProjectionExpression="pk",
            Limit=max(limit, 10),
        )
        until = now + timedelta(seconds=lease_s)
        taken: list[Tombstone] = []
        for found in answer.get("Items", [])[:limit]:
            key = found["pk"]["S"].removeprefix("ERASE#")
            try:
                item = self._ddb.update_item(
                    TableName=self._table,
                    Key=_key(key),
                    UpdateExpression="SET due_at = :until, gsi1sk = :sk",
                    ConditionExpression="due_at <= :now",
                    ExpressionAttributeValues={
                        ":until": _s(iso(until)),
                        ":sk": _s(f"{iso(until)}#{key}"),
                        ":now": _s(iso(now)),
                    },
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    continue
                raise
            taken.append(self._tombstone(item))
        return taken
