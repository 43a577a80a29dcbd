"""The local moto server runs DynamoDB requests one at a time (DynamoDB's conditional writes are
atomic; moto's threaded server alone is not), and leaves every other service concurrent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from devstack.moto_server import DYNAMODB_TARGET, DynamoLoad, serialize_dynamodb

pytestmark = pytest.mark.unit

CALLERS = 6


def max_concurrency(target: str) -> int:
    inside, most = 0, 0
    counter = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        nonlocal inside, most
        with counter:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)  # room for the callers released together to overlap, were they allowed
        with counter:
            inside -= 1
        return [b"{}"]

    wrapped = serialize_dynamodb(app)
    barrier = threading.Barrier(CALLERS)

    def call() -> None:
        barrier.wait()
        assert list(wrapped({"HTTP_X_AMZ_TARGET": target}, lambda *_: None)) == [b"{}"]

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return most


def test_dynamodb_requests_run_one_at_a_time() -> None:
    assert max_concurrency(DYNAMODB_TARGET + "UpdateItem") == 1


@pytest.mark.parametrize("target", ["AmazonSQS.ReceiveMessage", "DynamoDBStreams_20120810.GetRecords"])
def test_other_services_stay_concurrent(target: str) -> None:
    # SQS long polls (and DynamoDB Streams reads) must not wait behind each other: two requests
    # meet inside the app, which only two concurrent requests can do.
    meeting = threading.Barrier(2, timeout=30)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        meeting.wait()
        return [b"{}"]

    wrapped = serialize_dynamodb(app)
    answers: list[list[bytes]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(list(wrapped({"HTTP_X_AMZ_TARGET": target}, print))))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [[b"{}"], [b"{}"]]


def test_the_dynamodb_load_counts_each_operation_and_nothing_else() -> None:
    """What the load benchmark prints of moto: DynamoDB requests per operation, others not."""
    load = DynamoLoad()
    wrapped = serialize_dynamodb(lambda environ, start_response: [b"{}"], load)
    for target in [DYNAMODB_TARGET + "PutItem", DYNAMODB_TARGET + "PutItem", DYNAMODB_TARGET + "GetItem"]:
        assert list(wrapped({"HTTP_X_AMZ_TARGET": target}, print)) == [b"{}"]
    list(wrapped({"HTTP_X_AMZ_TARGET": "AmazonSQS.SendMessage"}, print))
    counts = {name: count for name, (count, seconds) in load.snapshot().items() if seconds >= 0}
    assert counts == {"PutItem": 2, "GetItem": 1}
