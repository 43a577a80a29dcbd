"""The routing function end to end against the moto server: every cid form, auth, rotation,
pending callbacks, the sample events, the OpenAPI contract and the privacy of its logs."""

from __future__ import annotations

import copy
import io
import itertools
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from devstack import aws
from ringback.adapters.customers_dynamo import DynamoCustomerStore
from ringback.domain.customers import Customer
from ringback.domain.routing import ANSWER_FIELDS, ANSWER_JSON_SCHEMA
from ringback.observability import SERVICE, logger
from tests.support import budgets
from tests.support.events import http_event, response_json

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("answer_budget")]

EVENTS = Path(__file__).resolve().parents[2] / "events"
_numbers = itertools.count(random.randrange(100_000, 900_000))


def new_mobile() -> str:
    """A fresh valid Czech mobile number (E.164) per call: tables are shared across the session."""
    return f"+420 77{next(_numbers) % 10} {next(_numbers) % 1000:03d} {next(_numbers) % 1000:03d}".replace(
        " ", ""
    )


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """What the ringback logger writes, formatted exactly as in production (redacted JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(SERVICE)
    std_logger.addHandler(handler)
    yield stream
    std_logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda has POWERTOOLS_METRICS_NAMESPACE before ringback is imported; tests import it earlier."""
    from ringback.observability import metrics

    if not metrics.provider.namespace:
        monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


@pytest.fixture
def routing(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> Callable[..., dict[str, Any]]:
    # The widest budget: these tests are about answers, not about the deadline (a loaded test
    # machine must not turn them into degraded answers); test_routing_faults covers the deadline.
    lambda_env("RoutingFunction", **budgets.ROUTING)
    module = load_handler("RoutingFunction")

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return dict(module.lambda_handler(event, lambda_context))

    return call


@pytest.fixture
def live_routing(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
) -> Callable[..., dict[str, Any]]:
    """The handler with the answer cache off: every call reads the tables."""
    lambda_env("RoutingFunction", RINGBACK_ROUTING_CACHE_TTL_S="0", **budgets.ROUTING)
    module = load_handler("RoutingFunction")
    return lambda event: dict(module.lambda_handler(event, lambda_context))


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def seed(moto_stack: aws.ProvisionedStack, customer: Customer) -> None:
    store = DynamoCustomerStore(
        moto_stack.names["CustomersTable"], aws.aws_client("dynamodb", moto_stack.endpoint)
    )
    store.put(customer.entries())


def assert_answer(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    body = response_json(response)
    jsonschema.validate(body, ANSWER_JSON_SCHEMA)
    assert tuple(body) == ANSWER_FIELDS
    return dict(body)


@pytest.mark.parametrize(
    "form",
    [
        "{e164}",
        "{digits}",
        "00{digits}",
        "{national}",
        "{spaced}",
        "{dashed}",
        " {e164} ",
    ],
)
def test_every_form_webitel_sends_finds_the_customer(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack, form: str
) -> None:
    e164 = new_mobile()
    seed(
        moto_stack,
        Customer(
            "C-FORM",
            (e164,),
            name="Jana Nováková",
            debt=False,
            segment="vip",
            priority=7,
            agent_extension="1005",
            bucket_id="3",
            language="cs",
        ),
    )
    digits, national = e164[1:], e164[4:]
    cid = form.format(
        e164=e164,
        digits=digits,
        national=national,
        spaced=f"+420 {national[:3]} {national[3:6]} {national[6:]}",
        dashed=f"{national[:3]}-{national[3:6]}-{national[6:]}",
    )
    body = assert_answer(
        routing(
            http_event("GET", "/v1/routing", query={"cid": cid}, headers=auth(moto_stack.tokens["routing"]))
        )
    )
    assert body["found"] is True
    assert body["debt"] is False
    assert body["reason"] is None
    assert body["source"] == "live"
    assert body["number"] == e164
    assert body["country"] == "CZ"
    assert (body["customer_id"], body["segment"], body["priority"]) == ("C-FORM", "vip", 7)
    assert (body["agent_extension"], body["bucket_id"], body["language"]) == ("1005", "3", "cs")


def test_debtor_answer_carries_amount_currency_and_date(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    from datetime import date
    from decimal import Decimal

    e164 = new_mobile()
    seed(
        moto_stack,
        Customer(
            "C-DEBT",
            (e164,),
            debt=True,
            debt_amount=Decimal("12450.50"),
            debt_currency="CZK",
            debt_as_of=date(2026, 10, 31),
        ),
    )
    body = assert_answer(
        routing(
            http_event("POST", "/v1/routing", body={"cid": e164}, headers=auth(moto_stack.tokens["routing"]))
        )
    )
    assert (body["found"], body["debt"]) == (True, True)
    assert (body["debt_amount"], body["debt_currency"], body["debt_as_of"]) == (
        "12450.50",
        "CZK",
        "2026-10-31",
    )


@pytest.mark.parametrize(
    ("cid", "reason"),
    [
        (None, "no_cid"),
        ("", "no_cid"),
        ("   ", "no_cid"),
        ("anonymous", "no_cid"),
        ("Anonymous", "no_cid"),
        ("private", "no_cid"),
        ("abc", "invalid_number"),
        ("12", "invalid_number"),
        ("+420 12", "invalid_number"),
        ("'; DROP TABLE customers; --", "invalid_number"),
        ("9" * 40, "invalid_number"),
        ("\u0000\u202e", "invalid_number"),
    ],
)
def test_not_a_number_answers_not_found_with_a_reason(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack, cid: str | None, reason: str
) -> None:
    query = None if cid is None else {"cid": cid}
    body = assert_answer(
        routing(http_event("GET", "/v1/routing", query=query, headers=auth(moto_stack.tokens["routing"])))
    )
    assert (body["found"], body["debt"], body["reason"], body["source"]) == (False, False, reason, "live")


def test_unknown_valid_number(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    body = assert_answer(
        routing(
            http_event(
                "GET", "/v1/routing", query={"cid": new_mobile()}, headers=auth(moto_stack.tokens["routing"])
            )
        )
    )
    assert (body["found"], body["debt"], body["reason"]) == (False, False, "unknown_number")
    assert body["customer_id"] is None
    assert body["priority"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"cid": None},
        {"cid": True},
        {"cid": ["+420777666555"]},
        {"cid": {"a": 1}},
        {},
        [],
        "not json",
        "{broken",
        b"\xff\xfe\x00garbage",
        "",
    ],
)
def test_post_with_any_body_answers_200_json(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack, body: Any
) -> None:
    event = http_event("POST", "/v1/routing", body=body, headers=auth(moto_stack.tokens["routing"]))
    answer = assert_answer(routing(event))
    assert answer["found"] is False
    assert answer["reason"] in ("no_cid", "invalid_number")


def test_post_accepts_form_bodies_numbers_and_the_query_string(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    e164 = new_mobile()
    seed(moto_stack, Customer("C-POST", (e164,)))
    token = auth(moto_stack.tokens["routing"])
    as_form = http_event(
        "POST",
        "/v1/routing",
        body=f"cid={e164[1:]}",
        headers={**token, "content-type": "application/x-www-form-urlencoded"},
    )
    as_number = http_event(
        "POST",
        "/v1/routing",
        body=json.dumps({"cid": int(e164[1:])}),
        headers={**token, "content-type": "application/json"},
    )
    # Webitel's httpRequest defaults to POST: a url with ?cid= and no body must still work.
    in_query = http_event("POST", "/v1/routing", query={"cid": e164}, headers=token)
    base64_json = http_event(
        "POST",
        "/v1/routing",
        body=json.dumps({"cid": e164}),
        base64_body=True,
        headers={**token, "content-type": "application/json"},
    )
    for event in (as_form, as_number, in_query, base64_json):
        assert assert_answer(routing(event))["customer_id"] == "C-POST"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": "Bearer wrong-token"},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Token abc"},
    ],
)
def test_missing_or_wrong_token_is_401_json(
    routing: Callable[..., dict[str, Any]], headers: dict[str, str]
) -> None:
    response = routing(http_event("GET", "/v1/routing", query={"cid": "+420777666555"}, headers=headers))
    assert response["statusCode"] == 401
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")
    body = response_json(response)
    assert body["error"] == "unauthorized"
    assert "found" not in body


def test_token_is_compared_case_sensitively_and_scheme_case_insensitively(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    token = moto_stack.tokens["routing"]
    ok = routing(
        http_event("GET", "/v1/routing", query={"cid": ""}, headers={"authorization": f"bearer {token}"})
    )
    assert ok["statusCode"] == 200
    swapped = token.swapcase()
    assert swapped != token
    bad = routing(http_event("GET", "/v1/routing", query={"cid": ""}, headers=auth(swapped)))
    assert bad["statusCode"] == 401


def test_rotation_several_tokens_valid_and_a_new_one_accepted_at_once(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> None:
    sm = aws.aws_client("secretsmanager", moto_stack.endpoint)
    secret_id = moto_stack.names["RoutingTokensSecret"]
    original = moto_stack.tokens["routing"]
    lambda_env("RoutingFunction", **budgets.ROUTING)
    module = load_handler("RoutingFunction")

    def status(token: str) -> int:
        event = http_event("GET", "/v1/routing", query={"cid": "anonymous"}, headers=auth(token))
        return int(module.lambda_handler(event, lambda_context)["statusCode"])

    try:
        assert status(original) == 200  # tokens read and cached now
        sm.put_secret_value(
            SecretId=secret_id, SecretString=json.dumps({"current": original, "next": "rotated-in-1"})
        )
        # Added after the tokens were cached: a mismatch re-reads the secret once, so it works at once.
        assert status("rotated-in-1") == 200
        assert status(original) == 200
        sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"current": "rotated-in-1"}))
        assert status("rotated-in-1") == 200
    finally:
        sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"current": original}))


def put_callback(
    moto_stack: aws.ProvisionedStack,
    e164: str,
    callback_id: str,
    status: str,
    created: str,
    *,
    lock_until: float | None = None,
) -> None:
    """A request item and, with ``lock_until``, the number's open-request pointer naming it
    (what the callbacks API writes when it accepts a request)."""
    ddb = aws.aws_client("dynamodb", moto_stack.endpoint)
    table = moto_stack.names["CallbacksTable"]
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"CB#{callback_id}"},
            "sk": {"S": "REQUEST"},
            "status": {"S": status},
            "gsi1pk": {"S": f"PHONE#{e164}"},
            "gsi1sk": {"S": f"{created}#{callback_id}"},
        },
    )
    if lock_until is not None:
        ddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"OPEN#{e164}"},
                "sk": {"S": "LOCK"},
                "callback_id": {"S": callback_id},
                "lock_until": {"N": str(int(lock_until))},
                "expires_at": {"N": str(int(lock_until) + 86400)},
            },
        )


def test_pending_callback_is_reported_for_customers_and_strangers(
    routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    token = auth(moto_stack.tokens["routing"])
    customer, stranger, closed, expired = new_mobile(), new_mobile(), new_mobile(), new_mobile()
    ahead, past = time.time() + 3600, time.time() - 60
    seed(moto_stack, Customer("C-CB", (customer,)))
    put_callback(moto_stack, customer, "cb-old-done", "completed", "2026-10-01T08:00:00Z")
    put_callback(moto_stack, customer, "cb-open", "queued", "2026-11-02T08:00:00Z", lock_until=ahead)
    put_callback(moto_stack, stranger, "cb-stranger", "received", "2026-11-02T09:00:00Z", lock_until=ahead)
    # A request whose pointer was released (cancelled), and one whose pointer ran out.
    put_callback(moto_stack, closed, "cb-closed", "cancelled", "2026-11-02T09:00:00Z")
    put_callback(moto_stack, expired, "cb-expired", "queued", "2026-01-02T09:00:00Z", lock_until=past)

    def ask(number: str) -> dict[str, Any]:
        return assert_answer(routing(http_event("GET", "/v1/routing", query={"cid": number}, headers=token)))

    answer = ask(customer)
    assert (answer["found"], answer["pending_callback"], answer["callback_id"]) == (True, True, "cb-open")
    assert answer["callback_status"] is None  # the pointer names the request, not its status
    answer = ask(stranger)
    assert (answer["found"], answer["pending_callback"], answer["callback_id"]) == (
        False,
        True,
        "cb-stranger",
    )
    assert (ask(closed)["pending_callback"], ask(closed)["callback_id"]) == (False, None)
    assert (ask(expired)["pending_callback"], ask(expired)["callback_id"]) == (False, None)


@pytest.mark.parametrize("terminal", ["completed", "failed", "expired", "cancelled"])
def test_a_terminal_status_from_the_events_releases_the_pending_callback(
    live_routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack, terminal: str
) -> None:
    from ringback.adapters.projections_dynamo import DynamoCallbackStatus
    from ringback.domain.callback_status import CallbackStatus
    from ringback.domain.events.projections import CallbackAdvance

    token = auth(moto_stack.tokens["routing"])
    number = new_mobile()
    first, second = (f"cb-{terminal}-{n}-{random.randrange(10**9)}" for n in (1, 2))
    put_callback(moto_stack, number, first, "queued", "2026-11-02T08:00:00Z", lock_until=time.time() + 3600)
    store = DynamoCallbackStatus(
        moto_stack.names["CallbacksTable"], client=aws.aws_client("dynamodb", moto_stack.endpoint)
    )

    def pending() -> tuple[bool, str | None]:
        body = assert_answer(
            live_routing(http_event("GET", "/v1/routing", query={"cid": number}, headers=token))
        )
        return body["pending_callback"], body["callback_id"]

    assert pending() == (True, first)
    # A non-terminal status keeps it open.
    assert store.advance(CallbackAdvance(first, CallbackStatus.DIALING, 1_000, "ringing", "ev-1"))
    assert pending() == (True, first)
    assert store.advance(CallbackAdvance(first, CallbackStatus(terminal), 2_000, terminal, "ev-2"))
    assert pending() == (False, None)

    # A newer request of the number holds the pointer now: a late or repeated terminal event of
    # the old request leaves it alone.
    put_callback(
        moto_stack, number, second, "received", "2026-11-02T09:00:00Z", lock_until=time.time() + 3600
    )
    assert not store.advance(CallbackAdvance(first, CallbackStatus(terminal), 2_000, terminal, "ev-2"))
    assert not store.advance(CallbackAdvance(first, CallbackStatus.COMPLETED, 3_000, "late", "ev-3"))
    assert pending() == (True, second)


def test_a_retried_terminal_event_finishes_a_release_that_failed(
    live_routing: Callable[..., dict[str, Any]], moto_stack: aws.ProvisionedStack
) -> None:
    from ringback.adapters.projections_dynamo import DynamoCallbackStatus
    from ringback.domain.callback_status import CallbackStatus
    from ringback.domain.events.projections import CallbackAdvance

    number, callback_id = new_mobile(), f"cb-retry-{random.randrange(10**9)}"
    put_callback(
        moto_stack, number, callback_id, "queued", "2026-11-02T08:00:00Z", lock_until=time.time() + 3600
    )
    ddb = aws.aws_client("dynamodb", moto_stack.endpoint)
    # The status was written, then the function died before the pointer was released.
    ddb.update_item(
        TableName=moto_stack.names["CallbacksTable"],
        Key={"pk": {"S": f"CB#{callback_id}"}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET #s = :s, status_at = :at, status_event = :e",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "completed"}, ":at": {"N": "2000"}, ":e": {"S": "ev-9"}},
    )
    store = DynamoCallbackStatus(moto_stack.names["CallbacksTable"], client=ddb)
    assert not store.advance(CallbackAdvance(callback_id, CallbackStatus.COMPLETED, 2_000, "done", "ev-9"))
    body = assert_answer(
        live_routing(
            http_event(
                "GET", "/v1/routing", query={"cid": number}, headers=auth(moto_stack.tokens["routing"])
            )
        )
    )
    assert (body["pending_callback"], body["callback_id"]) == (False, None)


@pytest.mark.parametrize("name", ["routing-get.json", "routing-post.json"])
def test_sample_events(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    name: str,
) -> None:
    event = json.loads((EVENTS / name).read_text())
    # The samples ask for +420602123456; give it its own table so no other test's data interferes.
    ddb = aws.aws_client("dynamodb", moto_stack.endpoint)
    table = f"routing-sample-{name.split('.', maxsplit=1)[0]}-{random.randrange(10**9)}"
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    DynamoCustomerStore(table, ddb).put(
        Customer("C-10002", ("+420602123456",), debt=True, segment="retail").entries()
    )
    lambda_env("RoutingFunction", RINGBACK_CUSTOMERS_TABLE=table, **budgets.ROUTING)
    module = load_handler("RoutingFunction")
    event["headers"]["authorization"] = f"Bearer {moto_stack.tokens['routing']}"
    body = assert_answer(module.lambda_handler(event, lambda_context))
    assert (body["found"], body["debt"], body["customer_id"], body["number"]) == (
        True,
        True,
        "C-10002",
        "+420602123456",
    )
    unauthorised = copy.deepcopy(event)
    unauthorised["headers"]["authorization"] = "Bearer replace-with-a-routing-token"
    assert module.lambda_handler(unauthorised, lambda_context)["statusCode"] == 401


def test_health(routing: Callable[..., dict[str, Any]]) -> None:
    response = routing(http_event("GET", "/v1/health/routing"))
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["status"] == "ok"
    assert body["checks"]["customers"] == "ok"
    assert body["checks"]["callbacks"] == "ok"


def test_logs_never_carry_the_number_or_the_token(
    routing: Callable[..., dict[str, Any]],
    moto_stack: aws.ProvisionedStack,
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = moto_stack.tokens["routing"]
    known, unknown = new_mobile(), new_mobile()
    seed(moto_stack, Customer("C-PRIV", (known,)))
    for cid in (known, known[1:], "00" + known[1:], unknown, "anonymous", "garbage-98765432107"):
        for event in (
            http_event("GET", "/v1/routing", query={"cid": cid}, headers=auth(token)),
            http_event("POST", "/v1/routing", body={"cid": cid}, headers=auth(token)),
            http_event("GET", "/v1/routing", query={"cid": cid}, headers=auth(token + "x")),
        ):
            routing(event)
    logger.warning("probe: the capture works")  # the capture must see ringback's records at all
    written = captured_logs.getvalue() + capsys.readouterr().out
    assert "probe: the capture works" in written
    for secret in (known, known[1:], known[4:], unknown[4:], token, "98765432107"):
        assert secret not in written


def fuzz_schema(module: ModuleType) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(module.app.get_openapi_json_schema())
    # The POST body is read leniently by hand (anything gives an answer); describe it for the fuzzer.
    schema["paths"]["/v1/routing"]["post"]["requestBody"] = {
        "content": {
            "application/json": {"schema": {"type": "object", "properties": {"cid": {"type": "string"}}}}
        }
    }
    return schema


def test_openapi_fuzz_no_5xx_no_undocumented_status(
    routing: Callable[..., dict[str, Any]],
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.core import NotSet

    lambda_env("RoutingFunction", **budgets.ROUTING)
    module = load_handler("RoutingFunction")
    schema = schemathesis.openapi.from_dict(fuzz_schema(module))
    token = moto_stack.tokens["routing"]
    seen: set[int] = set()

    def fuzz(op: Any) -> None:
        documented = {int(code) for code in op.definition.raw["responses"]}

        @settings(
            max_examples=40,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(), with_token=st.booleans())
        def run(case: Any, with_token: bool) -> None:
            headers = {k.lower(): str(v) for k, v in (case.headers or {}).items()}
            if with_token:
                headers["authorization"] = f"Bearer {token}"
            query = {k: str(v) for k, v in (case.query or {}).items()}
            body = case.body if not isinstance(case.body, NotSet) else None
            event = http_event(
                case.method, case.formatted_path, query=query or None, body=body, headers=headers
            )
            response = module.lambda_handler(event, lambda_context)
            status = int(response["statusCode"])
            seen.add(status)
            assert status in documented, (case.method, case.formatted_path, status)
            assert status < 500 or case.formatted_path.endswith("/health/routing")
            assert response["headers"]["Content-Type"] == "application/json"
            if status == 200 and case.formatted_path == "/v1/routing":
                jsonschema.validate(response_json(response), ANSWER_JSON_SCHEMA)

        run()

    for operation in schema.get_all_operations():
        fuzz(operation.ok())  # type: ignore[union-attr]
    assert 200 in seen
