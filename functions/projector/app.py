"""Re-project event-log records from the table's DynamoDB stream (partial batch failures), and
callback requests from the CallbacksTable's stream into the console's rows."""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import events_factory as wiring
from ringback.adapters.dynamo import from_item
from ringback.adapters.event_log_dynamo import LOG_SK, logged_from_item
from ringback.observability import logger, metrics

# A batch's records are applied concurrently (on asyncio's default thread pool): every
# projection is order-tolerant and idempotent (conditional, versioned writes that read again on a
# conflict), as it must be anyway for the streams' shards that Lambda processes in parallel, so
# the batch takes about as long as its slowest few records instead of their sum (the projection
# lag of bench/events.py). A failed record is reported alone (partial batch response).
processor = AsyncBatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    """Apply one logged event; an exception marks just this record as failed (retried)."""
    change = record.raw_event.get("dynamodb") or {}
    image, old = change.get("NewImage"), change.get("OldImage")
    keys = change.get("Keys") or image or old or {}
    if keys.get("sk", {}).get("S") == "REQUEST":  # the CallbacksTable's stream
        removed = record.event_name is not None and record.event_name.name == "REMOVE"
        wiring.projector().apply_request(
            None if removed or not image else from_item(image), from_item(old) if old else None
        )
        return
    if record.event_name is None or record.event_name.name == "REMOVE" or not image:
        return  # TTL deletions and key-only records change no projection
    if image.get("sk", {}).get("S") != LOG_SK:
        return
    wiring.projector().apply(logged_from_item(image))


async def concurrent_record_handler(record: DynamoDBRecord) -> None:
    await asyncio.to_thread(record_handler, record)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return async_process_partial_response(
        event=event, record_handler=concurrent_record_handler, processor=processor, context=context
    )
