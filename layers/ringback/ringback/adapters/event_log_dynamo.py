"""The event log on DynamoDB (EventLogTable): one item per event, written once.

Item: ``pk = "EVENT#<event_id>"``, ``sk = "EVENT"``, ``source``, ``event_type``, ``known``,
``occurred_at`` / ``received_at`` (epoch ms), ``payload`` (the event's JSON text) and
``expires_at`` (epoch seconds, DynamoDB TTL: ``settings.event_retention_days`` after arrival).
The table's stream (NEW_IMAGE) feeds the ProjectorFunction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from ringback.adapters.aws import client as aws_client
from ringback.adapters.dynamo import deserialize_value, to_item
from ringback.domain.events.envelope import EventSource, LoggedEvent
from ringback.domain.events.projections import ProjectionRecord
from ringback.observability import logger, metrics

LOG_SK = "EVENT"


def log_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def to_log_item(event: LoggedEvent, retention_days: int) -> dict[str, Any]:
    return {
        "pk": {"S": log_pk(event.event_id)},
        "sk": {"S": LOG_SK},
        "event_id": {"S": event.event_id},
        "source": {"S": event.source.value},
        "event_type": {"S": event.event_type},
        "known": {"BOOL": event.known},
        "occurred_at": {"N": str(event.occurred_at)},
        "received_at": {"N": str(event.received_at)},
        "payload": {"S": json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)},
        "expires_at": {"N": str(event.received_at // 1000 + retention_days * 86400)},
    }


def logged_from_item(item: Mapping[str, Any]) -> LoggedEvent:
    """A log item (low-level attribute values, as in a stream record's NewImage) as an event."""
    plain = {k: deserialize_value(v) for k, v in item.items()}
    return LoggedEvent(
        source=EventSource(str(plain["source"])),
        event_type=str(plain["event_type"]),
        event_id=str(plain["event_id"]),
        known=bool(plain.get("known", False)),
        occurred_at=int(plain["occurred_at"]),
        received_at=int(plain["received_at"]),
        payload=json.loads(str(plain.get("payload") or "{}")),
    )


def record_item(record: ProjectionRecord) -> dict[str, Any]:
    return to_item({**record.data, "pk": record.pk, "sk": record.sk})


class DynamoEventLog:
    """Implements ``ports.event_log.EventLog``.

    ``retry_after_timeout``: asked when a write timed out (the webhook path's clients make one
    attempt, ``adapters.aws``); True tries it once more at once. The first attempt may have been
    written all the same (DynamoDB answered after the client gave up), so the second asks for the
    stored item when its condition fails: the same ``received_at`` and payload is this write's
    own first attempt (accepted), anything else an earlier delivery (a duplicate)."""

    def __init__(
        self,
        table: str,
        *,
        retention_days: int,
        client: Any = None,
        retry_after_timeout: Callable[[], bool] | None = None,
    ) -> None:
        self._table = table
        self._retention_days = retention_days
        self._client = client or aws_client("dynamodb", connect_timeout=1.0, read_timeout=3.0)
        self._retry_after_timeout = retry_after_timeout

    def append(self, event: LoggedEvent) -> bool:
        # One conditional put: a redelivery (same event_id) fails the condition and writes
        # nothing. (Projections are written after it; if that fails, the stream re-projects.)
        item = to_log_item(event, self._retention_days)
        try:
            return self._put(item, second=False)
        except (ReadTimeoutError, ConnectTimeoutError) as error:
            if self._retry_after_timeout is None or not self._retry_after_timeout():
                raise
            logger.warning(
                "event log write timed out; tried again", extra={"error_type": type(error).__name__}
            )
            metrics.add_metric(name="EventLogWriteRetried", unit=MetricUnit.Count, value=1)
        return self._put(item, second=True)

    def _put(self, item: dict[str, Any], *, second: bool) -> bool:
        extra = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if second else {}
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)", **extra
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                response: Mapping[str, Any] = error.response  # holds "Item" when asked for
                stored: Mapping[str, Any] = response.get("Item") or {}
                return second and all(stored.get(k) == item[k] for k in ("received_at", "payload"))
            raise
        return True

    def get(self, event_id: str) -> LoggedEvent | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": log_pk(event_id)}, "sk": {"S": LOG_SK}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return logged_from_item(item) if item else None

    def scan(self) -> Iterator[LoggedEvent]:
        now_s = int(time.time())
        kwargs: dict[str, Any] = {"TableName": self._table}
        while True:
            page = self._client.scan(**kwargs)
            for item in page.get("Items", []):
                if item.get("sk", {}).get("S") != LOG_SK:
                    continue
                # DynamoDB deletes expired items up to two days late (moto never): skip them.
                if (
                    int(item.get("expires_at", {}).get("N", "0") or 0)
                    and int(item["expires_at"]["N"]) < now_s
                ):
                    continue
                yield logged_from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
