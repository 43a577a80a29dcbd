"""The HTTP resolver every function's handler starts from."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig

from ringback.api.errors import register_error_handlers


def make_resolver(
    *, allowed_origins: list[str] | None = None, validation: bool = True
) -> APIGatewayHttpResolver:
    """A payload-2.0 resolver with pydantic validation, CORS for ``allowed_origins`` and JSON errors.

    API Gateway answers CORS preflights itself (template.yaml's CorsConfiguration); the
    resolver's CORS covers the local gateway and the headers of actual responses.
    """
    cors = None
    if allowed_origins:
        cors = CORSConfig(
            allow_origin=allowed_origins[0],
            extra_origins=allowed_origins[1:],
            allow_headers=["Content-Type", "Idempotency-Key", "Authorization", "X-Ringback-Site-Key"],
            max_age=600,
        )
    app = APIGatewayHttpResolver(enable_validation=validation, cors=cors)
    register_error_handlers(app)
    return app
