"""Degraded mode under real faults: a missing table, a stopped moto server, and a socket that
accepts connections and never answers. The flow always gets 200 JSON, with a metric and a
warning log, and never the caller's number in the logs."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from devstack import aws
from devstack.moto_server import MotoServer
from devstack.template import StackTemplate
from ringback.adapters.customers_dynamo import DynamoCustomerStore
from ringback.domain.customers import Customer
from ringback.observability import SERVICE, logger, metrics
from tests.support import budgets
from tests.support.events import http_event, response_json
from tests.support.sockets import SilentServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("answer_budget")]

KNOWN = "+420777123401"
OTHER = "+420777123402"


@pytest.fixture
def black_hole() -> Iterator[SilentServer]:
    hole = SilentServer()
    yield hole
    hole.close()


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    if not metrics.provider.namespace:
        monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


@pytest.fixture
def records() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """ringback's log records as production writes them (redacted JSON), parsed on demand."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(SERVICE)
    std_logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    std_logger.removeHandler(handler)


def emf_metrics(stdout: str) -> list[dict[str, Any]]:
    blobs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def ask(module: ModuleType, context: Any, token: str, cid: str) -> dict[str, Any]:
    response = module.lambda_handler(
        http_event("GET", "/v1/routing", query={"cid": cid}, headers={"authorization": f"Bearer {token}"}),
        context,
    )
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    return dict(response_json(response))


def assert_degraded(body: dict[str, Any]) -> None:
    assert (body["found"], body["debt"], body["reason"], body["source"]) == (
        False,
        False,
        "degraded",
        "fallback",
    )
    assert body["customer_id"] is None


def assert_degraded_metric(stdout: str) -> None:
    blobs = [b for b in emf_metrics(stdout) if "RoutingDegraded" in b]
    assert blobs, "no RoutingDegraded metric was emitted"
    blob = blobs[-1]
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    # Exactly what the RoutingDegradedAlarm in template.yaml watches.
    assert directive["Namespace"] == "Ringback"
    assert ["service"] in directive["Dimensions"]
    assert blob["service"] == "ringback"
    assert sum(blob["RoutingDegraded"]) >= 1


def test_missing_table_answers_degraded_with_metric_and_warning(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    records: Callable[[], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lambda_env(
        "RoutingFunction",
        RINGBACK_CUSTOMERS_TABLE="ringback-test-no-such-table",
        **budgets.ROUTING,
    )
    module = load_handler("RoutingFunction")
    body = ask(module, lambda_context, moto_stack.tokens["routing"], "777 123 401")
    assert_degraded(body)
    assert body["number"] == KNOWN  # the flow still learns the normalised number
    out = capsys.readouterr().out
    assert_degraded_metric(out)
    warning = next(r for r in records() if r["message"] == "routing answered degraded")
    assert warning["level"] == "WARNING"
    assert (warning["cause"], warning["error_type"]) == ("error", "ResourceNotFoundException")
    assert warning["number"] == "+420*******01"
    everything = out + json.dumps(records())
    assert "777123401" not in everything
    assert moto_stack.tokens["routing"] not in everything


def test_fail_open_default_is_configurable(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> None:
    lambda_env(
        "RoutingFunction",
        RINGBACK_CUSTOMERS_TABLE="ringback-test-no-such-table",
        RINGBACK_ROUTING_FALLBACK_FOUND="true",
        RINGBACK_ROUTING_FALLBACK_DEBT="true",
        **budgets.ROUTING,
    )
    body = ask(load_handler("RoutingFunction"), lambda_context, moto_stack.tokens["routing"], KNOWN)
    assert (body["found"], body["debt"], body["reason"], body["source"]) == (
        True,
        True,
        "degraded",
        "fallback",
    )


@pytest.fixture
def own_moto(stack_template: StackTemplate) -> Iterator[tuple[MotoServer, aws.ProvisionedStack]]:
    server = MotoServer()
    endpoint = server.start()
    # moto's backends are per process: a unique stage keeps this stack's names apart.
    stage = f"f{secrets.token_hex(6)}"
    stack = aws.provision(
        stack_template, endpoint, parameters={"Stage": stage}, stack_name=f"ringback-{stage}"
    )
    try:
        yield server, stack
    finally:
        server.stop()  # stopping twice is harmless


def env_for(stack: aws.ProvisionedStack, **extra: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": stack.endpoint,
        "RINGBACK_CUSTOMERS_TABLE": stack.names["CustomersTable"],
        "RINGBACK_CALLBACKS_TABLE": stack.names["CallbacksTable"],
        "RINGBACK_ROUTING_TOKENS_SECRET": stack.names["RoutingTokensSecret"],
        **extra,
    }


@pytest.mark.parametrize("stale_if_error_s", ["600", "0"])
def test_moto_server_stopped(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    own_moto: tuple[MotoServer, aws.ProvisionedStack],
    records: Callable[[], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
    stale_if_error_s: str,
) -> None:
    server, stack = own_moto
    DynamoCustomerStore(stack.names["CustomersTable"], aws.aws_client("dynamodb", stack.endpoint)).put(
        Customer("C-STOP", (KNOWN,), debt=True).entries()
    )
    lambda_env(
        "RoutingFunction",
        **env_for(
            stack,
            RINGBACK_ROUTING_CACHE_TTL_S="0",
            RINGBACK_ROUTING_STALE_IF_ERROR_S=stale_if_error_s,
            **budgets.ROUTING,
        ),
    )
    module = load_handler("RoutingFunction")
    token = stack.tokens["routing"]
    live = ask(module, lambda_context, token, KNOWN)
    assert (live["found"], live["debt"], live["source"]) == (True, True, "live")

    server.stop()

    again = ask(module, lambda_context, token, KNOWN)
    if stale_if_error_s == "0":
        assert_degraded(again)
    else:
        # Seen moments ago: answered from memory, marked as such, rather than "not found".
        assert (again["found"], again["debt"], again["source"], again["reason"]) == (
            True,
            True,
            "cache",
            None,
        )
    assert_degraded(ask(module, lambda_context, token, OTHER))
    assert_degraded_metric(capsys.readouterr().out)
    causes = {r.get("cause") for r in records() if r["message"] == "routing answered degraded"}
    assert causes == {"error"}


def test_socket_that_never_answers_dynamodb(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    black_hole: SilentServer,
    records: Callable[[], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Tokens from moto, DynamoDB from the black hole (botocore's per-service endpoint variable).
    lambda_env("RoutingFunction", AWS_ENDPOINT_URL_DYNAMODB=black_hole.url, RINGBACK_ROUTING_BUDGET_MS="300")
    module = load_handler("RoutingFunction")
    body = ask(module, lambda_context, moto_stack.tokens["routing"], KNOWN)
    assert_degraded(body)
    assert black_hole.accepted >= 1  # the request really went to the silent socket
    assert_degraded_metric(capsys.readouterr().out)
    warning = next(r for r in records() if r["message"] == "routing answered degraded")
    # "deadline": the answer came from the request's own deadline, not from botocore giving up.
    assert warning["cause"] == "deadline"
    assert warning["budget_ms"] == 300

    health = module.lambda_handler(http_event("GET", "/v1/health/routing"), lambda_context)
    assert health["statusCode"] == 503
    assert response_json(health)["checks"]["customers"] == "deadline"


def test_secret_that_never_answers(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    black_hole: SilentServer,
    records: Callable[[], list[dict[str, Any]]],
) -> None:
    lambda_env("RoutingFunction", AWS_ENDPOINT_URL_SECRETS_MANAGER=black_hole.url)
    module = load_handler("RoutingFunction")
    # No token can be verified: the caller gets the degraded answer (no customer data in it),
    # not a 401 that would blame a token that may well be right.
    body = ask(module, lambda_context, moto_stack.tokens["routing"], KNOWN)
    assert_degraded(body)
    assert body["number"] is None  # nothing about the number is said to an unverified caller
    assert black_hole.accepted >= 1
    causes = [r.get("cause") for r in records() if r["message"] == "routing answered degraded"]
    assert causes == ["tokens_unavailable"]
    # A request without any token is still refused: that is wrong whatever the secret says.
    missing = module.lambda_handler(http_event("GET", "/v1/routing", query={"cid": KNOWN}), lambda_context)
    assert missing["statusCode"] == 401
