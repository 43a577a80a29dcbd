"""A fixed-window rate limiter on the GuardTable: one conditional UpdateItem per hit.

Item ``pk = "<key>#<window start epoch s>"`` with a ``hits`` counter and ``expires_at`` (TTL) at
the window's end plus a minute; the condition refuses the hit once the window is full.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ringback.adapters.aws import client as aws_client
from ringback.ports.event_guard import RateDecision


class DynamoFixedWindowLimiter:
    """Implements ``ports.event_guard.RateLimiter``."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self._table = table
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=2.0, max_attempts=2)

    def hit(self, key: str, *, limit: int, window_s: int, now: datetime) -> RateDecision:
        now_s = int(now.timestamp())
        start = now_s - now_s % window_s
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"{key}#{start}"}},
                UpdateExpression="ADD hits :one SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":exp": {"N": str(start + window_s + 60)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return RateDecision(False, max(1, start + window_s - now_s))
            raise
        return RateDecision(True)
