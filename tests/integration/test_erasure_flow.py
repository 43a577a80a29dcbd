"""Erasure completes or stays pending (issue 11 point 4) on moto and the Webitel sandbox: the
erasure's Webitel part fails, a tombstone (no number) stays in the outbox table, the callbacks
schedule finishes it, and afterwards no table holds the raw number."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from devstack import aws
from devstack.aws import aws_client
from tests.integration import test_closed_requests_flow as flow
from tests.integration.test_callbacks_handler import new_mobile

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    from ringback.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


@pytest.fixture
def stack(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    webitel_sandbox: Any,
) -> Any:
    webitel_sandbox.faults.reset()
    yield flow.Stack(lambda_env, load_handler, lambda_context, moto_stack)
    webitel_sandbox.faults.reset()


def items_with(stack: aws.ProvisionedStack, text: str) -> list[str]:
    """Keys of every item of the callbacks and outbox tables whose content holds ``text``."""
    ddb = aws_client("dynamodb", stack.endpoint)
    found = []
    for table in (stack.names["CallbacksTable"], stack.names["DialerOutboxTable"]):
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                if text in json.dumps(item):
                    found.append(f"{table}:{item['pk']['S']}/{item['sk']['S']}")
    return found


def test_failed_webitel_delete_keeps_a_tombstone_until_the_schedule_finishes(
    stack: Any, webitel_sandbox: Any
) -> None:
    api = stack.callbacks()
    phone = new_mobile()
    status, answer, _ = api("POST", "/v1/callbacks", body={"mode": "now", "phone": phone, "consent": True})
    assert status == 202 and flow.members_for(webitel_sandbox, answer["id"])
    agent = {"authorization": f"Bearer {stack.stack.tokens['agent']}"}
    webitel_sandbox.faults.update({"down": True})
    status, report, _ = api("POST", "/v1/callbacks/erasure", body={"phone": phone}, headers=agent)
    assert status == 200 and report["complete"] is False and report["pending"], report
    assert items_with(stack.stack, phone) == []  # nothing local holds the number, even now
    digits = phone.removeprefix("+")
    assert items_with(stack.stack, digits) == []
    ddb = aws_client("dynamodb", stack.stack.endpoint)
    tombstones = [
        item
        for page in ddb.get_paginator("query").paginate(
            TableName=stack.stack.names["DialerOutboxTable"],
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": "ERASURES"}},
        )
        for item in page["Items"]
        if item.get("phone_masked", {}).get("S") == report["phone_masked"]
    ]
    assert len(tombstones) == 1 and len(tombstones[0]["targets"]["SS"]) == 2

    status, again, _ = api("POST", "/v1/callbacks/erasure", body={"phone": phone}, headers=agent)
    assert (
        status == 200 and again["complete"] is False and sorted(again["pending"]) == sorted(report["pending"])
    )
    assert flow.members_for(webitel_sandbox, answer["id"])  # still in Webitel

    webitel_sandbox.faults.reset()
    stack.fire_callbacks_schedule()
    assert flow.members_for(webitel_sandbox, answer["id"]) == []
    status, final, _ = api("POST", "/v1/callbacks/erasure", body={"phone": phone}, headers=agent)
    assert status == 200 and final["complete"] is True and final["pending"] == []
    assert items_with(stack.stack, phone) == []
    # The masked form is shared by other numbers of the session's other tests (same last
    # digits): only this request's items and the tombstone must be gone.
    masked = items_with(stack.stack, report["phone_masked"])
    assert [k for k in masked if answer["id"] in k or "ERASE#" in k] == []
