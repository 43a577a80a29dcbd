"""The routing function's lean entry (``functions/routing/entry.py``) answers as the resolver does.

Every event goes through both: the lean entry and the resolver's handler
(``routing_api.lambda_handler``), with the same fake use case behind them (it answers found, not
found or degraded, refuses the token, or fails with an error the real one could raise). Their
answers must be equal, status, headers and body byte for byte, and they must have asked the use
case the same thing (cid and Authorization). The lean entry must answer every lookup itself and
hand everything else (health, other methods and paths, events of another shape) to the resolver.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from devstack.template import ROOT
from ringback.domain.routing import AnswerSource, NotFoundReason, fallback_answer, not_found
from ringback.services.routing import AuthOutcome, RoutingReply
from tests.support.events import http_event
from tests.support.lean_entries import both, count_resolves, forget, fresh_function

pytestmark = pytest.mark.unit

CODE = ROOT / "functions" / "routing"
SIBLINGS = ("entry", "routing_api")
GOOD_TOKEN = "Bearer good"


@dataclass
class FakeUseCase:
    """``answer_request``: answers by the token and the cid, or raises ``failure``; records calls."""

    failure: BaseException | None = None
    calls: list[tuple[str | None, str | None]] = field(default_factory=list)

    def __call__(self, service: Any, gate: Any, cid: str | None, authorization: str | None) -> RoutingReply:
        self.calls.append((cid, authorization))
        if self.failure is not None:
            raise self.failure
        if authorization is None:
            return RoutingReply(AuthOutcome.MISSING)
        if authorization != GOOD_TOKEN:
            return RoutingReply(AuthOutcome.INVALID)
        if cid is None:
            return RoutingReply(AuthOutcome.OK, not_found(NotFoundReason.NO_CID))
        if cid.endswith("9"):
            return RoutingReply(AuthOutcome.OK, fallback_answer(number=cid))
        return RoutingReply(
            AuthOutcome.OK, not_found(NotFoundReason.UNKNOWN_NUMBER, number=cid, source=AnswerSource.CACHE)
        )


@dataclass
class Handlers:
    lean: ModuleType
    full: ModuleType
    use_case: FakeUseCase
    resolved: list[int]


@pytest.fixture(scope="module")
def handlers() -> Iterator[Handlers]:
    monkeypatch = pytest.MonkeyPatch()
    fresh_function(monkeypatch, CODE, SIBLINGS, RINGBACK_MAX_EVENT_BODY_BYTES="2048")
    from ringback.adapters import routing_factory as wiring

    # The use case is faked; the service and gate it is given are never used.
    monkeypatch.setattr(wiring, "service", lambda: "service")
    monkeypatch.setattr(wiring, "gate", lambda: "gate")
    import entry  # type: ignore[import-not-found]
    import routing_api  # type: ignore[import-not-found]

    use_case = FakeUseCase()
    monkeypatch.setattr(entry, "answer_request", use_case)
    monkeypatch.setattr(routing_api, "answer_request", use_case)
    yield Handlers(entry, routing_api, use_case, count_resolves(monkeypatch, routing_api))
    monkeypatch.undo()
    forget(SIBLINGS)


def run_both(h: Handlers, event: Any) -> tuple[Any, Any, bool]:
    return both(h.lean, h.full, h.use_case.calls, h.resolved, event)


CIDS = st.sampled_from(["+420601000001", "601000009", "00420 601 000 002", "", "sip:1001@pbx", "x" * 300])
FAILURES = st.sampled_from([None, None, None, RuntimeError("a bug"), KeyError("cid")])


def bodies() -> st.SearchStrategy[Any]:
    """POST bodies as a Webitel flow (or anything else) may send them."""
    return st.one_of(
        CIDS.map(lambda cid: json.dumps({"cid": cid})),
        CIDS.map(lambda cid: f"cid={cid}"),
        st.sampled_from(
            [
                "",
                "null",
                "{}",
                '{"cid": 420601000001}',
                '{"cid": true}',
                '{"cid": null}',
                '{"cid": "1", "cid": "2"}',
                "[1]",
                "{",
                "cid=",
                "a=1&cid=%2B420601000001",
                '{"a": ' * 40 + "1" + "}" * 40,
                json.dumps({"cid": "+420601000001", "pad": "x" * 3000}),  # over the 2048 limit
            ]
        ),
        st.none(),
    )


HEADERS = st.fixed_dictionaries(
    {"authorization": st.sampled_from([GOOD_TOKEN] * 6 + ["Bearer bad", "", "Basic Zm9v"])},
    optional={
        "Authorization": st.sampled_from([GOOD_TOKEN, "bearer good"]),
        "content-type": st.sampled_from(
            [
                "application/json",
                "APPLICATION/JSON; charset=UTF-8",
                "application/x-www-form-urlencoded",
                "text/plain",
            ]
        ),
    },
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 19))
    if kind == 0:  # not an HTTP API event at all
        return draw(st.sampled_from([{}, {"rawPath": "/v1/routing"}, {"requestContext": {"http": "GET"}}]))
    method = draw(st.sampled_from(["GET", "POST"] * 4 + ["get", "PUT", "HEAD"]))
    path = draw(st.sampled_from(["/v1/routing"] * 8 + ["/v1/health/routing", "/v1/routing/", "/v2"]))
    query = draw(
        st.one_of(st.none(), st.fixed_dictionaries({}, optional={"cid": CIDS, "other": st.just("1")}))
    )
    body = draw(bodies()) if method.upper() == "POST" or draw(st.booleans()) else None
    event = http_event(
        method,
        path,
        query=query,
        body=body,
        headers=draw(
            HEADERS.map(
                lambda h: (
                    h if h["authorization"] != "" else {k: v for k, v in h.items() if k != "authorization"}
                )
            )
        ),
        base64_body=body is not None and draw(st.booleans()),
    )
    event["requestContext"]["http"]["method"] = method
    if kind == 1:
        event["requestContext"]["stage"] = "prod"
        event["rawPath"] = draw(st.sampled_from(["/prod" + path, path]))
    if kind == 2:
        event["queryStringParameters"] = {"cid": 5}  # not text: the resolver's to answer
    return event


@given(event=events(), failure=FAILURES)
@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_the_lean_lookup_answers_as_the_resolver_does(handlers: Handlers, event: Any, failure: Any) -> None:
    handlers.use_case.failure = failure
    lean, full, handed_on = run_both(handlers, event)
    label(f"{'resolver' if handed_on else 'lean entry'} {full[0].get('statusCode')}")
    assert lean == full
    # Every lookup the resolver's routes would answer, the lean entry answers itself.
    http = event.get("requestContext", {}).get("http") if isinstance(event, dict) else None
    stage = event.get("requestContext", {}).get("stage") if isinstance(event, dict) else None
    # Powertools' path: rawPath less "/<stage>" (so "/v1/routing" under stage "prod" is no route).
    path = event.get("rawPath") if stage == "$default" else str(event.get("rawPath"))[len(f"/{stage}") :]
    lookup = (
        isinstance(http, dict)
        and str(http.get("method", "")).upper() in ("GET", "POST")
        and path == "/v1/routing"
        and (event.get("queryStringParameters") or {}).get("cid") != 5
    )
    assert handed_on == (not lookup), json.dumps(event)


def test_a_lookup_is_answered_without_the_resolver(handlers: Handlers) -> None:
    handlers.use_case.failure = None
    event = http_event(
        "POST", "/v1/routing", body="cid=%2B420601000001", headers={"authorization": GOOD_TOKEN}
    )
    lean, full, handed_on = run_both(handlers, event)
    assert not handed_on
    assert lean == full
    answer, calls = lean
    assert calls == [("+420601000001", GOOD_TOKEN)]
    assert answer["statusCode"] == 200
    assert answer["headers"] == {"Cache-Control": "no-store", "Content-Type": "application/json"}
    assert json.loads(answer["body"])["reason"] == "unknown_number"


def test_a_refused_token_is_a_401_naming_the_realm(handlers: Handlers) -> None:
    handlers.use_case.failure = None
    encoded = base64.b64encode(json.dumps({"cid": "+420601000001"}).encode()).decode()
    event = http_event("GET", "/v1/routing", query={"cid": "1"}, headers={"authorization": "Bearer bad"})
    event["body"], event["isBase64Encoded"] = encoded, True
    (answer, _), full, handed_on = run_both(handlers, event)
    assert not handed_on and (answer, _) == full
    assert answer["statusCode"] == 401
    assert answer["headers"]["WWW-Authenticate"] == 'Bearer realm="ringback-routing"'
    assert json.loads(answer["body"]) == {"error": "unauthorized", "message": "invalid bearer token"}


def test_the_health_route_goes_to_the_resolver(handlers: Handlers) -> None:
    assert handlers.lean._prepared(http_event("GET", "/v1/health/routing")) is None
    assert handlers.lean.app is handlers.full.app
