"""Every error a handler can meet becomes a JSON answer in one place (ringback.api.errors)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from devstack.lambda_context import LambdaContext
from ringback.api.resolver import make_resolver
from ringback.domain.errors import FieldProblem, NotFound, RateLimited, Unprocessable
from tests.support.events import http_event

pytestmark = pytest.mark.unit


class Thing(BaseModel):
    phone: str = Field(min_length=3)
    count: int


app = make_resolver(allowed_origins=["https://shop.example"])


@app.post("/things")
def create(thing: Thing) -> dict[str, Any]:
    return {"phone_length": len(thing.phone)}


@app.get("/missing")
def missing() -> dict[str, Any]:
    raise NotFound("no such thing")


@app.get("/busy")
def busy() -> dict[str, Any]:
    raise RateLimited("slow down", retry_after_s=30)


@app.get("/bad-domain")
def bad_domain() -> dict[str, Any]:
    raise Unprocessable("bad", fields=(FieldProblem("phone", "not a valid number for CZ"),))


@app.get("/boom")
def boom() -> dict[str, Any]:
    raise RuntimeError("secret internals")


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = app.resolve(event, LambdaContext("t"))
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_valid_body_passes() -> None:
    status, body, _ = call(http_event("POST", "/things", body={"phone": "777666555", "count": 1}))
    assert (status, body) == (200, {"phone_length": 9})


def test_field_errors_are_422_naming_each_field() -> None:
    status, body, _ = call(http_event("POST", "/things", body={"phone": "7", "count": "many"}))
    assert status == 422
    assert body["error"] == "validation_error"
    assert {f["field"] for f in body["fields"]} == {"phone", "count"}
    assert all(f["message"] for f in body["fields"])


def test_malformed_json_is_400() -> None:
    status, body, _ = call(
        http_event("POST", "/things", body='{"phone": ', headers={"content-type": "application/json"})
    )
    assert (status, body["error"]) == (400, "malformed_json")


def test_wrong_content_type_is_415() -> None:
    status, body, _ = call(
        http_event("POST", "/things", body="phone=1", headers={"content-type": "text/csv"})
    )
    assert (status, body["error"]) == (415, "unsupported_media_type")


def test_non_utf8_body_is_400_not_500() -> None:
    event = http_event("POST", "/things", headers={"content-type": "application/json"})
    event["body"] = base64.b64encode(b"\xff\xfe{").decode()
    event["isBase64Encoded"] = True
    status, body, _ = call(event)
    assert status == 400
    assert body["error"] in {"malformed_body", "malformed_json"}


def test_domain_errors_keep_their_status_and_fields() -> None:
    assert call(http_event("GET", "/missing"))[:2] == (
        404,
        {"error": "not_found", "message": "no such thing"},
    )
    status, body, headers = call(http_event("GET", "/busy"))
    assert (status, headers["Retry-After"]) == (429, "30")
    status, body, _ = call(http_event("GET", "/bad-domain"))
    assert body["fields"] == [{"field": "phone", "message": "not a valid number for CZ"}]


def test_unknown_route_is_404_json() -> None:
    status, body, _ = call(http_event("GET", "/nowhere"))
    assert (status, body["error"]) == (404, "not_found")


def test_unexpected_errors_are_500_json_without_internals() -> None:
    status, body, _ = call(http_event("GET", "/boom"))
    assert status == 500
    assert "secret internals" not in json.dumps(body)
