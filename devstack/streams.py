"""DynamoDB Streams -> Lambda, locally: poll moto's stream and invoke the function with batches,
with partial-failure retries and an on-failure queue, like an event source mapping."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from devstack.aws import REGION, aws_client
from devstack.functions import FunctionPool, InvocationError


class StreamPoller:
    def __init__(
        self,
        endpoint: str,
        stream_arn: str,
        pool: FunctionPool,
        *,
        batch_size: int = 100,
        max_retries: int = 3,
        on_failure_queue_url: str | None = None,
        interval_s: float = 0.3,
    ) -> None:
        self._streams = aws_client("dynamodbstreams", endpoint)
        self._sqs = aws_client("sqs", endpoint) if on_failure_queue_url else None
        self._arn = stream_arn
        self._pool = pool
        self._batch = batch_size
        self._retries = max_retries
        self._dlq = on_failure_queue_url
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"stream-{pool.name}", daemon=True)
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _iterators(self) -> dict[str, str]:
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        return {
            s["ShardId"]: self._streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for s in shards
        }

    def _loop(self) -> None:
        iterators: dict[str, str] = {}
        while not self._stop.is_set():
            found = False
            try:
                if not iterators:
                    iterators = self._iterators()
                for shard, iterator in list(iterators.items()):
                    answer = self._streams.get_records(ShardIterator=iterator, Limit=self._batch)
                    iterators[shard] = answer.get("NextShardIterator") or iterator
                    records = answer.get("Records", [])
                    if records:
                        found = True
                        self._deliver([self._lambda_record(r) for r in records])
            except Exception as error:  # keep polling through transient faults
                print(f"[streams] {self._pool.name}: {type(error).__name__}: {error}", flush=True)
                iterators = {}
            # Lambda polls a stream's shard at a base rate of 4 times a second (AWS Lambda guide,
            # "Using AWS Lambda with Amazon DynamoDB"); here a poll that found records is followed
            # by another at once, so a backlog drains batch after batch and only a quiet stream
            # waits ``interval_s`` (0.3 s, about that base rate).
            if not found:
                self._stop.wait(self._interval)

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        record = dict(record)
        record.setdefault("eventSource", "aws:dynamodb")
        record.setdefault("awsRegion", REGION)
        record["eventSourceARN"] = self._arn
        dynamodb = dict(record.get("dynamodb", {}))
        if "ApproximateCreationDateTime" in dynamodb and not isinstance(
            dynamodb["ApproximateCreationDateTime"], (int, float)
        ):
            dynamodb["ApproximateCreationDateTime"] = time.time()
        record["dynamodb"] = dynamodb
        normalised: dict[str, Any] = json.loads(json.dumps(record, default=str))
        return normalised

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        pending = records
        for attempt in range(self._retries + 1):
            try:
                result = self._pool.invoke({"Records": pending})
            except InvocationError:
                result = {
                    "batchItemFailures": [
                        {"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in pending
                    ]
                }
            failed_ids = (
                {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
                if isinstance(result, dict)
                else set()
            )
            self.delivered += len(pending) - len(failed_ids)
            pending = [r for r in pending if r["dynamodb"]["SequenceNumber"] in failed_ids]
            if not pending:
                return
            time.sleep(min(0.2 * 2**attempt, 2))
        if self._sqs and self._dlq:
            self._sqs.send_message(
                QueueUrl=self._dlq,
                MessageBody=json.dumps(
                    {
                        "requestContext": {"condition": "RetryAttemptsExhausted"},
                        "records": [r["dynamodb"].get("SequenceNumber") for r in pending],
                    }
                ),
            )
        # Counted once they are on the failure queue: whoever sees the count can read them there.
        self.failed += len(pending)
