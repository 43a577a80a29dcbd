"""The IVR function's lean entry (``functions/ivr/entry.py``) answers as the resolver does.

Every event goes through both: the lean entry and the resolver's handler
(``ivr_api.lambda_handler``), with the same fake service and token gate behind them (the gate
accepts, refuses, knows no token or fails; the service answers, names a bad field or fails).
Their answers must be equal, status, headers and body byte for byte, and they must have asked
the service the same thing. The lean entry must answer every accept and cancel whose body the
gate passes, and hand everything else to the resolver.
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

from devstack.lambda_context import LambdaContext
from devstack.template import ROOT
from ringback.services.callbacks.ivr import IvrAnswer, IvrCancelAnswer, IvrReply
from ringback.services.routing import AuthOutcome
from tests.support.events import http_event
from tests.support.lean_entries import both, count_resolves, forget, fresh_function

pytestmark = pytest.mark.unit

CODE = ROOT / "functions" / "ivr"
SIBLINGS = ("entry", "ivr_api")
GOOD_TOKEN = "Bearer good"


@dataclass
class FakeGate:
    """The token gate: OK for the good token, MISSING / INVALID otherwise, or ``outcome``."""

    outcome: AuthOutcome | BaseException | None = None

    def check(self, authorization: str | None, deadline: Any) -> AuthOutcome:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        if self.outcome is not None:
            return self.outcome
        if authorization is None:
            return AuthOutcome.MISSING
        return AuthOutcome.OK if authorization == GOOD_TOKEN else AuthOutcome.INVALID


@dataclass
class FakeService:
    """The IVR use cases: answer from the body, a 400 naming ``cid``, or raise ``failure``."""

    failure: BaseException | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def deadline(self) -> str:
        return "deadline"

    def _reply(self, kind: str, body: Any) -> IvrReply:
        self.calls.append((kind, body))
        if self.failure is not None:
            raise self.failure
        if not isinstance(body, dict) or "cid" not in body:
            return IvrReply(400, {"error": "invalid_field", "field": "cid", "message": "cid is required"})
        if kind == "accept":
            return IvrReply(200, IvrAnswer(accepted=True, say="Zavoláme vám.", position=2).to_json())
        return IvrReply(200, IvrCancelAnswer(cancelled=True, say="Zrušeno.", callback_id="cb_1").to_json())

    def accept(self, body: Any) -> IvrReply:
        return self._reply("accept", body)

    def cancel(self, body: Any) -> IvrReply:
        return self._reply("cancel", body)


@dataclass
class Handlers:
    lean: ModuleType
    full: ModuleType
    service: FakeService
    gate: FakeGate
    resolved: list[int]


@pytest.fixture(scope="module")
def handlers() -> Iterator[Handlers]:
    monkeypatch = pytest.MonkeyPatch()
    fresh_function(monkeypatch, CODE, SIBLINGS, RINGBACK_MAX_EVENT_BODY_BYTES="2048")
    from ringback.adapters import ivr_factory as wiring

    service, gate = FakeService(), FakeGate()
    monkeypatch.setattr(wiring, "service", lambda: service)
    monkeypatch.setattr(wiring, "gate", lambda: gate)
    import entry  # type: ignore[import-not-found]
    import ivr_api  # type: ignore[import-not-found]

    yield Handlers(entry, ivr_api, service, gate, count_resolves(monkeypatch, ivr_api))
    monkeypatch.undo()
    forget(SIBLINGS)


def run_both(h: Handlers, event: Any) -> tuple[Any, Any, bool]:
    return both(h.lean, h.full, h.service.calls, h.resolved, event)


BODIES = st.one_of(
    st.fixed_dictionaries(
        {"cid": st.sampled_from(["+420601000001", ""])},
        optional={
            "queue_id": st.just("3"),
            "call_id": st.just("c-1"),
            "language": st.sampled_from(["cs", "en"]),
        },
    ).map(json.dumps),
    st.sampled_from(
        [
            "",
            "null",
            "{}",
            "[1]",
            "{",
            "cid=1",
            '{"cid": "1", "cid": "2"}',
            '{"a": ' * 40 + "1" + "}" * 40,
            json.dumps({"cid": "+420601000001", "pad": "x" * 3000}),  # over the 2048 limit
        ]
    ),
    st.none(),
)
HEADERS = st.fixed_dictionaries(
    {"authorization": st.sampled_from([GOOD_TOKEN] * 6 + ["Bearer bad", ""])},
    optional={
        "Authorization": st.sampled_from([GOOD_TOKEN, "bearer good"]),
        "content-type": st.sampled_from(
            ["application/json", "APPLICATION/JSON; charset=UTF-8", "text/plain"]
        ),
    },
).map(lambda h: h if h["authorization"] else {k: v for k, v in h.items() if k != "authorization"})
GATES = st.sampled_from([None] * 6 + [AuthOutcome.UNAVAILABLE, RuntimeError("secret store down")])
FAILURES = st.sampled_from([None] * 6 + [RuntimeError("a bug"), KeyError("x")])


@st.composite
def events(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.sampled_from([{}, {"job": "other"}, {"rawPath": "/v1/callbacks/ivr"}]))
    method = draw(st.sampled_from(["POST"] * 8 + ["post", "GET", "PUT"]))
    path = draw(
        st.sampled_from(
            ["/v1/callbacks/ivr"] * 5
            + ["/v1/callbacks/ivr/cancel"] * 4
            + ["/v1/callbacks/ivr/", "/v1/callbacks"]
        )
    )
    body = draw(BODIES)
    event = http_event(
        method, path, body=body, headers=draw(HEADERS), base64_body=body is not None and draw(st.booleans())
    )
    event["requestContext"]["http"]["method"] = method
    if kind == 1:
        event["requestContext"]["stage"] = "prod"
        event["rawPath"] = draw(st.sampled_from(["/prod" + path, path]))
    return event


@given(event=events(), gate=GATES, failure=FAILURES)
@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_the_lean_accept_and_cancel_answer_as_the_resolver_does(
    handlers: Handlers, event: Any, gate: Any, failure: Any
) -> None:
    handlers.gate.outcome = gate
    handlers.service.failure = failure
    lean, full, handed_on = run_both(handlers, event)
    label(f"{'resolver' if handed_on else 'lean entry'} {full[0].get('statusCode')}")
    assert lean == full
    # What the lean entry hands on, the resolver answers without reaching a route (or with a
    # 404 / 405 of its own): a refused body, another path or method, or no HTTP event at all.
    if handed_on:
        assert full[1] == [] and (full[0].get("statusCode") or 500) >= 400


def test_an_accept_is_answered_without_the_resolver(handlers: Handlers) -> None:
    handlers.gate.outcome, handlers.service.failure = None, None
    body = base64.b64encode(json.dumps({"cid": "+420601000001", "call_id": "c-1"}).encode()).decode()
    event = http_event("POST", "/v1/callbacks/ivr", headers={"authorization": GOOD_TOKEN})
    event["body"], event["isBase64Encoded"] = body, True
    lean, full, handed_on = run_both(handlers, event)
    assert not handed_on and lean == full
    answer, calls = lean
    assert calls == [("accept", {"cid": "+420601000001", "call_id": "c-1"})]
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["accepted"] == "true"
    assert "Zavoláme" in answer["body"]  # the say text as UTF-8, not \u escapes


def test_no_token_known_answers_degraded_not_401(handlers: Handlers) -> None:
    handlers.gate.outcome, handlers.service.failure = AuthOutcome.UNAVAILABLE, None
    event = http_event(
        "POST", "/v1/callbacks/ivr/cancel", body={"cid": "1"}, headers={"authorization": GOOD_TOKEN}
    )
    (answer, calls), full, handed_on = run_both(handlers, event)
    assert not handed_on and (answer, calls) == full
    assert calls == []
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["reason"] == "degraded"


def test_the_offer_job_and_a_refused_body(handlers: Handlers, monkeypatch: pytest.MonkeyPatch) -> None:
    from ringback.adapters import ivr_factory

    monkeypatch.setattr(ivr_factory, "refresh_offer", lambda: {"refreshed": True})
    assert handlers.lean.lambda_handler({"job": "ivr-offer"}, LambdaContext("t")) == {"refreshed": True}
    too_big = http_event("POST", "/v1/callbacks/ivr", body={"cid": "1", "pad": "x" * 3000})
    assert handlers.lean._prepared(too_big) is None
    assert handlers.lean.app is handlers.full.app
