"""Website callback requests, slots, availability status and the embeddable widget.

Every route calls one service; adapters are built on first use (``adapters.callbacks_factory``).
The body gate of ``api.resolver`` checks size, content type and strict JSON before any route.
See docs/callbacks.md for the contract.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import form_submit  # type: ignore[import-not-found,unused-ignore]  # sibling modules, as Lambda loads them
import widget  # type: ignore[import-not-found,unused-ignore]
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import callbacks_factory as wiring
from ringback.adapters.lean_settings import get_lean_settings
from ringback.api.auth import require_bearer
from ringback.api.resolver import make_resolver
from ringback.domain.callbacks import (
    CALLBACK_ID,
    CallbackAccepted,
    CallbackRequest,
    CallbackView,
    CancelResult,
    EraseRequest,
    ErasureReport,
    RescheduleRequest,
)
from ringback.observability import logger, metrics
from ringback.services.availability import Availability
from ringback.services.callbacks import Caller
from ringback.services.slots import SlotsAnswer, list_slots

# The body gate (size from the operator config, content type, strict JSON) runs before any route.
app = make_resolver(
    allowed_origins=get_lean_settings().allowed_origin_list,
    name=form_submit.NAME,
    max_body_bytes=form_submit.body_limit,
    unavailable=wiring.INFRASTRUCTURE_ERRORS,
    unavailable_loaded=wiring.infrastructure_errors,
)
widget.register(app)


_ERRORS = {
    400: "Malformed JSON or body",
    401: "Missing or invalid bearer token",
    403: "Refused: origin, site key, honeypot, CAPTCHA or self-service link",
    404: "No such callback request",
    409: "The request changed meanwhile or is already closed",
    413: "Body too large",
    415: "Body is not application/json",
    422: "Invalid fields, each named",
    429: "Rate limited (Retry-After says when to retry)",
    503: "Temporarily unavailable; retry",
}
_ERROR_SCHEMA = {"application/json": {"schema": {"type": "object", "required": ["error", "message"]}}}


def _responses(ok: dict[int, str], *errors: int, model: Any = None) -> dict[int, Any]:
    """``model``: the 2xx bodies' pydantic model (or a JSON schema dict), so the OpenAPI
    describes the real answer, not the handler's ``Response[str]``."""
    body = {"schema": model} if isinstance(model, dict) else {"model": model}
    answers: dict[int, Any] = {
        code: {"description": text, **({"content": {"application/json": body}} if model else {})}
        for code, text in ok.items()
    }
    answers.update(
        {code: {"description": _ERRORS[code], "content": _ERROR_SCHEMA} for code in {*errors, 503} - set(ok)}
    )
    return answers


_HEALTH = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"enum": ["ok", "degraded"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_ID = Path(pattern=CALLBACK_ID.pattern, description="The request id from the 202 answer")
_TOKEN = Query(max_length=200, description="Self-service token from the 202 answer")


def _json(status: int, body: Any, cache: str = "no-store") -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
        headers={"Cache-Control": cache},
    )


def _caller() -> Caller:
    event = app.current_event
    context = event.request_context
    return form_submit.caller_of(
        event.headers, lambda: context.domain_name, context.stage, context.http.source_ip
    )


@app.post(
    "/v1/callbacks",
    summary="Ask to be called: now, later (business hours) or at a slot",
    responses=_responses(
        {202: "Accepted: id, status, expected call time, self-service link"},
        400,
        403,
        409,
        413,
        415,
        422,
        429,
        503,
        model=CallbackAccepted,
    ),
)
def submit(body: Annotated[CallbackRequest, Body()]) -> Response[str]:
    # The lean path (``form_submit``, entry.py) answers most submits with this same code.
    caller = _caller()
    event = app.current_event
    return _json(202, form_submit.accept(body, caller, event.headers.get("idempotency-key"), event.body))


@app.get(
    "/v1/callbacks/slots",
    summary="Bookable slots of one or more days, in the visitor's timezone",
    responses=_responses(
        {200: "Slots per day (full, past and closed slots are left out)"}, 422, model=SlotsAnswer
    ),
)
def slots(
    day: Annotated[date | None, Query(alias="date")] = None,
    tz: Annotated[str | None, Query(max_length=64)] = None,
    days: Annotated[int, Query(ge=1, le=31)] = 1,
) -> Response[str]:
    answer = list_slots(
        wiring.config_source(), wiring.repository(), wiring.clock(), day=day, tz=tz, days=days
    )
    return _json(200, answer.model_dump(mode="json"), cache="public, max-age=15")


@app.get(
    "/v1/callbacks/<callback_id>",
    summary="Status of a callback request (no personal data)",
    responses=_responses({200: "The request's status"}, 404, 422, model=CallbackView),
)
def get_callback(callback_id: Annotated[str, _ID]) -> Response[str]:
    return _json(200, wiring.callbacks().get(callback_id).model_dump(mode="json"))


@app.delete(
    "/v1/callbacks/<callback_id>",
    summary="Cancel (self-service token or agent bearer token)",
    responses=_responses(
        {200: "Cancelled", 202: "Cancelled; stopping in Webitel pending: repeat"},
        401,
        403,
        404,
        409,
        422,
        model=CancelResult,
    ),
)
def cancel_callback(
    callback_id: Annotated[str, _ID], token: Annotated[str | None, _TOKEN] = None
) -> Response[str]:
    service = wiring.callbacks()
    if app.current_event.headers.get("authorization"):
        require_bearer(app.current_event.headers, wiring.agent_tokens())
    else:
        service.authorize(callback_id, token)
    result = service.cancel(callback_id)
    return _json(202 if result.webitel == "stop_pending" else 200, result.model_dump(mode="json"))


@app.post(
    "/v1/callbacks/<callback_id>/reschedule",
    summary="Move a request to another slot (self-service)",
    responses=_responses(
        {200: "Moved; the new answer"},
        400,
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        429,
        503,
        model=CallbackAccepted,
    ),
)
def reschedule_callback(
    callback_id: Annotated[str, _ID],
    body: Annotated[RescheduleRequest, Body()],
    token: Annotated[str | None, _TOKEN] = None,
) -> Response[str]:
    service = wiring.callbacks()
    if app.current_event.headers.get("authorization"):
        require_bearer(app.current_event.headers, wiring.agent_tokens())
    else:
        service.authorize(callback_id, token)
    return _json(200, service.reschedule(callback_id, body, _caller()).model_dump(mode="json"))


@app.post(
    "/v1/callbacks/erasure",
    summary="Erase everything held for a phone number (agent bearer token)",
    responses=_responses({200: "What was erased"}, 400, 401, 413, 415, 422, model=ErasureReport),
)
def erase(body: Annotated[EraseRequest, Body()]) -> Response[str]:
    require_bearer(app.current_event.headers, wiring.agent_tokens())
    return _json(200, wiring.callbacks().erase_phone(body.phone, body.country).model_dump(mode="json"))


@app.get(
    "/v1/status",
    summary="online / busy / offline for the website button (mluvii codes 1/2/0)",
    responses=_responses({200: "The availability, cached briefly"}, model=Availability),
)
def status() -> Response[str]:
    answer = wiring.availability().status()
    return _json(200, answer.model_dump(mode="json"), cache=f"public, max-age={answer.cache_seconds}")


@app.get(
    "/v1/health/callbacks",
    summary="Whether the callbacks function can read its config and table",
    responses=_responses({200: "Healthy", 503: "A dependency fails"}, model=_HEALTH),
)
def health() -> Response[str]:
    checks: dict[str, str] = {}
    for name, probe in (
        ("config", lambda: wiring.config_source().load()),
        ("table", lambda: wiring.repository().get("health-probe-0000")),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as error:
            checks[name] = type(error).__name__
    healthy = all(value == "ok" for value in checks.values())
    # What the availability status got from Webitel (cached: no extra Webitel request). A token
    # whose user may not see the callback queue names the missing right here; informational,
    # because the function still takes every request (the status follows business hours).
    try:
        answer = wiring.availability().status()
        checks["webitel"] = answer.health or ("ok" if answer.open else "not asked (closed)")
    except Exception as error:
        checks["webitel"] = type(error).__name__
    return _json(200 if healthy else 503, {"status": "ok" if healthy else "degraded", "checks": checks})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    form_submit.start(event, context)
    return app.resolve(event, context)
