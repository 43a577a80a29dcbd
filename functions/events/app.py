"""Event fan-out: Webitel hooks, widget events and agent-desktop messages in; projections out."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import events_factory as wiring
from ringback.api.auth import require_bearer
from ringback.api.resolver import make_resolver
from ringback.config import get_settings
from ringback.domain.errors import PayloadTooLarge
from ringback.domain.events.envelope import EventSource
from ringback.domain.events.widget import VendorHints, vendor_envelopes
from ringback.observability import logger, metrics

# A refused or silent DynamoDB answers 503 + Retry-After within Webitel's budget (adapters.aws).
app = make_resolver(
    allowed_origins=get_settings().allowed_origin_list,
    name="Events",
    unavailable=wiring.INFRASTRUCTURE_ERRORS,
)
# Any JSON value: the service names what is wrong with it (a bare ``Any`` would make Powertools
# keep only the first item of an array).
Json = dict[str, Any] | list[Any] | str | int | float | bool | None
EVENTS_BODY = Body(description="One event object, or an array of them (see docs/events.md).")
_ERR = {
    c: {"description": d}
    for c, d in (
        (400, "malformed JSON"),
        (401, "missing or invalid bearer token"),
        (403, "origin or site key not allowed"),
        (413, "body too large"),
        (415, "not JSON"),
        (422, "invalid fields"),
        (429, "rate limited"),
        (503, "a dependency is unavailable; retry after Retry-After seconds"),
    )
}
_INGESTED: Any = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["accepted", "duplicates", "events"],
            "properties": {
                "accepted": {"type": "integer", "minimum": 0},
                "duplicates": {"type": "integer", "minimum": 0},
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["event_id", "event", "known", "status"],
                        "properties": {"status": {"enum": ["accepted", "duplicate"]}},
                    },
                },
            },
        }
    }
}
INGEST_RESPONSES: Any = {
    200: {"description": "all redeliveries, nothing changed", "content": _INGESTED},
    202: {"description": "stored (duplicates included, marked)", "content": _INGESTED},
    **_ERR,
}
READ_RESPONSES: Any = {
    200: {"description": "the projection"},
    401: _ERR[401],
    404: {"description": "not found"},
    422: _ERR[422],
    503: _ERR[503],
}


def _ingest(source: EventSource, body: Any) -> Response[Any]:
    raw = app.current_event.body or ""
    if len(raw) > get_settings().max_event_body_bytes:
        raise PayloadTooLarge(f"the body exceeds {get_settings().max_event_body_bytes} bytes")
    service = wiring.ingest()
    result = service.ingest(source, service.parse(source, body) if source is not EventSource.WIDGET else body)
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=result.accepted)
    if result.unknown:
        metrics.add_metric(name="UnknownEventType", unit=MetricUnit.Count, value=len(result.unknown))
    return Response(202 if result.accepted else 200, content_types.APPLICATION_JSON, result.to_json())


@app.post("/v1/events/webitel", responses=INGEST_RESPONSES)
def webitel_events(body: Annotated[Json, EVENTS_BODY]) -> Response[Any]:
    require_bearer(app.current_event.headers, wiring.webitel_tokens())
    return _ingest(EventSource.WEBITEL, body)


@app.post("/v1/events/agent", responses=INGEST_RESPONSES)
def agent_events(body: Annotated[Json, EVENTS_BODY]) -> Response[Any]:
    require_bearer(app.current_event.headers, wiring.agent_tokens())
    return _ingest(EventSource.AGENT, body)


_HINT = "A forwarder's hint beside a vendor's untouched body (docs/widget.md)"


@app.post("/v1/events/widget", responses=INGEST_RESPONSES)
def widget_events(
    body: Annotated[Json, EVENTS_BODY],
    provider: Annotated[str, Query(max_length=16, description=_HINT + ": whisbi or mluvii")] = "",
    event: Annotated[str, Query(max_length=64, description=_HINT + ": the vendor's event name")] = "",
    event_id: Annotated[str, Query(max_length=128, description=_HINT + ": one id per emission")] = "",
    occurred_at: Annotated[str, Query(max_length=40, description=_HINT + ": epoch ms")] = "",
) -> Response[Any]:
    guard = wiring.widget_guard()
    guard.admit(
        origin=app.current_event.headers.get("origin"),
        client_ip=app.current_event.request_context.http.source_ip,
    )
    # Raw Whisbi / mluvii bodies (provider by shape or ?provider=) in ringback's envelope form.
    body = vendor_envelopes(body, VendorHints(provider, event, event_id, occurred_at))
    parsed = wiring.ingest().parse(EventSource.WIDGET, body)
    return _ingest(
        EventSource.WIDGET, guard.with_site_keys(parsed, app.current_event.headers.get("x-ringback-site-key"))
    )


@app.get("/v1/calls/<uuid>", responses=READ_RESPONSES)
def get_call(uuid: Annotated[str, Path(min_length=1, max_length=128)]) -> dict[str, Any]:
    require_bearer(app.current_event.headers, wiring.agent_tokens())
    return wiring.read_models().call(uuid)


@app.get("/v1/agents", responses=READ_RESPONSES)
def list_agents() -> dict[str, Any]:
    require_bearer(app.current_event.headers, wiring.agent_tokens())
    return {"agents": wiring.read_models().agents()}


@app.get("/v1/callbacks/<callback_id>/timeline", responses=READ_RESPONSES)
def callback_timeline(callback_id: Annotated[str, Path(min_length=1, max_length=128)]) -> dict[str, Any]:
    require_bearer(app.current_event.headers, wiring.agent_tokens())
    return wiring.read_models().callback_timeline(callback_id)


@app.get("/v1/funnel", responses=READ_RESPONSES)
def funnel(
    start: Annotated[str, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$")],
    end: Annotated[str, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$")],
) -> dict[str, Any]:
    require_bearer(app.current_event.headers, wiring.agent_tokens())
    return wiring.read_models().funnel(start, end)


@app.get("/v1/health/events")
def health() -> dict[str, str]:
    return {"status": "ok", "service": "events"}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wiring.start_request()  # Webitel's budget counts from here (a timed-out write's retry)
    return app.resolve(event, context)
