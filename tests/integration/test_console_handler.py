"""ConsoleFunction against the moto server: sign-in, the board from the projected requests, re-drive."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devstack import aws
from ringback.adapters.outbox_dynamo import DynamoDialerOutbox, DynamoReceipts
from ringback.domain.outbox import OutboxEntry, OutboxState
from ringback.domain.receipts import Problem, Receipt
from ringback.domain.webitel import MemberItem
from tests.integration.test_callbacks_handler import Api, new_mobile, put_config
from tests.support.events import http_event, response_json
from tests.support.streams import table_stream_records

pytestmark = pytest.mark.integration
HOST = "api.example.com"
SAME_ORIGIN = f"https://{HOST}"


class Console:
    def __init__(self, module: ModuleType, context: Any) -> None:
        self.module = module
        self.context = context
        self.cookie: str | None = None

    def __call__(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, Any]]:
        hdrs = dict(headers or {})
        event = http_event(method, path, body=body, headers=hdrs, query=query)
        if self.cookie:
            event["cookies"] = [self.cookie]
        response = self.module.lambda_handler(event, self.context)
        content_type = response.get("headers", {}).get("Content-Type", "")
        answer = (
            response_json(response) if content_type.startswith("application/json") else response.get("body")
        )
        return int(response["statusCode"]), answer, response

    def sign_in(self, credential: str) -> tuple[int, Any, dict[str, Any]]:
        status, answer, response = self(
            "POST", "/v1/console/session", body={"credential": credential}, headers={"origin": SAME_ORIGIN}
        )
        if status == 200:
            self.cookie = response["cookies"][0].split(";", 1)[0]
        return status, answer, response


@pytest.fixture
def console(
    lambda_env: Callable[..., dict[str, str]], load_handler: Callable[[str], ModuleType], lambda_context: Any
) -> Console:
    lambda_env("ConsoleFunction")
    return Console(load_handler("ConsoleFunction"), lambda_context)


def _submit(
    lambda_env: Callable[..., dict[str, str]], load_handler: Callable[[str], ModuleType], context: Any
) -> list[tuple[str, str]]:
    lambda_env("CallbacksFunction")
    lambda_env("CallbacksFunction", RINGBACK_CONFIG_PARAMETER=put_config())
    api = Api(load_handler("CallbacksFunction"), context)
    submitted = []
    for mode in ("now", "later"):
        phone = new_mobile()
        status, answer, _ = api(
            "POST", "/v1/callbacks", body={"mode": mode, "phone": phone[4:], "utm_source": "newsletter"}
        )
        assert status == 202, answer
        submitted.append((answer["id"], phone))
    return submitted


def _project_requests(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    context: Any,
    stack: aws.ProvisionedStack,
    callback_ids: set[str],
) -> dict[str, Any]:
    """Hand the CallbacksTable's stream records of these requests to ProjectorFunction, as the
    event source mapping does (the console's rows are its projection)."""
    records = table_stream_records(
        stack, "CallbacksTable", lambda keys: keys["pk"]["S"].removeprefix("CB#") in callback_ids
    )
    assert records, "the CallbacksTable streams its requests"
    lambda_env("ProjectorFunction")
    answer: dict[str, Any] = load_handler("ProjectorFunction").lambda_handler({"Records": records}, context)
    assert answer == {"batchItemFailures": []}
    return answer


def test_sign_in_board_and_sign_out(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ringback.observability import logger

    submitted = _submit(lambda_env, load_handler, lambda_context)
    _project_requests(lambda_env, load_handler, lambda_context, moto_stack, {cid for cid, _ in submitted})
    lambda_env("ConsoleFunction")
    console = Console(load_handler("ConsoleFunction"), lambda_context)
    # The shared Logger's handler writes to the stream it found at first import (pytest's
    # capture may have replaced sys.stdout since): point it at a buffer of this test's own.
    buffer = io.StringIO()
    for handler in logger._logger.handlers:
        monkeypatch.setattr(handler, "stream", buffer)

    status, refused, _ = console("GET", "/v1/console/data")
    assert status == 401 and refused["error"] == "unauthorized"
    assert console.sign_in("not-the-credential")[0] == 401

    status, answer, response = console.sign_in(moto_stack.tokens["console"])
    assert status == 200 and answer["signed_in"] is True
    (cookie,) = response["cookies"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/", f"Max-Age={12 * 3600}"):
        assert attribute in cookie
    assert moto_stack.tokens["console"] not in cookie

    status, data, response = console("GET", "/v1/console/data")
    assert status == 200, data
    assert response["headers"]["Cache-Control"] == "no-store"
    rows = {row["id"]: row for row in data["board"]["rows"]}
    (now_id, now_phone), (later_id, later_phone) = submitted
    assert rows[now_id]["state"] == "uploaded"  # "now" reaches the Webitel sandbox at once
    assert rows[later_id]["state"] in ("pending", "scheduled")
    assert rows[later_id]["utm"] == {"utm_source": "newsletter"}
    assert rows[later_id]["phone"].endswith(later_phone[-2:]) and "*" in rows[later_id]["phone"]
    assert data["service_level"]["requests"] >= 2
    assert data["csrf"] and data["health"]["dead_letters"] == {"projector": 0, "dialer_schedules": 0}
    text = json.dumps(data)
    assert now_phone not in text and later_phone not in text and now_phone[4:] not in text

    # The page sends back the tag of the agents' timeline it shows: left out while current
    # (a minute turning between two reads makes a new tag: then the next read is compared).
    tag = data["agent_timeline_tag"]
    assert isinstance(data["agent_timeline"], list) and data["agent_timeline_chart"].startswith("<svg")
    for _ in range(2):
        status, again, _ = console("GET", "/v1/console/data", query={"timeline": tag})
        assert status == 200, again
        if again["agent_timeline_tag"] == tag:
            break
        assert again["agent_timeline"] is not None
        tag = again["agent_timeline_tag"]
    assert again["agent_timeline"] is None and again["agent_timeline_chart"] is None
    assert again["board"]["total"] == data["board"]["total"]
    status, invalid, _ = console("GET", "/v1/console/data", query={"timeline": "not-a-tag"})
    assert status == 422 and invalid["fields"][0]["field"] == "timeline", invalid

    logs = buffer.getvalue()
    assert "console read" in logs
    for phone in (now_phone, later_phone):
        assert phone[4:] not in logs and phone not in logs

    status, _, response = console("DELETE", "/v1/console/session", headers={"origin": SAME_ORIGIN})
    assert status == 200 and "Max-Age=0" in response["cookies"][0]


def test_cross_site_sign_in_and_forged_cookies_are_refused(
    console: Console, moto_stack: aws.ProvisionedStack
) -> None:
    status, refused, _ = console(
        "POST",
        "/v1/console/session",
        body={"credential": moto_stack.tokens["console"]},
        headers={"origin": "https://evil.example.net"},
    )
    assert status == 403 and refused["error"] == "forbidden"
    console.cookie = "rb_console=eyJ2IjoxfQ.AAAA"
    assert console("GET", "/v1/console/data")[0] == 401
    status, invalid, _ = console("POST", "/v1/console/session", body={"credential": ""})
    assert status == 422 and invalid["fields"][0]["field"] == "credential"


def _rejected_entry(env: dict[str, str]) -> str:
    outbox = DynamoDialerOutbox(env["RINGBACK_OUTBOX_TABLE"])
    entry_id = f"cons{random.getrandbits(40):012x}"
    now = datetime.now(UTC)
    member = MemberItem.model_validate(
        {"name": "console test", "communications": [{"destination": "+420601000111", "type": {"id": "1"}}]}
    )
    outbox.add(
        OutboxEntry(
            entry_id=entry_id, source="campaign", source_id="row-1", queue_id="2", member=member, due_at=now
        )
    )
    (claimed,) = outbox.claim([entry_id], now, lease_s=60, owner="test")
    outbox.mark_rejected(claimed.entry_id, "bucket 9 does not exist", owner="test")
    receipt = Receipt(
        run_id=f"run-{entry_id}", kind="upload", job="campaigns", started_at=now - timedelta(seconds=1)
    )
    group = receipt.group("2", "debtors.csv")
    group.add("rejected")
    group.problem(Problem(reason="bucket 9 does not exist", entry_id=entry_id, line=7))
    DynamoReceipts(env["RINGBACK_OUTBOX_TABLE"]).save(receipt)
    return entry_id


def test_a_rejected_member_is_listed_with_its_reason_and_redriven_with_the_csrf_token(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> None:
    env = lambda_env("ConsoleFunction")
    console = Console(load_handler("ConsoleFunction"), lambda_context)
    entry_id = _rejected_entry(env)
    console.sign_in(moto_stack.tokens["console"])
    data = console("GET", "/v1/console/data")[1]
    (row,) = [r for r in data["receipts"]["rejected"] if r["entry_id"] == entry_id]
    assert row["reason"] == "bucket 9 does not exist" and row["file"] == "debtors.csv" and row["line"] == 7

    body = {"entry_ids": [entry_id]}
    status, refused, _ = console("POST", "/v1/console/redrive", body=body, headers={"origin": SAME_ORIGIN})
    assert status == 403 and "CSRF" in refused["message"]  # no CSRF token
    status, refused, _ = console(
        "POST",
        "/v1/console/redrive",
        body=body,
        headers={"origin": "https://evil.example.net", "x-console-csrf": data["csrf"]},
    )
    assert status == 403 and refused["message"] == "cross-site request refused"
    assert DynamoDialerOutbox(env["RINGBACK_OUTBOX_TABLE"]).get(entry_id).state == OutboxState.REJECTED  # type: ignore[union-attr]

    status, answer, _ = console(
        "POST",
        "/v1/console/redrive",
        body=body,
        headers={"origin": SAME_ORIGIN, "x-console-csrf": data["csrf"]},
    )
    assert status == 200 and answer["results"] == {entry_id: "re-driven"}
    assert DynamoDialerOutbox(env["RINGBACK_OUTBOX_TABLE"]).get(entry_id).state == OutboxState.PENDING  # type: ignore[union-attr]
    after = console("GET", "/v1/console/data")[1]
    assert entry_id not in [r["entry_id"] for r in after["receipts"]["rejected"]]
    status, invalid, _ = console(
        "POST",
        "/v1/console/redrive",
        body={"entry_ids": []},
        headers={"origin": SAME_ORIGIN, "x-console-csrf": data["csrf"]},
    )
    assert status == 422 and invalid["fields"][0]["field"] == "entry_ids"


def test_the_page_and_its_assets_are_served_with_a_strict_policy(console: Console) -> None:
    status, html, response = console("GET", "/console")
    assert status == 200 and "<main" in html
    assert "script-src 'self'" in response["headers"]["Content-Security-Policy"]
    assert console("GET", "/console/console.js")[0] == 200
    assert console("GET", "/console/console.css")[0] == 200
    assert console("GET", "/console/app.py")[0] == 422


def test_sample_event_needs_a_session_and_gets_the_data_with_one(
    console: Console, moto_stack: aws.ProvisionedStack
) -> None:
    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "console-data.json").read_text())
    refused = console.module.lambda_handler(event, console.context)
    assert refused["statusCode"] == 401  # the sample's cookie is a placeholder
    console.sign_in(moto_stack.tokens["console"])
    assert console.cookie is not None
    answer = console.module.lambda_handler({**event, "cookies": [console.cookie]}, console.context)
    assert answer["statusCode"] == 200
    assert not answer.get("isBase64Encoded")  # compressed only for a client that accepts gzip
    data = json.loads(answer["body"])
    assert set(data) >= {"board", "service_level", "funnel", "receipts", "agents", "health", "csrf"}
