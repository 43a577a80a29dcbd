"""Callbacks asked for from the Webitel IVR while callers wait (docs/ivr-callbacks.md).

``POST /v1/callbacks/ivr`` (accept) and ``POST /v1/callbacks/ivr/cancel``, bearer tokens from
the ``ivr-tokens`` secret (rotated like the routing tokens). Answers are flat JSON objects of
strings for the flow's ``exportVariables``; 400 names the field, 401 a bad token, and a
dependency failure answers 200 ``accepted: "false"`` within the budget.

This is the function's resolver: its OpenAPI document, and whatever the lean entry
(``entry.py``, template.yaml's ``Handler``; it also runs the schedule's ``{"job": "ivr-offer"}``)
hands on: a body the gate refuses, another route, an event of another shape. Both give the
same answers (``api.ivr_reply``); ``tests/unit/test_ivr_entry.py`` holds them to it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import ivr_factory as wiring
from ringback.api.errors import response_of
from ringback.api.ivr_reply import read_body, refusal, reply_answer
from ringback.api.resolver import make_resolver
from ringback.observability import flush_metrics_safely, logger
from ringback.services.callbacks.ivr import IvrAnswer, IvrCancelAnswer

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


def _body() -> Any:
    return read_body(app.current_event.get("body"))


def _answer(accept: bool) -> Response[str]:
    service = wiring.service()
    authorization = app.current_event.headers.get("authorization")
    refused = refusal(service, wiring.gate(), authorization, accept=accept)
    if refused is not None:
        return response_of(refused)
    return response_of(reply_answer(service.accept(_body()) if accept else service.cancel(_body())))


@app.post(
    "/v1/callbacks/ivr",
    summary="A caller waiting in a Webitel queue asks to be called back, keeping their place",
    responses=_responses(_ACCEPT_SCHEMA),
)
def ivr_accept() -> Response[str]:
    return _answer(accept=True)


@app.post(
    "/v1/callbacks/ivr/cancel",
    summary="A repeat caller cancels their open callback from the IVR",
    responses=_responses(_CANCEL_SCHEMA),
)
def ivr_cancel() -> Response[str]:
    return _answer(accept=False)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        if event.get("job") == "ivr-offer":
            return wiring.refresh_offer()
        return app.resolve(event, context)
    finally:
        flush_metrics_safely("ivr")
