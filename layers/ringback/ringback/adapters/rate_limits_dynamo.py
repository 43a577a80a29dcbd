"""GuardTable: fixed-window counters, distinct-member caps and a shared status cache.

Every counter is one conditional ``UpdateItem`` (``ADD`` + ``if_not_exists`` TTL), or one part
of a caller's ``TransactWriteItems`` (``guard_update``), so a refused limit consumes nothing.
Items carry ``expires_at`` (TTL); moto never expires items, so windows are in the key.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ringback.domain.abuse import Guard, window_start
from ringback.ports.rate_limits import CachedValue, RateDecision

_TTL_SLACK_S = 300


def guard_update(table: str, guard: Guard) -> dict[str, Any]:
    """The ``Update`` part of a transaction that consumes ``guard`` (refused when exhausted)."""
    expires = int(guard.window_end.timestamp()) + _TTL_SLACK_S
    values: dict[str, Any] = {":limit": {"N": str(guard.limit)}, ":exp": {"N": str(expires)}}
    if guard.kind == "counter":
        values[":one"] = {"N": "1"}
        return {
            "TableName": table,
            "Key": {"pk": {"S": guard.storage_key}},
            "UpdateExpression": "ADD n :one SET expires_at = if_not_exists(expires_at, :exp)",
            "ConditionExpression": "attribute_not_exists(n) OR n < :limit",
            "ExpressionAttributeValues": values,
        }
    if not guard.member:
        raise ValueError("a distinct guard needs a member")
    values[":set"] = {"SS": [guard.member]}
    values[":m"] = {"S": guard.member}
    return {
        "TableName": table,
        "Key": {"pk": {"S": guard.storage_key}},
        "UpdateExpression": "ADD members :set SET expires_at = if_not_exists(expires_at, :exp)",
        "ConditionExpression": "attribute_not_exists(members) OR contains(members, :m) OR size(members) < :limit",
        "ExpressionAttributeValues": values,
    }


def _conditional_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class DynamoRateLimiter:
    """Implements ``ports.rate_limits.RateLimiter`` with one conditional UpdateItem per hit."""

    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client

    def hit(self, key: str, *, limit: int, window_s: int, now: datetime) -> RateDecision:
        start = window_start(now, window_s)
        end = start + timedelta(seconds=window_s)
        retry = max(math.ceil((end - now).total_seconds()), 1)
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"RL#{key}#{int(start.timestamp())}"}},
                UpdateExpression="ADD n :one SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(n) OR n < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":exp": {"N": str(int(end.timestamp()) + _TTL_SLACK_S)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if _conditional_failed(error):
                return RateDecision(False, limit, retry)
            raise
        return RateDecision(True, int(answer["Attributes"]["n"]["N"]), 0)


class DynamoSharedCache:
    """Implements ``ports.rate_limits.SharedCache`` on GuardTable items ``CACHE#<key>``."""

    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client

    def _key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": f"CACHE#{key}"}}

    def read(self, key: str) -> CachedValue | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(key)).get("Item")
        if not item or "value" not in item or "fetched_at" not in item:
            return None
        fetched = datetime.fromtimestamp(int(item["fetched_at"]["N"]) / 1000, UTC)
        return CachedValue(json.loads(item["value"]["S"]), fetched)

    def claim_refresh(self, key: str, *, now: datetime, lease_s: int) -> bool:
        now_ms = int(now.timestamp() * 1000)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(key),
                UpdateExpression="SET lease_until = :until, expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeValues={
                    ":until": {"N": str(now_ms + lease_s * 1000)},
                    ":now": {"N": str(now_ms)},
                    ":exp": {"N": str(int(now.timestamp()) + 3600)},
                },
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def write(self, key: str, value: dict[str, Any], *, now: datetime, ttl_s: int) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(key),
            UpdateExpression="SET #v = :v, fetched_at = :f, expires_at = :exp",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={
                ":v": {"S": json.dumps(value, separators=(",", ":"))},
                ":f": {"N": str(int(now.timestamp() * 1000))},
                ":exp": {"N": str(int(now.timestamp()) + ttl_s)},
            },
        )
