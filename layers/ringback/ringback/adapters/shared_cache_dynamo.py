"""GuardTable items ``CACHE#<key>``: a value every container shares, refreshed by one at a time.

Its own module (no abuse rules, no phone numbers) because ``GET /v1/status``, the page-view
route, reads it on a cold start.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ringback.ports.rate_limits import CachedValue


def _conditional_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


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
