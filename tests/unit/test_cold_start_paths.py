"""What the cold-start paths load, and the pieces that let them load less (``bench/coldstart.py``
measures the time; these tests hold the imports): the page-view settings reader against
pydantic's ``Settings``, the botocore session's data loader, the error classes a cold start has
not imported yet, and which libraries each hot path leaves unloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.template import ROOT
from ringback.adapters.lean_settings import CHOICES, LeanSettings, read_lean_settings
from ringback.config import Settings

pytestmark = pytest.mark.unit

LAYER = ROOT / "layers" / "ringback"


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("RINGBACK_"):
            monkeypatch.delenv(key)


def _both(env: dict[str, str]) -> tuple[Any, Any]:
    """(the lean reader's settings, the same fields of pydantic's ``Settings``), or ValueError."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean(monkeypatch)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        try:
            lean = read_lean_settings()
            light: Any = (lean, lean.allowed_origin_list)
        except ValueError:
            light = ValueError
        try:
            full = Settings()
            same = LeanSettings(**{f.name: getattr(full, f.name) for f in fields(LeanSettings)})
            heavy: Any = (same, full.allowed_origin_list)
        except ValueError:  # pydantic's ValidationError is a ValueError
            heavy = ValueError
    return light, heavy


def test_every_lean_setting_is_a_setting_of_the_same_type() -> None:
    for field in fields(LeanSettings):
        assert field.name in Settings.model_fields, field.name
        annotation = Settings.model_fields[field.name].annotation
        if field.name in CHOICES:  # a Literal of text values: the lean reader checks the values
            assert field.type == "str" and annotation == Literal[CHOICES[field.name]], field.name
        else:
            assert annotation.__name__ == field.type, field.name


def test_lean_defaults_are_the_settings_defaults() -> None:
    light, heavy = _both({})
    assert light == heavy == (LeanSettings(), [])


# The variables the lean reader reads (a bad value of another setting fails ``Settings()`` alone,
# as it does for the routing reader).
_VALUES = {
    "RINGBACK_GUARD_TABLE": st.sampled_from(["", "t-guard", " spaced "]),
    "RINGBACK_CONFIG_PARAMETER": st.sampled_from(["/ringback/prod/config", ""]),
    "RINGBACK_ALLOWED_ORIGINS": st.sampled_from(
        ["", "https://a.example", " https://a.example , https://b.example,"]
    ),
    "RINGBACK_WEBITEL_BASE_URL": st.sampled_from(["https://webitel.example/api"]),
    "RINGBACK_WEBITEL_TOKEN_SECRET": st.sampled_from(["arn:secret:webitel", ""]),
    "RINGBACK_OPERATOR_CONFIG_MAX_AGE_S": st.one_of(
        st.integers(-3, 4000).map(str),
        st.sampled_from(["", "x", "2.5", " 7 ", "1e3", "1_0", "1__0", "_1", "-0.0", "8.", "\u0667", "+5"]),
    ),
    "RINGBACK_SECRETS_MAX_AGE_S": st.one_of(st.integers(-2, 900).map(str), st.sampled_from(["nan", "0"])),
    "RINGBACK_MAX_EVENT_BODY_BYTES": st.one_of(
        st.integers(0, 2_000_000).map(str), st.sampled_from(["1023", "1024", "4096.0", "big"])
    ),
    "RINGBACK_DEFAULT_REGION": st.sampled_from(["SK", "CZ", "cz", "CZE", "", "C1", "SK\n", " SK"]),
    "RINGBACK_CALLBACKS_TABLE": st.sampled_from(["t-callbacks", ""]),
    "RINGBACK_OUTBOX_TABLE": st.sampled_from(["t-outbox", " x "]),
    "RINGBACK_IVR_TOKENS_SECRET": st.sampled_from(["arn:secret:ivr", ""]),
    "RINGBACK_IVR_BUDGET_MS": st.one_of(
        st.integers(0, 1200).map(str),
        st.sampled_from(["99", "100", "900", "901", "800.0", "8e2", "x", " 500 "]),
    ),
    "RINGBACK_ROUTING_TOKENS_STALE_MAX_S": st.one_of(
        st.integers(-5, 10_000).map(str), st.sampled_from(["", "1_000", "3.5"])
    ),
    "RINGBACK_IDEMPOTENCY_TABLE": st.sampled_from(["t-idempotency", ""]),
    "RINGBACK_SIGNING_KEY_SECRET": st.sampled_from(["arn:secret:signing", ""]),
    "RINGBACK_AGENT_DESKTOP_TOKENS_SECRET": st.sampled_from(["arn:secret:agents"]),
    "RINGBACK_CAPTCHA_BACKEND": st.sampled_from(
        ["sandbox", "turnstile", "Turnstile", " sandbox", "", "none", "turnstile\n"]
    ),
    "RINGBACK_CAPTCHA_SECRET": st.sampled_from(["arn:secret:captcha", ""]),
    "RINGBACK_CAPTCHA_VERIFY_URL": st.sampled_from(["http://127.0.0.1:9/verify"]),
    "RINGBACK_IDEMPOTENCY_TTL_S": st.one_of(
        st.integers(0, 700_000).map(str), st.sampled_from(["59", "60", "604800", "604801", "3600.0", "1h"])
    ),
}


def test_the_lean_values_cover_every_lean_field() -> None:
    assert {f"RINGBACK_{f.name.upper()}" for f in fields(LeanSettings)} == set(_VALUES)


@given(env=st.fixed_dictionaries({}, optional=_VALUES))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_lean_settings_read_the_environment_as_the_settings_do(env: dict[str, str]) -> None:
    light, heavy = _both(env)
    assert light == heavy


def test_the_session_data_loader_still_refuses_an_unknown_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import DataNotFoundError, UnknownServiceError

    from ringback.adapters import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    aws.reset_clients()
    try:
        loader = aws.session().get_component("data_loader")
        assert {"dynamodb", "secretsmanager", "ssm", "sqs"} <= set(
            loader.list_available_services("service-2")
        )
        assert type(aws.client("dynamodb")).__name__ == "DynamoDB"
        with pytest.raises((UnknownServiceError, DataNotFoundError)):
            aws.session().create_client("no-such-service")
    finally:
        aws.reset_clients()


class _LateError(Exception):
    """Stands for an error class of a library imported after the resolver was built (httpx)."""


def test_an_error_class_named_late_is_answered_503() -> None:
    from ringback.api.resolver import make_resolver
    from tests.support.events import http_event

    loaded: list[type[Exception]] = []
    app = make_resolver(validation=False, name="Probe", unavailable_loaded=lambda: tuple(loaded))

    @app.get("/probe")
    def probe() -> dict[str, str]:
        raise _LateError("the dependency failed")

    event = http_event("GET", "/probe")
    assert app.resolve(event, None)["statusCode"] == 500  # not named: an unexpected error
    loaded.append(_LateError)
    answer = app.resolve(event, None)
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert json.loads(answer["body"])["error"] == "unavailable"


def test_the_callbacks_entry_knows_the_widgets_versioned_route() -> None:
    sys.path.insert(0, str(ROOT / "functions" / "callbacks"))
    try:
        import entry  # type: ignore[import-not-found]
        import widget  # type: ignore[import-not-found]

        assert widget.VERSIONED_ROUTE in entry.WIDGET_ROUTES
        assert entry.WIDGET_ROUTES[widget.VERSIONED_ROUTE] == "widget.js"
    finally:
        sys.path.remove(str(ROOT / "functions" / "callbacks"))
        for name in ("entry", "widget"):
            sys.modules.pop(name, None)


HEAVY = ("boto3", "pydantic", "pydantic_settings", "httpx", "aws_lambda_powertools.utilities.idempotency")

_PROBE = """
import json, sys
sys.path[:0] = [{code!r}, {layer!r}]
{statements}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(function: str, statements: str, watched: tuple[str, ...] = HEAVY, **settings: str) -> list[str]:
    code = _PROBE.format(
        code=str(ROOT / "functions" / function), layer=str(LAYER), statements=statements, heavy=watched
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGBACK_")}
    env["AWS_DEFAULT_REGION"] = "eu-central-1"
    env.update({f"RINGBACK_{name.upper()}": value for name, value in settings.items()})
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_status_path_loads_no_boto3_settings_models_httpx_or_idempotency() -> None:
    statements = (
        "import entry\n"
        "from ringback.adapters import status_factory\n"
        "status_factory.dynamodb(); status_factory.config_source(); status_factory.infrastructure_errors()\n"
        "entry._cors({'headers': {'origin': 'https://a.example'}}, {})\n"
    )
    assert _loaded("callbacks", statements) == ["pydantic"]  # the operator configuration's models


def test_a_status_answered_from_the_shared_answer_loads_no_models_schedule_or_powertools() -> None:
    """The snapshot path (``adapters.status_snapshot``): a whole answer, with its client built."""
    watched = (
        *HEAVY,
        "aws_lambda_powertools",
        "ringback.observability",
        "ringback.domain.operator_config",
        "ringback.domain.schedule",
        "ringback.services.availability",
    )
    statements = (
        "import json, entry\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from ringback.adapters import status_snapshot\n"
        "from ringback.domain.status_answer import FIELDS, StatusSnapshot\n"
        "now = datetime.now(UTC)\n"
        "status_snapshot.shared_cache()\n"
        "answer = dict.fromkeys(FIELDS, None) | {'status': 'online'}\n"
        "later = now + timedelta(minutes=5)\n"
        "status_snapshot.held().snapshot = StatusSnapshot(answer, later, later, 10)\n"
        "event = {'routeKey': 'GET /v1/status', 'headers': {'origin': 'https://a.example'}}\n"
        "reply = entry.lambda_handler(event, None)\n"
        "assert reply['statusCode'] == 200 and json.loads(reply['body'])['status'] == 'online', reply\n"
        "assert reply['headers']['Cache-Control'] == 'public, max-age=10', reply\n"
        "assert reply['headers']['Access-Control-Allow-Origin'] == 'https://a.example', reply\n"
    )
    assert _loaded("callbacks", statements, watched, allowed_origins="https://a.example") == []


def test_the_routing_resolver_loads_no_pydantic_boto3_or_httpx() -> None:
    statements = (
        "import routing_api\n"
        "from ringback.adapters import routing_factory\n"
        "routing_factory.service(); routing_factory.gate()\n"
        "from ringback.api import gate\n"
        "assert gate.default_body_limit() == 256 * 1024\n"
    )
    assert _loaded("routing", statements) == []


def test_the_routing_lookup_loads_no_resolver_pydantic_boto3_or_httpx() -> None:
    """The lookup routes (``entry``): service, token gate, body gate and error answers built and
    a POST lookup read, without the resolver (Powertools' event handler, asyncio)."""
    watched = (*HEAVY, "aws_lambda_powertools.event_handler", "asyncio", "routing_api")
    statements = (
        "import entry\n"
        "entry.wiring.service(); entry.wiring.gate(); entry._errors()\n"
        "event = {'rawPath': '/v1/routing', 'body': 'cid=%2B420601000001', 'headers': {'Authorization': 'Bearer t'},"
        " 'requestContext': {'stage': '$default', 'http': {'method': 'POST'}}}\n"
        "assert entry._prepared(event) == ('+420601000001', 'Bearer t'), entry._prepared(event)\n"
    )
    assert _loaded("routing", statements, watched) == []


def test_the_form_path_loads_neither_httpx_nor_idempotency_before_a_route_needs_them() -> None:
    loaded = _loaded("callbacks", "import form_api\nform_api.wiring.captcha()\n")
    assert "httpx" not in loaded
    assert "aws_lambda_powertools.utilities.idempotency" not in loaded


def test_the_submit_path_loads_no_resolver_boto3_or_pydantic_settings() -> None:
    """``POST /v1/callbacks`` (``form_submit``): its service, gate and error answers built, but
    neither the resolver (Powertools' event handler, asyncio), boto3 nor pydantic-settings."""
    watched = (*HEAVY, "aws_lambda_powertools.event_handler", "asyncio", "form_api")
    statements = (
        "import entry, form_submit\n"
        "form_submit.wiring.callbacks(); form_submit._gate(); form_submit._errors()\n"
        "from ringback.adapters import secrets\n"
    )
    tables = {"callbacks_table": "c", "outbox_table": "o", "guard_table": "g"}
    assert _loaded("callbacks", statements, watched, **tables) == ["pydantic"]


def test_a_submit_container_loads_no_event_receipt_or_uploader_models_before_a_now_push() -> None:
    watched = ("ringback.domain.events", "ringback.domain.receipts", "ringback.services.dialer_upload")
    statements = "import form_api\nform_api.wiring.callbacks()\n"
    tables = {"callbacks_table": "c", "outbox_table": "o", "guard_table": "g"}
    assert _loaded("callbacks", statements, watched, **tables) == []
    pushed = statements + "form_api.wiring._bound_deliver_now()\n"
    assert _loaded("callbacks", pushed, watched, **tables) == [
        "ringback.domain.events",
        "ringback.domain.receipts",
        "ringback.services.dialer_upload",
    ]


def test_an_ivr_accept_container_loads_no_boto3_httpx_or_uploader_before_the_push() -> None:
    watched = (
        "boto3",
        "httpx",
        "pydantic_settings",
        "aws_lambda_powertools.utilities.idempotency",
        "ringback.adapters.projections_dynamo",
        "ringback.adapters.event_log_dynamo",
        "ringback.domain.events",
        "ringback.domain.receipts",
        "ringback.services.dialer_upload",
        "aws_lambda_powertools.event_handler",
        "asyncio",
        "ivr_api",
    )
    statements = "import entry\nentry.wiring.service(); entry.wiring.gate(); entry._gate(); entry._errors()\n"
    tables = {"callbacks_table": "c", "outbox_table": "o", "guard_table": "g"}
    assert _loaded("ivr", statements, watched, **tables) == []
    pushed = statements + "entry.wiring._bound_deliver_now()\n"
    assert _loaded("ivr", pushed, watched, **tables) == [
        "ringback.adapters.event_log_dynamo",
        "ringback.adapters.projections_dynamo",
        "ringback.domain.events",
        "ringback.domain.receipts",
        "ringback.services.dialer_upload",
    ]
