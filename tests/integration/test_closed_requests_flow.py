"""A closed request is never dialled (issue 11 point 3), end to end on moto and the Webitel
sandbox: the callbacks, events, projector and dialer functions as Lambda runs them.

An inbound call bridged to an agent for the number closes the request: fired before the upload,
the schedule creates no member; after the upload, the schedule stops the member in Webitel
(``PATCH ... stop_cause=cancel``), once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from devstack import aws
from devstack.aws import aws_client
from ringback.domain.outbox import CALLBACK_TAG
from tests.integration.test_callbacks_handler import Api, new_mobile, put_config
from tests.support.events import http_event
from tests.support.streams import stream_records

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    from ringback.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


class Stack:
    """The four functions, each loaded with its own environment from template.yaml."""

    def __init__(
        self,
        lambda_env: Callable[..., dict[str, str]],
        load_handler: Callable[[str], ModuleType],
        context: Any,
        stack: aws.ProvisionedStack,
    ) -> None:
        self._env, self._load, self.context, self.stack = lambda_env, load_handler, context, stack

    def callbacks(self) -> Api:
        self._env("CallbacksFunction")
        self._env("CallbacksFunction", RINGBACK_CONFIG_PARAMETER=put_config())
        return Api(self._load("CallbacksFunction"), self.context)

    def inbound_bridged(self, phone: str) -> None:
        """Webitel's hook for the customer's inbound call bridged to an agent, then the stream."""
        self._env("EventsFunction")
        events = self._load("EventsFunction")
        body = {"event": "bridged", "direction": "inbound", "uuid": f"in-{uuid.uuid4()}", "cid": phone}
        event = http_event(
            "POST",
            "/v1/events/webitel",
            body=body,
            headers={"authorization": f"Bearer {self.stack.tokens['events']}"},
        )
        answer = events.lambda_handler(event, self.context)
        assert answer["statusCode"] == 202, answer
        event_ids = {e["event_id"] for e in json.loads(answer["body"])["events"]}
        self._env("ProjectorFunction")
        projector = self._load("ProjectorFunction")
        records = stream_records(self.stack, event_ids)
        assert records
        assert projector.lambda_handler({"Records": records}, self.context) == {"batchItemFailures": []}

    def fire_callbacks_schedule(self) -> dict[str, Any]:
        self._env("DialerFunction")
        dialer = self._load("DialerFunction")
        summary: dict[str, Any] = dialer.lambda_handler({"job": "callbacks"}, self.context)
        return summary


@pytest.fixture
def stack(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    webitel_sandbox: Any,
) -> Stack:
    webitel_sandbox.faults.reset()
    return Stack(lambda_env, load_handler, lambda_context, moto_stack)


def members_for(sandbox: Any, callback_id: str) -> list[dict[str, Any]]:
    return [m for m in sandbox.members("1") if m.get("variables", {}).get(CALLBACK_TAG) == callback_id]


def test_inbound_bridged_before_the_upload_means_no_member(stack: Stack, webitel_sandbox: Any) -> None:
    api = stack.callbacks()
    phone = new_mobile()
    status, answer, _ = api("POST", "/v1/callbacks", body={"mode": "later", "phone": phone})
    assert status == 202, answer
    assert members_for(webitel_sandbox, answer["id"]) == []  # "later": left for the schedule
    stack.inbound_bridged(phone)
    assert api("GET", f"/v1/callbacks/{answer['id']}")[1]["status"] == "completed"
    stack.fire_callbacks_schedule()
    assert members_for(webitel_sandbox, answer["id"]) == []


def test_inbound_bridged_after_the_upload_stops_the_member(stack: Stack, webitel_sandbox: Any) -> None:
    api = stack.callbacks()
    phone = new_mobile()
    status, answer, _ = api("POST", "/v1/callbacks", body={"mode": "later", "phone": phone})
    assert status == 202, answer
    stack.fire_callbacks_schedule()
    (member,) = members_for(webitel_sandbox, answer["id"])
    assert not member.get("stop_cause")
    stack.inbound_bridged(phone)
    assert members_for(webitel_sandbox, answer["id"])[0].get("stop_cause") in (
        None,
        "",
    )  # not yet: a stop order
    webitel_sandbox.faults.update({"down": True})
    stack.fire_callbacks_schedule()  # Webitel unreachable: the order stays
    webitel_sandbox.faults.reset()
    assert members_for(webitel_sandbox, answer["id"])[0].get("stop_cause") in (None, "")
    ddb = aws_client("dynamodb", stack.stack.endpoint)
    key = {"pk": {"S": f"OUT#cb_{answer['id']}"}, "sk": {"S": "ENTRY"}}
    table = stack.stack.names["DialerOutboxTable"]
    ddb.update_item(  # the backoff passes
        TableName=table,
        Key=key,
        UpdateExpression="SET stop_due_at = :d, gsi1sk = :s",
        ExpressionAttributeValues={
            ":d": {"S": "2000-01-01T00:00:00.000000Z"},
            ":s": {"S": f"2000-01-01T00:00:00.000000Z#cb_{answer['id']}"},
        },
    )
    stack.fire_callbacks_schedule()
    (stopped,) = members_for(webitel_sandbox, answer["id"])
    assert stopped["stop_cause"] == "cancel"
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["member_stop"]["S"] == "done" and "gsi1pk" not in item
