"""The callbacks function's handler against the moto server and the Webitel sandbox."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from devstack import aws
from ringback.domain.outbox import CALLBACK_TAG
from tests.support.events import http_event, response_json

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
PRAGUE = ZoneInfo("Europe/Prague")
ORIGIN = "https://www.example.com"


def new_mobile() -> str:
    return "+42060" + str(random.randint(1, 8)) + "".join(random.choices("0123456789", k=6))


def new_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def put_config(**changes: Any) -> str:
    """A config parameter of this test's own (the template's one is shared by the session)."""
    base: dict[str, Any] = {
        "timezone": "Europe/Prague",
        "business_hours": {},
        "holidays": [],
        "callback_queue_id": "1",
        "communication_type_id": "1",
        "allowed_countries": ["CZ", "SK"],
        "slot_minutes": 30,
        "slot_capacity": 2,
        "booking_horizon_days": 14,
        "status_cache_seconds": 10,
        "callbacks": {"per_ip_per_hour": 50},
    }
    callbacks = {**base["callbacks"], **changes.pop("callbacks", {})}
    base.update(changes)
    base["callbacks"] = callbacks
    name = f"/ringback/test/callbacks-{uuid.uuid4().hex[:10]}"
    ssm = boto3.client("ssm")  # the function's environment points it at the moto server
    ssm.put_parameter(Name=name, Value=json.dumps(base), Type="String", Overwrite=True)
    return name


class Api:
    def __init__(self, module: ModuleType, context: Any) -> None:
        self.module = module
        self.context = context
        self.ip = new_ip()

    def __call__(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        event = http_event(
            method,
            path,
            body=body,
            query=query,
            source_ip=kwargs.pop("source_ip", self.ip),
            headers={"origin": ORIGIN, **(headers or {})},
            **kwargs,
        )
        response = self.module.lambda_handler(event, self.context)
        headers = response.get("headers", {})
        body = (
            response_json(response)
            if headers.get("Content-Type", "").startswith("application/json")
            else response.get("body")
        )
        return int(response["statusCode"]), body, headers


@pytest.fixture
def api_factory(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    webitel_sandbox: Any,
) -> Iterator[Callable[..., Api]]:
    def make(**config: Any) -> Api:
        lambda_env("CallbacksFunction")
        lambda_env("CallbacksFunction", RINGBACK_CONFIG_PARAMETER=put_config(**config))
        return Api(load_handler("CallbacksFunction"), lambda_context)

    yield make
    webitel_sandbox.faults.reset()


def members_for(sandbox: Any, callback_id: str) -> list[dict[str, Any]]:
    return [m for m in sandbox.members("1") if m.get("variables", {}).get(CALLBACK_TAG) == callback_id]


def test_now_reaches_the_sandbox_at_once_and_can_be_cancelled(
    api_factory: Callable[..., Api], webitel_sandbox: Any
) -> None:
    api = api_factory()
    phone = new_mobile()
    status, answer, headers = api(
        "POST",
        "/v1/callbacks",
        body={
            "mode": "now",
            "phone": phone[4:],
            "country": "CZ",
            "name": "Jana",
            "provider": "whisbi",
            "pageUrl": "https://www.example.com/pricing",
            "utm_source": "newsletter",
            "leadGuid": "L-77",
        },
    )
    assert status == 202, answer
    assert headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert headers.get("Access-Control-Expose-Headers") == "Retry-After"  # the widget reads it
    (member,) = members_for(webitel_sandbox, answer["id"])
    assert member["communications"][0]["destination"] == phone
    assert member["variables"]["utm_source"] == "newsletter" and member["variables"]["lead_guid"] == "L-77"
    assert int(member["priority"]) == 1000
    status, view, _ = api("GET", f"/v1/callbacks/{answer['id']}")
    assert status == 200 and view["status"] == "queued" and phone not in json.dumps(view)
    token = answer["self_service"]["token"]
    status, refused, _ = api("DELETE", f"/v1/callbacks/{answer['id']}", query={"token": "1.bad"})
    assert status == 403 and refused["error"] == "forbidden"
    status, cancelled, _ = api("DELETE", f"/v1/callbacks/{answer['id']}", query={"token": token})
    assert status == 200 and cancelled["webitel"] == "stopped"
    (stopped,) = members_for(webitel_sandbox, answer["id"])
    assert stopped.get("stop_cause") == "cancel"
    assert api("GET", f"/v1/callbacks/{answer['id']}")[1]["status"] == "cancelled"


def test_webitel_down_still_202_and_stored(api_factory: Callable[..., Api], webitel_sandbox: Any) -> None:
    api = api_factory()
    webitel_sandbox.faults.update({"down": True})
    status, answer, _ = api("POST", "/v1/callbacks", body={"mode": "now", "phone": new_mobile()})
    assert status == 202 and answer["status"] == "received"
    assert members_for(webitel_sandbox, answer["id"]) == []
    assert api("GET", f"/v1/callbacks/{answer['id']}")[1]["status"] == "received"


def test_idempotency_key_returns_the_same_answer(
    api_factory: Callable[..., Api], webitel_sandbox: Any
) -> None:
    api = api_factory()
    body = {"mode": "later", "phone": new_mobile()}
    key = {"idempotency-key": str(uuid.uuid4())}
    first = api("POST", "/v1/callbacks", body=body, headers=key)
    again = api("POST", "/v1/callbacks", body=body, headers=key)
    assert first[0] == again[0] == 202
    assert first[1] == again[1]
    assert again[1]["repeat"] is False


def test_repeat_links_to_the_first(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    phone = new_mobile()
    first = api("POST", "/v1/callbacks", body={"mode": "later", "phone": phone})[1]
    status, again, _ = api(
        "POST", "/v1/callbacks", body={"mode": "now", "phone": phone, "provider": "mluvii"}
    )
    assert status == 202 and again["id"] == first["id"] and again["repeat"] and again["repeat_count"] == 1


def test_scheduled_slot_listing_booking_and_full(api_factory: Callable[..., Api]) -> None:
    api = api_factory(slot_capacity=1)
    # The day after tomorrow: tomorrow's first slots fall inside the booking lead just before
    # midnight, and the day's whole grid is what this test counts.
    tomorrow = (datetime.now(PRAGUE) + timedelta(days=2)).date()
    status, listing, headers = api(
        "GET", "/v1/callbacks/slots", query={"date": tomorrow.isoformat(), "tz": "Europe/Prague"}
    )
    assert status == 200 and headers["Cache-Control"].startswith("public")
    slots = listing["days"][0]["slots"]
    assert len(slots) == 48 and slots[0]["remaining"] == 1
    chosen = slots[20]["start"]
    status, booked, _ = api(
        "POST", "/v1/callbacks", body={"mode": "scheduled", "phone": new_mobile(), "scheduled_at": chosen}
    )
    assert (
        status == 202
        and booked["expected_call_at"]
        == datetime.fromisoformat(chosen).astimezone(UTC).isoformat().replace("+00:00", "Z")
    ) or booked["expected_call_at"].startswith(chosen[:10])
    listing = api("GET", "/v1/callbacks/slots", query={"date": tomorrow.isoformat(), "tz": "Europe/Prague"})[
        1
    ]
    assert chosen not in [s["start"] for s in listing["days"][0]["slots"]]
    status, full, _ = api(
        "POST", "/v1/callbacks", body={"mode": "scheduled", "phone": new_mobile(), "scheduled_at": chosen}
    )
    assert status == 422 and full["fields"][0]["field"] == "scheduled_at"
    # Reschedule the booked one with its self-service link: the old slot is offered again.
    other = slots[21]["start"]
    status, moved, _ = api(
        "POST",
        f"/v1/callbacks/{booked['id']}/reschedule",
        query={"token": booked["self_service"]["token"]},
        body={"scheduled_at": other},
    )
    assert status == 200, moved
    listing = api("GET", "/v1/callbacks/slots", query={"date": tomorrow.isoformat(), "tz": "Europe/Prague"})[
        1
    ]
    starts = [s["start"] for s in listing["days"][0]["slots"]]
    assert chosen in starts and other not in starts


@pytest.mark.parametrize(
    ("request_kwargs", "status", "needle"),
    [
        ({"body": "{not json", "headers": {"content-type": "application/json"}}, 400, "malformed_json"),
        (
            {"body": "phone=777666555", "headers": {"content-type": "application/x-www-form-urlencoded"}},
            415,
            "unsupported_media_type",
        ),
        ({"body": {"phone": "777666555", "extra": "x" * 9000}}, 413, "payload_too_large"),
        ({"body": {"phone": "12345", "country": "CZ", "email": "nope"}}, 422, "not a valid number for CZ"),
        ({"body": {"phone": "+420 900 123 456"}}, 422, "premium rate"),
        ({"body": {"phone": "777666555", "website": "spam"}}, 403, "website"),
    ],
)
def test_bad_input_answers(
    api_factory: Callable[..., Api], request_kwargs: dict[str, Any], status: int, needle: str
) -> None:
    api = api_factory()
    got, body, headers = api("POST", "/v1/callbacks", **request_kwargs)
    assert got == status and needle in json.dumps(body)
    assert headers["Content-Type"].startswith("application/json")


def test_rate_limit_is_429_with_retry_after(api_factory: Callable[..., Api]) -> None:
    api = api_factory(callbacks={"per_ip_per_hour": 2})
    for _ in range(2):
        assert api("POST", "/v1/callbacks", body={"mode": "later", "phone": new_mobile()})[0] == 202
    status, body, headers = api("POST", "/v1/callbacks", body={"mode": "later", "phone": new_mobile()})
    assert status == 429 and "your network" in body["message"] and int(headers["Retry-After"]) > 0


def test_status_from_sandbox_agents_and_degraded(
    api_factory: Callable[..., Api], webitel_sandbox: Any
) -> None:
    api = api_factory()
    status, answer, headers = api("GET", "/v1/status")
    assert status == 200 and answer["status"] == "online" and answer["code"] == 1 and not answer["degraded"]
    assert headers["Cache-Control"] == "public, max-age=10"
    assert answer["health"] is None
    api = api_factory(callback_queue_id="4242")  # no such queue: Webitel cannot tell -> business hours
    hidden = api("GET", "/v1/status")[1]
    assert hidden["degraded"] is True
    assert hidden["health"] == "the Webitel token's user needs supervisor rights on queue 4242"
    assert api("GET", "/v1/health/callbacks")[1]["checks"]["webitel"] == hidden["health"]
    today = datetime.now(PRAGUE).date()
    api = api_factory(holidays=[today.isoformat(), (today + timedelta(days=1)).isoformat()])
    closed = api("GET", "/v1/status")[1]
    assert (closed["status"], closed["code"], closed["reason"]) == ("offline", 0, "holiday")


def test_erasure_needs_the_agent_token(
    api_factory: Callable[..., Api], moto_stack: aws.ProvisionedStack, webitel_sandbox: Any
) -> None:
    api = api_factory()
    phone = new_mobile()
    answer = api("POST", "/v1/callbacks", body={"mode": "now", "phone": phone, "consent": True})[1]
    assert api("POST", "/v1/callbacks/erasure", body={"phone": phone})[0] == 401
    status, report, _ = api(
        "POST",
        "/v1/callbacks/erasure",
        body={"phone": phone},
        headers={"authorization": f"Bearer {moto_stack.tokens['agent']}"},
    )
    assert status == 200 and report["requests"] == 1 and report["items_deleted"] >= 2
    assert api("GET", f"/v1/callbacks/{answer['id']}")[0] == 404
    assert members_for(webitel_sandbox, answer["id"]) == []


def test_health_and_widget_placeholder(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    status, body, _ = api("GET", "/v1/health/callbacks")
    assert status == 200 and (body["checks"]["config"], body["checks"]["table"]) == ("ok", "ok")
    assert isinstance(body["checks"]["webitel"], str)
    static = Path(str(api.module.__file__)).parent / "static" / "widget.js"
    status, script, headers = api("GET", "/widget.js")
    if not static.is_file():
        assert status == 503 and script["message"] == "widget not built yet"
        return
    assert status == 200 and headers["Content-Type"].startswith("application/javascript")
    assert headers["Cache-Control"] == "public, max-age=300" and script == static.read_text()
    status, _, _ = api("GET", "/widget.js", headers={"if-none-match": headers["ETag"]})
    assert status == 304


def test_a_new_container_answers_the_shared_status_answer_and_computes_once_it_is_stale(
    api_factory: Callable[..., Api],
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> None:
    """The container that computes the status publishes it; a new container (every cache
    cleared) answers it from that one item while it holds, even though the configuration and
    counts it came from are gone, and computes the answer again once the item is stale."""
    api = api_factory(status_cache_seconds=600)
    parameter = os.environ["RINGBACK_CONFIG_PARAMETER"]
    status, computed, headers = api("GET", "/v1/status")
    assert status == 200 and computed["open"] and computed["reason"] != "holiday"
    assert headers["Cache-Control"] == f"public, max-age={computed['cache_seconds']}"
    dynamo = boto3.client("dynamodb")
    guard = moto_stack.names["GuardTable"]
    answer_key = {"pk": {"S": f"CACHE#STATUS_ANSWER#{parameter}"}}
    item = dynamo.get_item(TableName=guard, Key=answer_key)["Item"]
    stored = json.loads(item["value"]["S"])
    assert stored["answer"]["status"] == "online" and stored["serve_until_ms"] > int(time.time() * 1000)
    # What the full path would read is gone or changed: today is a holiday now, the shared
    # configuration and counts are deleted.
    today = datetime.now(PRAGUE).date()
    boto3.client("ssm").put_parameter(
        Name=parameter,
        Value=json.dumps(
            {
                **json.loads(boto3.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]),
                "holidays": [today.isoformat(), (today + timedelta(days=1)).isoformat()],
            }
        ),
        Type="String",
        Overwrite=True,
    )
    for key in (f"CACHE#CONFIG#{parameter}", "CACHE#STATUS#1"):
        dynamo.delete_item(TableName=guard, Key={"pk": {"S": key}})

    def new_container() -> Api:
        lambda_env("CallbacksFunction", RINGBACK_CONFIG_PARAMETER=parameter)  # clears every cache
        return Api(load_handler("CallbacksFunction"), lambda_context)

    status, shared, headers = new_container()("GET", "/v1/status")
    assert status == 200
    assert {k: v for k, v in shared.items() if k not in ("checked_at", "cache_seconds")} == {
        k: v for k, v in computed.items() if k not in ("checked_at", "cache_seconds")
    }
    assert shared["checked_at"] >= computed["checked_at"] and 1 <= shared["cache_seconds"] <= 600
    assert headers["Cache-Control"] == f"public, max-age={shared['cache_seconds']}"
    assert headers.get("Access-Control-Allow-Origin") == ORIGIN
    # Stale (its configuration expired, say): the next new container computes, from SSM.
    stored["serve_until_ms"] = int(time.time() * 1000) - 1
    dynamo.put_item(TableName=guard, Item={**item, "value": {"S": json.dumps(stored)}})
    status, fallen_back, headers = new_container()("GET", "/v1/status")
    assert status == 200 and (fallen_back["status"], fallen_back["reason"]) == ("offline", "holiday")
    assert headers["Cache-Control"] == f"public, max-age={fallen_back['cache_seconds']}"
    republished = json.loads(dynamo.get_item(TableName=guard, Key=answer_key)["Item"]["value"]["S"])
    assert republished["answer"]["reason"] == "holiday"


def test_page_view_path_is_cacheable(api_factory: Callable[..., Api]) -> None:
    """The status says how long it stays fresh and its max-age says the same (never longer than
    the configured cache); the versioned widget script is immutable for a year."""
    api = api_factory(status_cache_seconds=10)
    for _ in range(2):  # a fresh fetch, then an answer from the container's cache
        status, answer, headers = api("GET", "/v1/status")
        assert status == 200 and 1 <= answer["cache_seconds"] <= 10
        assert headers["Cache-Control"] == f"public, max-age={answer['cache_seconds']}"
        assert headers.get("Access-Control-Allow-Origin") == ORIGIN
    static = Path(str(api.module.__file__)).parent / "static" / "widget.js"
    status, script, headers = api("GET", "/widget.js")
    assert status == 200, script
    url = headers["X-Ringback-Widget-Url"]
    version = hashlib.sha256(static.read_bytes()).hexdigest()[:12]
    assert url == f"/widget/{version}/widget.js"
    route = "GET /widget/{version}/widget.js"
    status, body, headers = api("GET", url, route_key=route, path_params={"version": version})
    assert status == 200 and body == static.read_text()
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable" and headers["ETag"]
    status, _, headers = api(
        "GET", url, route_key=route, path_params={"version": version}, headers={"accept-encoding": "gzip"}
    )
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    stale = "/widget/000000000000/widget.js"
    status, _, headers = api("GET", stale, route_key=route, path_params={"version": "000000000000"})
    assert status == 302 and headers["Location"] == f"../{version}/widget.js"
    assert "immutable" not in headers["Cache-Control"]


@pytest.mark.parametrize(
    "name", ["callbacks-submit-now.json", "callbacks-submit-scheduled.json", "callbacks-status.json"]
)
def test_sample_events(api_factory: Callable[..., Api], name: str) -> None:
    api = api_factory()
    event = json.loads((EVENTS / name).read_text())
    if event.get("body"):
        body = json.loads(event["body"])
        body["phone"] = new_mobile()
        if body.get("mode") == "scheduled":
            slot = (datetime.now(PRAGUE) + timedelta(days=2)).replace(
                hour=10, minute=0, second=0, microsecond=0
            )
            body["scheduled_at"] = slot.isoformat()
        event["body"] = json.dumps(body)
        event["requestContext"]["http"]["sourceIp"] = new_ip()
    response = api.module.lambda_handler(event, api.context)
    expected = 202 if event["requestContext"]["http"]["method"] == "POST" else 200
    assert response["statusCode"] == expected, response["body"]


def fuzz_schema(module: ModuleType) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(module.app.get_openapi_json_schema())
    return schema


def test_openapi_fuzz_no_5xx_no_undocumented_status(
    api_factory: Callable[..., Api], moto_stack: aws.ProvisionedStack
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.core import NotSet

    api = api_factory()
    schema = schemathesis.openapi.from_dict(fuzz_schema(api.module))
    agent = moto_stack.tokens["agent"]
    seen: set[int] = set()

    def fuzz(op: Any) -> None:
        documented = {int(code) for code in op.definition.raw["responses"]}

        # Derandomized: the same cases on every run (a fuzz that sometimes misses 202 is a flake).
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=op.as_strategy(), with_token=st.booleans(), real_phone=st.booleans())
        def run(case: Any, with_token: bool, real_phone: bool) -> None:
            headers = {k.lower(): str(v) for k, v in (case.headers or {}).items()}
            if with_token:
                headers["authorization"] = f"Bearer {agent}"
            query = {k: str(v) for k, v in (case.query or {}).items()}
            body = case.body if not isinstance(case.body, NotSet) else None
            if real_phone and isinstance(body, dict) and "phone" in body:
                # Random text is almost never a valid number: let some submits get through to storage.
                body = {k: v for k, v in body.items() if k not in ("country", "dial_code", "website")}
                body["phone"] = new_mobile()
            status, _, response_headers = api(
                case.method,
                case.formatted_path,
                body=body,
                query=query or None,
                headers=headers,
                source_ip=new_ip(),
            )
            seen.add(status)
            assert status in documented, (case.method, case.formatted_path, status)
            assert status < 500 or status == 503
            assert response_headers["Content-Type"].startswith(
                ("application/json", "text/", "application/javascript")
            )

        run()

    for operation in schema.get_all_operations():
        fuzz(operation.ok())  # type: ignore[union-attr]
    # Random bodies are refused (422) on every run; whether a random one also gets through to
    # storage depends on what the generator draws, so the accepted path is checked with a
    # submit that is always valid, through the same documented operation.
    assert 422 in seen
    submit = next(
        op.ok()  # type: ignore[union-attr]
        for op in schema.get_all_operations()
        if op.ok().method.upper() == "POST" and op.ok().path == "/v1/callbacks"  # type: ignore[union-attr]
    )
    status, answer, _ = api(
        "POST", "/v1/callbacks", body={"mode": "later", "phone": new_mobile()}, source_ip=new_ip()
    )
    assert status == 202, answer
    assert status in {int(code) for code in submit.definition.raw["responses"]}
