"""devstack's DynamoDB Streams poller (the local event source mapping) against the moto server:
batches in stream order, a backlog drained without waiting between batches, a failed record
retried alone, and what stays failed sent to the on-failure queue."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, cast

from devstack import aws
from devstack.aws import aws_client
from devstack.functions import FunctionPool
from devstack.streams import StreamPoller


class RecordingPool:
    """Stands in for a FunctionPool: keeps each batch it is handed and reports as failed, every
    time, the records whose ``pk`` is in ``failing``."""

    name = "recording"

    def __init__(self, failing: set[str] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.failing = failing or set()
        self.lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
        with self.lock:
            self.batches.append(keys)
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                for r in event["Records"]
                if r["dynamodb"]["Keys"]["pk"]["S"] in self.failing
            ]
        }

    def delivered(self) -> list[str]:
        with self.lock:
            return [key for batch in self.batches for key in batch]


def _table_with_stream(endpoint: str) -> tuple[str, str]:
    dynamodb = aws_client("dynamodb", endpoint)
    name = f"poller-{uuid.uuid4().hex[:8]}"
    described = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name, str(described["TableDescription"]["LatestStreamArn"])


def _wait_for(what: str, done: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_backlog_is_drained_batch_after_batch_in_stream_order(moto_stack: aws.ProvisionedStack) -> None:
    name, arn = _table_with_stream(moto_stack.endpoint)
    dynamodb = aws_client("dynamodb", moto_stack.endpoint)
    keys = [f"item-{n:02d}" for n in range(7)]
    for key in keys:
        dynamodb.put_item(TableName=name, Item={"pk": {"S": key}})
    pool = RecordingPool()
    # A poll interval far past the wait below: only a poller that reads again at once after a
    # poll that found records delivers the 4 batches in time.
    poller = StreamPoller(moto_stack.endpoint, arn, cast(FunctionPool, pool), batch_size=2, interval_s=60)
    poller.start()
    try:
        # The poller counts a batch's records once the invocation has answered.
        _wait_for("the 7 records", lambda: poller.delivered >= 7)
    finally:
        poller.stop()
    assert pool.delivered() == keys
    assert [len(batch) for batch in pool.batches] == [2, 2, 2, 1]
    assert poller.delivered == 7
    assert poller.failed == 0


def test_a_record_that_keeps_failing_is_retried_alone_then_sent_to_the_failure_queue(
    moto_stack: aws.ProvisionedStack,
) -> None:
    name, arn = _table_with_stream(moto_stack.endpoint)
    sqs = aws_client("sqs", moto_stack.endpoint)
    queue = sqs.create_queue(QueueName=f"{name}-failed")["QueueUrl"]
    dynamodb = aws_client("dynamodb", moto_stack.endpoint)
    for key in ("ok-1", "bad", "ok-2"):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": key}})
    pool = RecordingPool(failing={"bad"})
    poller = StreamPoller(
        moto_stack.endpoint,
        arn,
        cast(FunctionPool, pool),
        max_retries=2,
        on_failure_queue_url=queue,
        interval_s=0.1,
    )
    poller.start()
    try:
        _wait_for("the failed record's retries", lambda: poller.failed == 1)
    finally:
        poller.stop()
    # The batch once, then the failed record alone on each of its 2 retries.
    assert pool.batches == [["ok-1", "bad", "ok-2"], ["bad"], ["bad"]]
    assert poller.delivered == 2
    # The poller counts a failed record once it is on the queue; a long poll still waits for it.
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=5).get(
        "Messages", []
    )
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert len(body["records"]) == 1
