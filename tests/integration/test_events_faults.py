"""The webhook routes when DynamoDB fails: 503 JSON with Retry-After, refused or silent.

The webhook path's clients give up after connect + read without a retry (adapters.aws,
WEBHOOK_*), so a silent endpoint cannot hold Webitel's hook past its 1000 ms; how long an
answer takes is measured in bench/, not asserted here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from devstack import aws
from ringback.adapters.aws import WEBHOOK_CONNECT_TIMEOUT_S, WEBHOOK_READ_TIMEOUT_S, WEBHOOK_RETRIES
from ringback.observability import metrics
from tests.support.events import http_event, response_json
from tests.support.sockets import SilentServer, refused_url

pytestmark = pytest.mark.integration

ORIGIN = "https://www.example.com"


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    if not metrics.provider.namespace:
        monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


def hook(token: str) -> dict[str, Any]:
    body = {
        "event": "bridged",
        "direction": "inbound",
        "queue": "1",
        "uuid": f"fault-{uuid.uuid4().hex[:10]}",
        "agent": "1001",
        "cid": "+420777666555",
        "timestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
    }
    return http_event("POST", "/v1/events/webitel", body=body, headers={"authorization": f"Bearer {token}"})


def widget() -> dict[str, Any]:
    body = {
        "type": "widget_open",
        "session_id": "s1",
        "site_key": "pk_demo_site",
        "at": datetime.now(UTC).isoformat(),
    }
    return http_event("POST", "/v1/events/widget", body=body, headers={"origin": ORIGIN})


def assert_503(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503, response["body"]
    assert int(response["headers"]["Retry-After"]) > 0
    assert response["headers"]["Content-Type"] == "application/json"
    assert response_json(response)["error"] == "unavailable"


def handled_errors(stdout: str) -> int:
    total = 0
    for line in stdout.splitlines():
        if line.startswith("{") and "EventsHandledErrors" in line:
            blob = json.loads(line)
            value = blob["EventsHandledErrors"]
            total += int(sum(value) if isinstance(value, list) else value)
    return total


def test_the_webhook_budget_fits_webitels_1000_ms() -> None:
    # One attempt (no botocore retry sleep) of connect + read, with room for API Gateway and Lambda.
    assert WEBHOOK_RETRIES == 0
    assert (WEBHOOK_CONNECT_TIMEOUT_S + WEBHOOK_READ_TIMEOUT_S) * (1 + WEBHOOK_RETRIES) <= 0.6


@pytest.mark.parametrize("fault", ["silent", "refused"])
def test_dynamodb_failing_gives_503_with_retry_after(
    fault: str,
    silent: SilentServer,
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = silent.url if fault == "silent" else refused_url()
    # Secrets Manager (the tokens) still answers; only DynamoDB is broken.
    lambda_env("EventsFunction", AWS_ENDPOINT_URL_DYNAMODB=endpoint)
    module = load_handler("EventsFunction")
    capsys.readouterr()
    assert_503(module.lambda_handler(hook(moto_stack.tokens["events"]), lambda_context))
    refused = module.lambda_handler(widget(), lambda_context)
    assert_503(refused)
    # The widget's script may read the pause it is asked to keep (it posts the event again then).
    assert refused["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert refused["headers"]["Access-Control-Expose-Headers"] == "Retry-After"
    if fault == "silent":
        assert silent.accepted >= 1  # the requests did reach the silent endpoint
    assert handled_errors(capsys.readouterr().out) >= 2
