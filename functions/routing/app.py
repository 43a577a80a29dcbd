"""Routing lookup for Webitel flows: ``GET /v1/routing?cid=`` and ``POST /v1/routing {"cid"}``.

Always 200 ``application/json`` for any cid (found / not found / degraded), 401 JSON only for a
missing or wrong bearer token. Adapters are built on the first request, not at import.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters.routing_settings import get_routing_settings
from ringback.api.errors import error_response
from ringback.api.resolver import make_resolver
from ringback.domain.routing import ANSWER_JSON_SCHEMA, RoutingAnswer
from ringback.domain.tokens import bearer_token
from ringback.observability import logger, metrics
from ringback.services.routing import AuthOutcome, RoutingPolicy, RoutingService, TokenGate

# No request validation: nothing the flow sends may turn into a 4xx, and the validation machinery
# (pydantic OpenAPI models) would add about 100 ms to every cold start.
app = make_resolver(validation=False)

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


@lru_cache(maxsize=1)
def _service() -> RoutingService:
    from ringback.adapters.routing_dynamo import DynamoCallerLookup, routing_client

    settings = get_routing_settings()
    policy = RoutingPolicy(
        budget_ms=settings.routing_budget_ms,
        default_region=settings.default_region,
        cache_ttl_s=settings.routing_cache_ttl_s,
        stale_if_error_s=settings.routing_stale_if_error_s,
        cache_size=settings.routing_cache_size,
        fallback_found=settings.routing_fallback_found,
        fallback_debt=settings.routing_fallback_debt,
        callback_lookup=settings.routing_callback_lookup,
    )
    client = routing_client("dynamodb", settings.routing_budget_ms)
    lookup = DynamoCallerLookup(settings.customers_table, settings.callbacks_table, client)
    return RoutingService(lookup, policy=policy)


@lru_cache(maxsize=1)
def _gate() -> TokenGate:
    from ringback.adapters.routing_dynamo import routing_client
    from ringback.adapters.routing_tokens import SecretsManagerTokens

    settings = get_routing_settings()
    # Caching is the gate's (it keeps the last tokens when the secret cannot be read).
    source = SecretsManagerTokens(
        settings.routing_tokens_secret, routing_client("secretsmanager", settings.routing_budget_ms)
    )
    return TokenGate(
        source, refresh_s=settings.secrets_max_age_s, stale_max_s=settings.routing_tokens_stale_max_s
    )


def _json(status: int, body: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Cache-Control": "no-store"},
    )


def _route(cid: str | None) -> Response[str]:
    service, gate = _service(), _gate()  # built (clients included) before the clock starts
    deadline = service.deadline()
    authorization = app.current_event.headers.get("authorization")
    # When the tokens must be read first (a new container, or due for a refresh), the data is
    # read meanwhile: the token check gates the answer, not the read. With fresh tokens the
    # check costs no I/O and comes first, so a wrong token never causes a read.
    pending = None
    if bearer_token(authorization) is not None and gate.state() != "fresh":
        pending = service.begin(cid, deadline)
    try:
        outcome = gate.check(authorization, deadline)
    except Exception as error:  # never a 5xx to the caller's flow
        logger.exception("routing: token check failed", extra={"error_type": type(error).__name__})
        outcome = AuthOutcome.UNAVAILABLE
    if outcome is not AuthOutcome.OK and pending is not None:
        pending.cancel()
    if outcome in (AuthOutcome.MISSING, AuthOutcome.INVALID):
        message = (
            "missing bearer token in the Authorization header"
            if outcome is AuthOutcome.MISSING
            else "invalid bearer token"
        )
        return error_response(
            401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="ringback-routing"'}
        )
    answer: RoutingAnswer
    if outcome is AuthOutcome.UNAVAILABLE:
        answer = service.degraded("tokens_unavailable")
    else:
        answer = service.finish(pending or service.begin(cid, deadline), deadline)
    return _json(200, answer.to_json())


def _cid_from_body() -> str | None:
    """The cid of a POST body: JSON ``{"cid": ...}`` or a form; anything else is no cid."""
    event = app.current_event
    raw: Any = event.get("body")
    if not raw:
        return None
    try:
        data: bytes = base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()
        text = data.decode("utf-8", errors="replace").strip()
        if text.startswith("{"):
            value = json.loads(text).get("cid")
        else:
            value = parse_qs(text).get("cid", [""])[0] or None
    except (ValueError, AttributeError, TypeError):
        return None
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, (str, int)) else None


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
    cid = _cid_from_body()
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
    service = _service()
    checks = service.probe()
    checks["tokens"] = _gate().state()
    healthy = checks["customers"] == "ok" and checks["callbacks"] in ("ok", "disabled")
    body = {
        "status": "ok" if healthy else "degraded",
        "budget_ms": service.policy.budget_ms,
        "checks": checks,
    }
    return _json(200 if healthy else 503, json.dumps(body))


def _flush_metrics() -> None:
    # Like ``metrics.log_metrics``, except that a metrics problem can never fail the answer.
    try:
        if metrics.metric_set:
            metrics.flush_metrics()
    except Exception as error:
        metrics.clear_metrics()
        logger.warning("routing: metrics not flushed", extra={"error_type": type(error).__name__})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    finally:
        _flush_metrics()
