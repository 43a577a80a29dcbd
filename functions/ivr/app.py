"""Callbacks asked for from the Webitel IVR while callers wait (docs/ivr-callbacks.md).

``POST /v1/callbacks/ivr`` (accept) and ``POST /v1/callbacks/ivr/cancel``, bearer tokens from
the ``ivr-tokens`` secret (rotated like the routing tokens). Answers are flat JSON objects of
strings for the flow's ``exportVariables``; 400 names the field, 401 a bad token, and a
dependency failure answers 200 ``accepted: "false"`` within the budget. The schedule event
``{"job": "ivr-offer"}`` refreshes the offer snapshot the routing lookup reads.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import ivr_factory as wiring
from ringback.api.errors import error_response
from ringback.api.resolver import make_resolver
from ringback.domain import strict_json
from ringback.observability import flush_metrics_safely, logger
from ringback.services.callbacks.ivr import IvrAnswer, IvrCancelAnswer, IvrReply
from ringback.services.routing import AuthOutcome

app = make_resolver(validation=False, name="Ivr")

_STRINGS: Any = {"type": "string"}
_ACCEPT_SCHEMA: Any = {
    "type": "object",
    "required": ["accepted", "callback_id", "linked", "expected_call_in_s", "position", "say", "reason"],
    "properties": dict.fromkeys(IvrAnswer(accepted=False, say="").to_json(), _STRINGS),
}
_CANCEL_SCHEMA: Any = {
    "type": "object",
    "required": ["cancelled", "callback_id", "say", "reason"],
    "properties": dict.fromkeys(IvrCancelAnswer(cancelled=False, say="").to_json(), _STRINGS),
}
_ERROR: Any = {"application/json": {"schema": {"type": "object", "required": ["error", "message"]}}}


def _responses(schema: Any) -> dict[int, Any]:
    return {
        200: {
            "description": "The answer (also when a dependency failed)",
            "content": {"application/json": {"schema": schema}},
        },
        400: {"description": "A field that cannot be used (named in `field`)", "content": _ERROR},
        401: {"description": "Missing or invalid bearer token", "content": _ERROR},
        # The body gate every route shares (ringback.api.gate).
        413: {"description": "The body is too large", "content": _ERROR},
        415: {"description": "The body is not JSON", "content": _ERROR},
        422: {"description": "The JSON nests too deep or has a number too large", "content": _ERROR},
    }


def _json(reply: IvrReply) -> Response[str]:
    return Response(
        status_code=reply.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(reply.body, ensure_ascii=False),
        headers={"Cache-Control": "no-store"},
    )


def _body() -> Any:
    event = app.current_event
    raw = event.get("body")
    if not raw:
        return None
    try:
        return strict_json.loads(str(raw))
    except (ValueError, RecursionError):
        return None


def _authorised(accept: bool) -> Response[str] | None:
    """None when the token is good; else the 401, or the degraded answer (no token known)."""
    service = wiring.service()
    try:
        outcome = wiring.gate().check(app.current_event.headers.get("authorization"), service.deadline())
    except Exception as error:  # never a 5xx to the caller's flow
        logger.exception("ivr: token check failed", extra={"error_type": type(error).__name__})
        outcome = AuthOutcome.UNAVAILABLE
    if outcome is AuthOutcome.OK:
        return None
    if outcome is AuthOutcome.UNAVAILABLE:
        from ringback.domain.ivr import say_text

        say = say_text("degraded", None, "cs")
        answer: Any = (
            IvrAnswer(accepted=False, reason="degraded", say=say)
            if accept
            else IvrCancelAnswer(cancelled=False, reason="degraded", say=say)
        )
        return _json(IvrReply(200, answer.to_json()))
    message = (
        "missing bearer token in the Authorization header"
        if outcome is AuthOutcome.MISSING
        else "invalid bearer token"
    )
    return error_response(
        401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="ringback-ivr"'}
    )


@app.post(
    "/v1/callbacks/ivr",
    summary="A caller waiting in a Webitel queue asks to be called back, keeping their place",
    responses=_responses(_ACCEPT_SCHEMA),
)
def ivr_accept() -> Response[str]:
    refused = _authorised(accept=True)
    if refused is not None:
        return refused
    return _json(wiring.service().accept(_body()))


@app.post(
    "/v1/callbacks/ivr/cancel",
    summary="A repeat caller cancels their open callback from the IVR",
    responses=_responses(_CANCEL_SCHEMA),
)
def ivr_cancel() -> Response[str]:
    refused = _authorised(accept=False)
    if refused is not None:
        return refused
    return _json(wiring.service().cancel(_body()))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        if event.get("job") == "ivr-offer":
            return wiring.refresh_offer()
        return app.resolve(event, context)
    finally:
        flush_metrics_safely("ivr")
