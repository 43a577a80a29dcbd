"""CallbacksFunction's entry point (template.yaml ``Handler: entry.lambda_handler``).

The page-view routes answer from a lean path: ``GET /v1/status`` (every page view of the
customer's website asks it; from the answer the containers share while it holds,
``adapters.status_snapshot``, else computed) and the widget's static files; so does the form
submit (``form_submit.py``: ``POST /v1/callbacks`` without the resolver). Everything else (slots,
self-service, erasure, health) is the full resolver in ``form_api.py``, imported on the first
such request of a container (a name no other function's folder has, so a process that loads
several functions, as the tests do, always finds this folder's), so a visitor's first page view after a quiet spell does not wait for
the form, idempotency and phone-number machinery to load (``bench/coldstart.py`` measures
both paths).
"""

from __future__ import annotations

import json
from typing import Any

STATUS_ROUTE = "GET /v1/status"
# The form submit answers from ``form_submit.py`` (the resolver's own code, without the
# resolver), which hands whatever it does not answer itself to the resolver.
SUBMIT_ROUTE = "POST /v1/callbacks"
# The widget's routes (``widget.VERSIONED_ROUTE`` is the third): ``widget`` (gzip, hashlib) is
# imported on the first of them, so a status container never loads it.
WIDGET_ROUTES = {
    "GET /widget.js": "widget.js",
    "GET /widget": "widget.html",
    "GET /widget/{version}/widget.js": "widget.js",
}


def _cors(event: dict[str, Any], headers: dict[str, str]) -> dict[str, str]:
    from ringback.adapters.lean_settings import get_lean_settings

    origin = (event.get("headers") or {}).get("origin")
    if origin and origin in get_lean_settings().allowed_origin_list:
        headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin"})
    return headers


def _status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The answer another container computed, while it holds: one GetItem on a cold start (none
    # when this container holds one), no configuration, pydantic or Powertools loaded.
    from ringback.adapters import status_snapshot

    served = status_snapshot.serve()
    if served is not None:
        body, max_age = served
        headers = {"Content-Type": "application/json", "Cache-Control": f"public, max-age={max_age}"}
        return {
            "statusCode": 200,
            "headers": _cors(event, headers),
            "body": json.dumps(body, default=str),
            "isBase64Encoded": False,
        }
    status_snapshot.stop_reading()
    return _computed_status(event, context)


def _computed_status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The status computed here (and published for every container): configuration, schedule,
    counts. Its failures are logged and counted (``services.availability``), a dependency that
    fails is a 503."""
    from ringback.adapters import status_factory
    from ringback.observability import logger, metrics

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            status = status_factory.availability().status()
        except status_factory.infrastructure_errors() as error:
            logger.warning("dependency failed", extra={"error_type": type(error).__name__})
            body = {"error": "unavailable", "message": "a dependency is unavailable; please retry"}
            headers = {"Content-Type": "application/json", "Cache-Control": "no-store", "Retry-After": "5"}
            return {"statusCode": 503, "headers": _cors(event, headers), "body": json.dumps(body)}
        headers = {
            "Content-Type": "application/json",
            # What is left of the counts' cache lifetime: a CDN or the browser absorbs repeat views.
            "Cache-Control": f"public, max-age={status.cache_seconds}",
        }
        return {
            "statusCode": 200,
            "headers": _cors(event, headers),
            "body": json.dumps(status.model_dump(mode="json"), default=str),
            "isBase64Encoded": False,
        }

    result: dict[str, Any] = answer(event, context)
    return result


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    route = event.get("routeKey") or event.get("requestContext", {}).get("routeKey")
    if route == STATUS_ROUTE:
        return _status(event, context)
    if route in WIDGET_ROUTES:
        import widget  # type: ignore[import-not-found,unused-ignore]  # a sibling module, as Lambda loads it

        stage = (event.get("requestContext") or {}).get("stage") or "$default"
        return widget.serve(
            WIDGET_ROUTES[route],
            {k.lower(): v for k, v in (event.get("headers") or {}).items()},
            requested_version=(event.get("pathParameters") or {}).get("version")
            if route == widget.VERSIONED_ROUTE
            else None,
            stage_prefix="" if stage == "$default" else f"/{stage}",
        )
    if route == SUBMIT_ROUTE:
        import form_submit  # type: ignore[import-not-found,unused-ignore]

        submitted: dict[str, Any] = form_submit.lambda_handler(event, context)
        return submitted
    import form_api  # type: ignore[import-not-found,unused-ignore]  # the full resolver, on first use

    result: dict[str, Any] = form_api.lambda_handler(event, context)
    return result


def __getattr__(name: str) -> Any:
    """``entry.app``: the full resolver (its OpenAPI schema, for tests and docs)."""
    if name == "app":
        import form_api  # type: ignore[import-not-found,unused-ignore]

        return form_api.app
    raise AttributeError(name)
