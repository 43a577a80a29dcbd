"""The day's counter of degraded routing answers in the GuardTable (``services.routing_degraded``).

Item ``pk = "HEALTH#routing_degraded#<day>"`` (the operator's day), ``count`` (``ADD``) and
``expires_at`` (TTL, a week later). The GuardTable holds the other fixed-window counters; the
counter is not a projection of the event log (no event is logged for an answer), so the
rebuild neither needs nor touches it. The console reads it in its one BatchGetItem.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from ringback.adapters.aws import webhook_client
from ringback.config import get_settings
from ringback.services.routing_degraded import DegradedTally

KEEP: Final = timedelta(days=8)


def routing_degraded_key(day: str) -> str:
    return f"HEALTH#routing_degraded#{day}"


class DynamoDegradedCounter:
    """Implements ``services.routing_degraded.DegradedCounter``."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        if not table:
            raise ValueError("the guard table name is not configured")
        self._table = table
        self._client = client or webhook_client("dynamodb")

    def add(self, day: str, count: int) -> None:
        expires = int((datetime.fromisoformat(day).replace(tzinfo=UTC) + KEEP).timestamp())
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": routing_degraded_key(day)}},
            UpdateExpression="ADD #c :n SET expires_at = :e",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":n": {"N": str(count)}, ":e": {"N": str(expires)}},
        )


def default_tally() -> DegradedTally:
    """The container's tally: the GuardTable counter, flushed on a one-thread executor."""
    settings = get_settings()
    zone = ZoneInfo(settings.report_timezone)
    return DegradedTally(
        DynamoDegradedCounter(settings.guard_table),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="routing-degraded"),
        today=lambda: datetime.now(zone).date().isoformat(),
        monotonic=time.monotonic,
    )
