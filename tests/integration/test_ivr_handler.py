"""The IVR callback routes end to end against the moto server and the Webitel sandbox: the offer
snapshot the schedule writes from the sandbox's queue report and the routing lookup reads, the
accept (member in the callback queue ahead of a later website request, by the sandbox's dial
order), idempotency, the cancel, 400 per field, the token rotation and a silent dependency."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest

from devstack import aws
from ringback.domain.outbox import CALLBACK_TAG
from tests.support import budgets
from tests.support.events import http_event, response_json
from tests.support.sockets import SilentServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("ivr"),
    pytest.mark.usefixtures("answer_budget"),
]

EVENTS = Path(__file__).resolve().parents[2] / "events"


def new_mobile() -> str:
    return "+42073" + str(random.randint(1, 8)) + "".join(random.choices("0123456789", k=6))


def put_config(**ivr: Any) -> str:
    config = {
        "timezone": "Europe/Prague",
        "business_hours": {},  # open around the clock
        "holidays": [],
        "callback_queue_id": "1",
        "debtor_queue_id": "2",
        "inbound_queue_id": "3",
        "communication_type_id": "1",
        "allowed_countries": ["CZ"],
        "site_keys": [],
        "ivr_callback": {"enabled": True, "offer_after_s": 60, "max_open": 50, **ivr},
    }
    name = f"/ringback/test/ivr-{uuid.uuid4().hex[:10]}"
    boto3.client("ssm").put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)
    return name


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class Ivr:
    def __init__(self, module: ModuleType, context: Any, token: str, config: str) -> None:
        self.config = config  # its operator-config parameter
        self.module = module
        self.context = context
        self.token = token

    def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
        event = http_event("POST", path, body=body, headers=bearer(token or self.token))
        response = self.module.lambda_handler(event, self.context)
        return int(response["statusCode"]), response_json(response)

    def accept(self, **body: Any) -> tuple[int, dict[str, Any]]:
        return self.post("/v1/callbacks/ivr", body)

    def refresh(self) -> dict[str, Any]:
        return dict(self.module.lambda_handler({"job": "ivr-offer"}, self.context))


@pytest.fixture
def ivr_factory(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    webitel_sandbox: Any,
) -> Iterator[Callable[..., Ivr]]:
    def make(**env: str) -> Ivr:
        lambda_env("IvrCallbacksFunction")
        config = put_config()
        lambda_env("IvrCallbacksFunction", RINGBACK_CONFIG_PARAMETER=config, **{**budgets.IVR, **env})
        return Ivr(load_handler("IvrCallbacksFunction"), lambda_context, moto_stack.tokens["ivr"], config)

    yield make
    webitel_sandbox.faults.reset()
    set_waiting(webitel_sandbox, "3", None, 0)
    set_waiting(webitel_sandbox, "1", None, 0)


def set_waiting(sandbox: Any, queue_id: str, waiting: int | None, avg_wait_s: float) -> None:
    answer = httpx.post(
        f"{sandbox.root_url}/_sandbox/queues/{queue_id}/waiting",
        json={"waiting": waiting, "avg_wait_s": avg_wait_s},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


def dial_order(sandbox: Any, queue_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{sandbox.root_url}/_sandbox/queues/{queue_id}/dial-order", timeout=5)
    assert answer.status_code == 200
    return list(answer.json()["members"])


def accept_body(cid: str, *, joined_ago_s: int = 90, call_id: str | None = None) -> dict[str, Any]:
    return {
        "cid": cid,
        "queue_id": "3",
        "joined_at": str(int(time.time() * 1000) - joined_ago_s * 1000),
        "call_id": call_id or str(uuid.uuid4()),
        "language": "cs",
    }


def test_the_offer_reaches_the_routing_answer_and_the_accept_keeps_the_callers_place(
    ivr_factory: Callable[..., Ivr],
    webitel_sandbox: Any,
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> None:
    ivr = ivr_factory()
    set_waiting(webitel_sandbox, "3", 6, 300)
    set_waiting(webitel_sandbox, "1", 2, 0)
    assert ivr.refresh()["capacity_left"] == 48

    lambda_env("RoutingFunction", RINGBACK_ROUTING_CACHE_TTL_S="0", **budgets.ROUTING)
    routing = load_handler("RoutingFunction")
    caller = new_mobile()
    event = http_event(
        "POST", "/v1/routing", body={"cid": caller}, headers=bearer(moto_stack.tokens["routing"])
    )
    answer = response_json(routing.lambda_handler(event, lambda_context))
    assert (answer["estimated_wait_s"], answer["offer_callback"], answer["wait_queue_id"]) == (
        "300",
        True,
        "3",
    )

    # The caller presses the key after 90 s in the queue.
    ivr = ivr_factory()
    body = accept_body(caller, joined_ago_s=90)
    joined_ms = int(body["joined_at"])
    status, accepted = ivr.accept(**body)
    answered_ms = int(time.time() * 1000)
    assert status == 200, accepted
    assert (accepted["accepted"], accepted["linked"], accepted["reason"]) == ("true", "false", "")
    # What was left of the 300 s wait when the accept was answered: 210 s, less any whole seconds
    # a loaded machine took between building the body and answering it.
    assert 300 - (answered_ms - joined_ms) // 1000 <= int(accepted["expected_call_in_s"]) <= 210
    assert accepted["position"] == "3"
    assert "Děkujeme" in accepted["say"]
    callback_id = accepted["callback_id"]

    # The same call again: the same answer (and still one member).
    assert ivr.accept(**body) == (200, accepted)

    # A website request made now, after the caller joined: the IVR member is offered first.
    lambda_env("CallbacksFunction")
    lambda_env("CallbacksFunction", RINGBACK_CONFIG_PARAMETER=ivr.config)  # open now, like the IVR
    web = load_handler("CallbacksFunction")
    submit = http_event(
        "POST",
        "/v1/callbacks",
        body={"mode": "now", "phone": new_mobile(), "consent": True},
        headers={"origin": "http://127.0.0.1:3000"},
    )
    submitted = web.lambda_handler(submit, lambda_context)
    assert submitted["statusCode"] == 202, submitted["body"]
    web_id = response_json(submitted)["id"]
    order = [m["variables"].get(CALLBACK_TAG) for m in dial_order(webitel_sandbox, "1")]
    assert callback_id in order and web_id in order
    assert order.index(callback_id) < order.index(web_id)
    (member,) = [m for m in webitel_sandbox.members("1") if m["variables"].get(CALLBACK_TAG) == callback_id]
    assert member["min_offering_at"] == body["joined_at"]

    # The repeat caller's lookup says pending_callback, so no offer; the cancel stops the member.
    answer = response_json(routing.lambda_handler(event, lambda_context))
    assert answer["pending_callback"] is True and answer["offer_callback"] is False
    status, cancelled = ivr.post("/v1/callbacks/ivr/cancel", {"cid": caller, "call_id": str(uuid.uuid4())})
    assert status == 200
    assert (cancelled["cancelled"], cancelled["callback_id"]) == ("true", callback_id)
    (member,) = [m for m in webitel_sandbox.members("1") if m["variables"].get(CALLBACK_TAG) == callback_id]
    assert member["stop_cause"] == "cancel"
    status, again = ivr.post("/v1/callbacks/ivr/cancel", {"cid": caller, "call_id": str(uuid.uuid4())})
    assert (status, again["cancelled"], again["reason"]) == (200, "false", "none_open")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cid": "hello"}, "cid"),
        ({"queue_id": "x"}, "queue_id"),
        ({"joined_at": "soon"}, "joined_at"),
        ({"call_id": ""}, "call_id"),
        ({"language": "1"}, "language"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    ivr_factory: Callable[..., Ivr], changes: dict[str, Any], field: str
) -> None:
    ivr = ivr_factory()
    status, body = ivr.accept(**{**accept_body(new_mobile()), **changes})
    assert status == 400
    assert (body["error"], body["field"]) == ("invalid_request", field)


def test_token_rotation_and_401(ivr_factory: Callable[..., Ivr], moto_stack: aws.ProvisionedStack) -> None:
    sm = aws.aws_client("secretsmanager", moto_stack.endpoint)
    secret_id = moto_stack.names["IvrTokensSecret"]
    original = moto_stack.tokens["ivr"]
    ivr = ivr_factory()
    body = {"cid": new_mobile(), "call_id": "rotation-1"}
    try:
        assert ivr.post("/v1/callbacks/ivr/cancel", body)[0] == 200  # tokens read and cached now
        sm.put_secret_value(
            SecretId=secret_id, SecretString=json.dumps({"current": original, "next": "ivr-next-1"})
        )
        # Added after the tokens were cached: a mismatch re-reads the secret, so it works at once.
        assert ivr.post("/v1/callbacks/ivr/cancel", body, token="ivr-next-1")[0] == 200
        assert ivr.post("/v1/callbacks/ivr/cancel", body)[0] == 200
        status, refused = ivr.post("/v1/callbacks/ivr/cancel", body, token="wrong")
        assert (status, refused["error"]) == (401, "unauthorized")
        # The routing token is not an IVR token: each route has its own secret.
        assert ivr.post("/v1/callbacks/ivr/cancel", body, token=moto_stack.tokens["routing"])[0] == 401
    finally:
        sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"current": original}))


def test_a_silent_dynamodb_answers_degraded_within_the_budget(ivr_factory: Callable[..., Ivr]) -> None:
    hole = SilentServer()
    try:
        ivr = ivr_factory(AWS_ENDPOINT_URL_DYNAMODB=hole.url, RINGBACK_IVR_BUDGET_MS="300")
        status, body = ivr.accept(**accept_body(new_mobile()))
        assert status == 200
        assert (body["accepted"], body["reason"], body["callback_id"]) == ("false", "degraded", "")
        assert body["say"]
        status, cancelled = ivr.post("/v1/callbacks/ivr/cancel", {"cid": new_mobile(), "call_id": "c-9"})
        assert (status, cancelled["cancelled"], cancelled["reason"]) == (200, "false", "degraded")
        assert hole.accepted >= 1
    finally:
        hole.close()


@pytest.mark.parametrize("name", ["ivr-accept.json", "ivr-cancel.json"])
def test_sample_events(ivr_factory: Callable[..., Ivr], name: str, moto_stack: aws.ProvisionedStack) -> None:
    ivr = ivr_factory()
    event = json.loads((EVENTS / name).read_text())
    event["headers"]["authorization"] = f"Bearer {moto_stack.tokens['ivr']}"
    if name == "ivr-accept.json":
        event["body"] = json.dumps({**json.loads(event["body"]), "joined_at": str(int(time.time() * 1000))})
    response = ivr.module.lambda_handler(event, ivr.context)
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body.get("accepted", body.get("cancelled")) in ("true", "false")
    assert all(isinstance(value, str) for value in body.values())
