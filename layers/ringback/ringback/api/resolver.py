"""The HTTP resolver every function's handler starts from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, content_types

from ringback.api.answers import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_S
from ringback.api.errors import error_response, register_error_handlers
from ringback.api.gate import BodyGate, default_body_limit


class GatedResolver(APIGatewayHttpResolver):
    """A payload-2.0 resolver that runs the body gate (``api.gate``) before anything else:
    routing, middlewares, request validation (Powertools' body parsing) and the handlers' auth."""

    def __init__(self, *, gate: BodyGate, cors: CORSConfig | None, enable_validation: bool) -> None:
        super().__init__(enable_validation=enable_validation, cors=cors)
        self._gate = gate
        self._gate_cors = cors

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        event = dict(event)  # the gate hands on a decoded, normalised body; the caller's stays as sent
        refusal = self._gate.check(event)
        if refusal is None:
            return super().resolve(event, context)
        response = error_response(refusal.status, refusal.code, refusal.message)
        headers = {k: v for k, v in response.headers.items() if isinstance(v, str)}
        headers["Content-Type"] = response.content_type or content_types.APPLICATION_JSON
        if self._gate_cors is not None:
            origin = next(
                (str(v) for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None
            )
            headers.update(self._gate_cors.to_dict(origin))
        return {
            "statusCode": response.status_code,
            "headers": headers,
            "body": response.body,
            "isBase64Encoded": False,
        }


def make_resolver(
    *,
    allowed_origins: list[str] | None = None,
    validation: bool = True,
    name: str = "",
    max_body_bytes: Callable[[], int] | None = None,
    lenient_body: bool = False,
    unavailable: tuple[type[Exception], ...] = (),
    unavailable_loaded: Callable[[], tuple[type[Exception], ...]] | None = None,
) -> APIGatewayHttpResolver:
    """A payload-2.0 resolver with the body gate, pydantic validation, CORS for ``allowed_origins``
    and JSON errors.

    ``name`` (``Callbacks``, ``Events``, ``Routing``) names the function's handled-error metric
    (``<name>HandledErrors``, alarmed in template.yaml); ``unavailable`` are the dependency errors
    answered 503 + Retry-After (``unavailable_loaded``: more of them, asked when an error is met,
    for the libraries a cold start does not import before a route needs them); ``lenient_body``
    makes the gate drop a bad body instead of refusing it (the routing lookup answers 200 for
    any body).

    API Gateway answers CORS preflights itself (template.yaml's CorsConfiguration); the
    resolver's CORS covers the local gateway and the headers of actual responses.
    """
    cors = None
    if allowed_origins:
        cors = CORSConfig(
            allow_origin=allowed_origins[0],
            extra_origins=allowed_origins[1:],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=CORS_MAX_AGE_S,
        )
    gate = BodyGate(max_bytes=max_body_bytes or default_body_limit, lenient=lenient_body)
    app = GatedResolver(gate=gate, cors=cors, enable_validation=validation)
    register_error_handlers(app, name=name, unavailable=unavailable, unavailable_loaded=unavailable_loaded)
    return app
