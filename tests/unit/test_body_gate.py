"""The body gate (ringback.api.gate) and strict JSON (ringback.domain.strict_json)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.lambda_context import LambdaContext
from ringback.api.gate import BodyGate
from ringback.api.resolver import make_resolver
from ringback.domain import strict_json
from tests.support.events import http_event
from tests.support.hostile import CORPUS, Hostile

pytestmark = pytest.mark.unit

Json = dict[str, Any] | list[Any] | str | int | float | bool | None
app = make_resolver(allowed_origins=["https://shop.example"], name="Test")


@app.post("/echo")
def echo(body: Annotated[Json, Body()]) -> dict[str, Any]:
    return {"got": body}


@app.get("/plain")
def plain() -> dict[str, Any]:
    return {"ok": True}


def hostile_event(case: Hostile, path: str = "/echo", method: str = "POST") -> dict[str, Any]:
    headers = {"origin": "https://shop.example"}
    if case.content_type is not None:
        headers["content-type"] = case.content_type
    event = http_event(method, path, headers=headers)
    event["body"], event["isBase64Encoded"] = case.body, case.base64
    return event


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_each_hostile_body_gets_its_answer(case: Hostile) -> None:
    response = app.resolve(hostile_event(case), LambdaContext("t"))
    body = json.loads(response["body"])
    assert response["headers"]["Content-Type"] == "application/json"
    if case.status is None:
        # Passed on: the route's own validation answers (``null`` is "no body" to Powertools).
        assert response["statusCode"] in (200, 422), body
        assert "got" in body or body["error"] == "validation_error"
    else:
        assert response["statusCode"] == case.status, body
        assert body["message"], body
        if case.code:
            assert body["error"] == case.code
        # The refusal carries CORS like any answer, so the widget can read it.
        assert response["headers"]["Access-Control-Allow-Origin"] == "https://shop.example"
        assert response["headers"]["Access-Control-Expose-Headers"] == "Retry-After"


def test_upper_case_json_reaches_the_route_parsed() -> None:
    event = hostile_event(Hostile("u", '{"phone": "777"}', "APPLICATION/JSON"))
    response = app.resolve(event, LambdaContext("t"))
    assert json.loads(response["body"]) == {"got": {"phone": "777"}}
    assert event["headers"]["content-type"] == "APPLICATION/JSON"  # the caller's event is untouched


def test_base64_body_is_decoded_once() -> None:
    case = next(c for c in CORPUS if c.id == "base64-json")
    response = app.resolve(hostile_event(case), LambdaContext("t"))
    assert json.loads(response["body"]) == {"got": {"phone": "777666555"}}


def test_bodies_of_methods_without_one_are_only_size_checked() -> None:
    nan = Hostile("g", '{"x": NaN}', "text/csv")
    assert app.resolve(hostile_event(nan, "/plain", "GET"), LambdaContext("t"))["statusCode"] == 200
    huge = Hostile("g", "x" * 300_000, "text/csv")
    assert app.resolve(hostile_event(huge, "/plain", "GET"), LambdaContext("t"))["statusCode"] == 413


def test_the_limit_follows_its_source_and_survives_its_failure() -> None:
    small = BodyGate(max_bytes=lambda: 10)
    assert small.check(hostile_event(Hostile("s", '{"a": "0123456789"}'))) is not None
    assert small.check(hostile_event(Hostile("s", "{}"))) is None

    def broken() -> int:
        raise RuntimeError("config unreadable")

    fallback = BodyGate(max_bytes=broken)
    assert fallback.check(hostile_event(Hostile("s", '{"a": 1}'))) is None


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_a_lenient_gate_refuses_nothing_and_drops_what_it_would_refuse(case: Hostile) -> None:
    gate = BodyGate(max_bytes=lambda: 256 * 1024, lenient=True)
    event = hostile_event(case)
    assert gate.check(event) is None
    if case.status == 415:  # forms and other types stay for the route to read
        assert event["body"] == case.body
    elif case.status is not None:  # refused JSON is dropped; what is no JSON at all stays
        assert event["body"] is None or not event["body"].lstrip().startswith(("{", "["))


def test_strict_json_limits() -> None:
    assert strict_json.loads('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert strict_json.nesting_depth('{"a": "[[[[", "b": [[]]}') == 3
    assert strict_json.nesting_depth('"\\"[[["') == 0
    with pytest.raises(strict_json.JsonRefused) as refused:
        strict_json.loads("[[1]]", max_depth=1)
    assert (refused.value.status, refused.value.code) == (422, "too_deep")


@settings(max_examples=200, derandomize=True)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(10**18), 10**18)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_strict_json_reads_what_json_writes(value: Any) -> None:
    """Any ordinary document round-trips; strictness only ever refuses the abnormal."""
    text = json.dumps(value)
    if strict_json.nesting_depth(text) <= strict_json.MAX_DEPTH:
        assert strict_json.loads(text) == json.loads(text)


class DependencyDown(Exception):
    pass


faulty = make_resolver(name="Faulty", unavailable=(DependencyDown,))


@faulty.get("/down")
def down() -> dict[str, Any]:
    raise DependencyDown("table unreachable")


@faulty.get("/boom")
def boom() -> dict[str, Any]:
    raise RuntimeError("bug")


@pytest.mark.parametrize(("path", "status"), [("/down", 503), ("/boom", 500)])
def test_every_answered_5xx_counts_in_the_handled_error_metric(path: str, status: int) -> None:
    from ringback.observability import metrics

    metrics.clear_metrics()
    response = faulty.resolve(http_event("GET", path), LambdaContext("t"))
    assert response["statusCode"] == status
    assert json.loads(response["body"])["error"] in {"unavailable", "internal_error"}
    if status == 503:
        assert int(response["headers"]["Retry-After"]) > 0
    assert metrics.metric_set["FaultyHandledErrors"]["Value"] == [1.0]
    metrics.clear_metrics()
