"""The lean form submit (``functions/callbacks/form_submit.py``) answers as the resolver does.

Every event goes through both: the lean handler and the full resolver's handler
(``form_api.lambda_handler``), with the same fake service behind them (it answers, or fails
with each kind of error the real one can raise). Their answers must be equal, status, headers
and body byte for byte, and they must have asked the service the same thing. The lean path
must answer a valid request itself and hand every other one to the resolver.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from devstack.lambda_context import LambdaContext
from devstack.template import ROOT
from ringback.domain.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    RateLimited,
    Unavailable,
    Unprocessable,
)
from tests.support.events import http_event
from tests.support.lean_entries import count_resolves
from tests.unit.callbacks_fakes import StaticConfig, make_config

pytestmark = pytest.mark.unit

CODE = ROOT / "functions" / "callbacks"
ORIGINS = "https://shop.example,https://www.shop.example"
SIBLINGS = ("entry", "form_api", "form_submit", "widget")


def forget_cached() -> None:
    """Forget every cached client, setting and builder of the layer (as a new container)."""
    for name, module in list(sys.modules.items()):
        if name == "ringback" or name.startswith("ringback."):
            for attr in vars(module).values():
                if callable(getattr(attr, "cache_clear", None)):
                    attr.cache_clear()


class _LateError(Exception):
    """Stands for an error class named late (``unavailable_loaded``: httpx's, once loaded)."""


@dataclass
class FakeAnswer:
    body: dict[str, Any]

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return self.body


@dataclass
class FakeService:
    """The callback service: answers from the request, or raises ``failure``; records calls."""

    failure: BaseException | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def submit(self, request: Any, caller: Any) -> FakeAnswer:
        self.calls.append((request.model_dump(mode="json"), caller))
        if self.failure is not None:
            raise self.failure
        return FakeAnswer({"id": "cb_0123456789abcdef", "status": "new", "mode": request.mode, "n": 1.5})


class FakeIdempotencyConfig:
    def register_lambda_context(self, context: Any) -> None:
        pass


@dataclass
class Handlers:
    lean: ModuleType
    full: ModuleType
    service: FakeService
    keyed_failure: list[BaseException | None]
    resolved: list[int]
    accepted: list[int]


@pytest.fixture(scope="module")
def handlers() -> Iterator[Handlers]:
    monkeypatch = pytest.MonkeyPatch()
    for key in [k for k in os.environ if k.startswith("RINGBACK_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("RINGBACK_ALLOWED_ORIGINS", ORIGINS)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    forget_cached()
    monkeypatch.syspath_prepend(str(CODE))
    for name in SIBLINGS:
        sys.modules.pop(name, None)
    from ringback.adapters import callbacks_factory as wiring

    service = FakeService()
    keyed_failure: list[BaseException | None] = [None]

    def run(*, key: dict[str, str], request: Any, caller: Any) -> dict[str, Any]:
        if keyed_failure[0] is not None:
            raise keyed_failure[0]
        return service.submit(request, caller).model_dump(mode="json")

    config = make_config(callbacks={"max_body_bytes": 2048})
    monkeypatch.setattr(wiring, "config_source", lambda: StaticConfig(config))
    monkeypatch.setattr(wiring, "callbacks", lambda: service)
    monkeypatch.setattr(wiring, "idempotency", lambda: (run, FakeIdempotencyConfig()))
    monkeypatch.setattr(wiring, "infrastructure_errors", lambda: (*wiring.INFRASTRUCTURE_ERRORS, _LateError))
    import form_api  # type: ignore[import-not-found]
    import form_submit  # type: ignore[import-not-found]

    resolved = count_resolves(monkeypatch, form_api)
    accepted: list[int] = []
    accept = form_submit.accept

    def accepting(*args: Any) -> Any:
        accepted.append(1)
        return accept(*args)

    monkeypatch.setattr(form_submit, "accept", accepting)  # the route's submit calls it too
    yield Handlers(form_submit, form_api, service, keyed_failure, resolved, accepted)
    monkeypatch.undo()
    for name in SIBLINGS:
        sys.modules.pop(name, None)
    forget_cached()


def both(h: Handlers, event: dict[str, Any]) -> tuple[Any, Any, bool, bool]:
    """(lean answer and service calls, full answer and service calls, whether the lean path
    handed the event to the resolver, whether the resolver's route submitted it)."""
    context = LambdaContext("ringback-test-function")
    h.service.calls.clear()
    h.resolved.clear()
    lean = h.lean.lambda_handler(json.loads(json.dumps(event)), context)
    lean_calls = list(h.service.calls)
    handed_on = bool(h.resolved)
    h.service.calls.clear()
    h.accepted.clear()
    full = h.full.lambda_handler(json.loads(json.dumps(event)), context)
    return (lean, lean_calls), (full, list(h.service.calls)), handed_on, bool(h.accepted)


def client_error() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem"
    )


FAILURES = st.sampled_from(
    [
        None,
        Forbidden("the origin is not allowed"),
        Unprocessable("some fields are not valid", fields=(FieldProblem("phone", "not a number"),)),
        RateLimited("too many requests", retry_after_s=120),
        Conflict("the request changed meanwhile"),
        Unavailable("could not store the callback request; please try again"),
        "client_error",
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        _LateError("late"),
        RuntimeError("a bug"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ]
)

PHONES = st.sampled_from(
    ["+420601000001", "601 000 002", "+421905000003", "00420601000004", "12", "+1 202 555 0100", "", "x" * 40]
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["now", "later", "scheduled", "cmb", "call_me_now", "soon", 3]),
        "phone": PHONES,
        "name": st.sampled_from(["Jana", " Jana ", "", "J" * 300, None]),
        "source": st.sampled_from(["web", "whisbi", "", 7]),
        "country": st.sampled_from(["CZ", "SK", "cz", "XX", None]),
        "scheduled_at": st.sampled_from(["2026-12-03T09:00:00+01:00", "tomorrow", None]),
        "consent": st.sampled_from([True, False, "yes"]),
        "website": st.sampled_from(["", "http://spam.example"]),
        "unknown": st.sampled_from(["kept out", 1]),
    },
)


# Forms the model accepts (the lean path answers them), with some fields changed.
GOOD = st.fixed_dictionaries(
    {
        "phone": st.sampled_from(["+420601000001", "601 000 002", "+421905000003"]),
        "mode": st.sampled_from(["later", "now", "cmb", "call_me_now"]),
    },
    optional={
        "name": st.sampled_from(["Jana", " Jana "]),
        "source": st.sampled_from(["web", "whisbi"]),
        "country": st.sampled_from(["CZ", "SK"]),
        "unknown": st.sampled_from(["kept out", 1]),
    },
)


def raw_bodies() -> st.SearchStrategy[Any]:
    """Bodies as sent: JSON objects mostly, and what else reaches a form endpoint."""
    return st.one_of(
        GOOD.map(json.dumps),
        GOOD.map(json.dumps),
        st.tuples(GOOD, FIELDS).map(lambda both: json.dumps({**both[0], **both[1]})),
        FIELDS.map(json.dumps),
        FIELDS.map(lambda d: [d]),  # Powertools reads a list as its first item
        st.sampled_from(
            ["", "null", "[]", "3", '"text"', "{", '{"phone": "+420601000001", "phone": "1"}', "{'a': 1}"]
        ),
        st.just(json.dumps({"phone": "+420601000001", "name": "x" * 3000})),  # over the 2048 limit
        st.just('{"a": ' * 40 + "1" + "}" * 40),
        st.none(),
    )


ORIGIN_HEADERS = st.sampled_from(
    [
        {},
        {"origin": "https://shop.example"},
        {"Origin": "https://www.shop.example"},
        {"origin": "https://evil.example"},
        {"origin": "https://shop.example, https://evil.example"},
        {"origin": "https://evil.example,https://shop.example"},
        {"origin": ""},
    ]
)
OTHER_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(
            [
                "application/json",
                "APPLICATION/JSON; charset=UTF-8",
                "text/plain",
                "application/merge-patch+json",
                "",
            ]
        ),
        "idempotency-key": st.sampled_from(["k-1", "", "K" * 300]),
        "Idempotency-Key": st.sampled_from(["k-2"]),
        "x-ringback-site-key": st.sampled_from(["site-1"]),
        "x-forwarded-proto": st.sampled_from(["http", "https"]),
        "host": st.sampled_from(["127.0.0.1:3000", "", "api.example.com"]),
    },
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(raw_bodies())
    headers = {**draw(ORIGIN_HEADERS), **draw(OTHER_HEADERS)}
    encoded = body is not None and draw(st.booleans())
    event = http_event(
        "POST",
        "/v1/callbacks",
        body=body if not isinstance(body, list) else json.dumps(body),
        headers=headers,
        source_ip=draw(st.sampled_from(["198.51.100.7", "203.0.113.9"])),
        base64_body=encoded,
    )
    if "host" in headers:
        event["headers"]["host"] = headers["host"]
        if not headers["host"] and draw(st.booleans()):
            del event["requestContext"]["domainName"]  # no host at all: the resolver's 500
    if draw(st.integers(0, 19)) == 0:
        event["requestContext"]["stage"] = "prod"
        event["rawPath"] = draw(st.sampled_from(["/prod/v1/callbacks", "/v1/callbacks"]))
    if "content-type" in headers and not headers["content-type"]:
        del event["headers"]["content-type"]
    for name in draw(st.sets(st.sampled_from(["origin", "idempotency-key", "content-type", "host"]))):
        if name in event["headers"]:  # API Gateway lower-cases names; a direct invocation may not
            event["headers"][name.title()] = event["headers"].pop(name)
    return event


@given(event=events(), failure=FAILURES, keyed_failure=st.sampled_from([None, "in_progress", "store"]))
@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_the_lean_submit_answers_as_the_resolver_does(
    handlers: Handlers, event: dict[str, Any], failure: Any, keyed_failure: str | None
) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    handlers.service.failure = client_error() if failure == "client_error" else failure
    handlers.keyed_failure[0] = {
        None: None,
        "in_progress": IdempotencyAlreadyInProgressError("in progress"),
        "store": IdempotencyPersistenceLayerError("table down"),
    }[keyed_failure]
    lean, full, handed_on, submitted = both(handlers, event)
    label(
        f"{'resolver' if handed_on else 'lean path'} {full[0]['statusCode']}"
    )  # --hypothesis-show-statistics
    assert lean == full
    # The lean path answers only what the resolver's route would submit, and all of it but a
    # list body (Powertools reads its first item; the lean path leaves that to the resolver).
    assert handed_on or submitted
    if not list_body(event):
        assert handed_on == (not submitted)


def list_body(event: dict[str, Any]) -> bool:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return str(raw).lstrip().startswith("[")


VALID = {"mode": "later", "phone": "+420601000001", "name": "Jana", "source": "web"}


def test_a_valid_submit_is_answered_by_the_lean_path_with_the_resolvers_headers(handlers: Handlers) -> None:
    handlers.service.failure = None
    handlers.keyed_failure[0] = None
    event = http_event("POST", "/v1/callbacks", body=VALID, headers={"origin": "https://shop.example"})
    lean, full, handed_on, _ = both(handlers, event)
    assert not handed_on and lean == full
    answer, calls = lean
    assert answer["statusCode"] == 202
    assert answer["headers"]["Access-Control-Allow-Origin"] == "https://shop.example"
    assert answer["headers"]["Content-Type"] == "application/json"
    assert json.loads(answer["body"])["id"] == "cb_0123456789abcdef"
    assert len(calls) == 1 and calls[0][1].client_ip == "198.51.100.7"


@pytest.mark.parametrize(
    ("body", "status", "field_name"),
    [
        ({**VALID, "phone": "12"}, 422, "phone"),
        ({**VALID, "mode": "soon"}, 422, "mode"),
        ("{", 400, None),
        ("", 422, "body"),
    ],
)
def test_an_invalid_body_is_answered_by_the_resolver_naming_the_field(
    handlers: Handlers, body: Any, status: int, field_name: str | None
) -> None:
    handlers.service.failure = None
    event = http_event("POST", "/v1/callbacks", body=body, headers={"content-type": "application/json"})
    lean, full, handed_on, _ = both(handlers, event)
    assert handed_on and lean == full and lean[1] == []
    assert lean[0]["statusCode"] == status
    if field_name is not None:
        assert field_name in [f["field"] for f in json.loads(lean[0]["body"])["fields"]]


def test_a_base64_body_is_read_as_the_resolver_reads_it(handlers: Handlers) -> None:
    handlers.service.failure = None
    raw = json.dumps(VALID)
    event = http_event(
        "POST", "/v1/callbacks", body=raw, base64_body=True, headers={"content-type": "application/json"}
    )
    assert base64.b64decode(event["body"]).decode() == raw
    lean, full, handed_on, _ = both(handlers, event)
    assert not handed_on and lean == full and lean[0]["statusCode"] == 202
