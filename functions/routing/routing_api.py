"""The routing function's resolver: ``GET /v1/health/routing``, the OpenAPI document of every
route, and whatever the lean entry (``entry.py``, template.yaml's ``Handler``) does not answer
itself. The lookup routes (``GET /v1/routing?cid=`` and ``POST /v1/routing {"cid"}``) are
declared here too and answer as the lean entry does (``api.routing_reply``);
``tests/unit/test_routing_entry.py`` holds the two paths to the same answers.

Always 200 ``application/json`` for any cid (found / not found / degraded), 401 JSON only for a
missing or wrong bearer token. Adapters are built on the first request, not at import
(``adapters.routing_factory``); the use case is ``services.routing.answer_request``.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import routing_factory as wiring
from ringback.api.errors import response_of
from ringback.api.resolver import make_resolver
from ringback.api.routing_reply import routing_answer
from ringback.domain.routing import ANSWER_JSON_SCHEMA, cid_from_body
from ringback.observability import flush_metrics_safely, logger
from ringback.services.routing import answer_request

# No request validation: nothing the flow sends may turn into a 4xx, and the validation machinery
# (pydantic OpenAPI models) would add about 100 ms to every cold start.
# The body gate is lenient here: a body it would refuse elsewhere is dropped (answered as no body).
app = make_resolver(validation=False, name="Routing", lenient_body=True)

_JSON: Any = {"application/json": {"schema": ANSWER_JSON_SCHEMA}}
_ERROR: Any = {"application/json": {"schema": {"type": "object", "required": ["error", "message"]}}}
_HEALTH: Any = {
    "application/json": {"schema": {"type": "object", "required": ["status", "budget_ms", "checks"]}}
}
_ANSWER_RESPONSES: dict[int, Any] = {
    200: {
        "description": "The routing answer (also for unknown, invalid or missing numbers).",
        "content": _JSON,
    },
    401: {"description": "Missing or invalid bearer token.", "content": _ERROR},
}


def _json(status: int, body: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Cache-Control": "no-store"},
    )


def _route(cid: str | None) -> Response[str]:
    authorization = app.current_event.headers.get("authorization")
    return response_of(routing_answer(answer_request(wiring.service(), wiring.gate(), cid, authorization)))


@app.get(
    "/v1/routing", summary="Who is calling (found / debt) for a Webitel flow", responses=_ANSWER_RESPONSES
)
def routing_get(cid: str | None = None) -> Response[str]:
    """``cid``: the caller's number as Webitel has it (documented here, read from the event)."""
    return _route(app.current_event.get_query_string_value("cid"))


@app.post(
    "/v1/routing",
    summary='Who is calling, with a JSON body {"cid": "..."} (Webitel default method)',
    responses=_ANSWER_RESPONSES,
)
def routing_post() -> Response[str]:
    event = app.current_event
    cid = cid_from_body(event.get("body"), bool(event.get("isBase64Encoded")))
    if cid is None:
        cid = app.current_event.get_query_string_value("cid")
    return _route(cid)


@app.get(
    "/v1/health/routing",
    summary="Whether the routing lookup can read its data within the budget",
    responses={
        200: {"description": "Every dependency answers within the budget", "content": _HEALTH},
        503: {"description": "A dependency fails or is slow: lookups answer degraded", "content": _HEALTH},
    },
)
def routing_health() -> Response[str]:
    service = wiring.service()
    checks = service.probe()
    checks["tokens"] = wiring.gate().state()
    healthy = checks["customers"] == "ok" and checks["callbacks"] in ("ok", "disabled")
    body = {
        "status": "ok" if healthy else "degraded",
        "budget_ms": service.policy.budget_ms,
        "checks": checks,
    }
    return _json(200 if healthy else 503, json.dumps(body))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    finally:
        flush_metrics_safely("routing")
