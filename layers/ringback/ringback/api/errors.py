"""The one place where errors become HTTP answers.

Every answer is JSON: ``{"error": code, "message": text, "fields": [{"field", "message"}]}``.
Field names are the client's (``phone``, ``scheduled_at``), never pydantic's internal paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.metrics import MetricUnit

from ringback.domain.errors import DomainError, FieldProblem, RateLimited, Unavailable
from ringback.observability import logger, metrics

# Seconds a caller is asked to wait after a 503 (a dependency failed; nothing was accepted).
RETRY_AFTER_S = 5

JSON_HEADERS = {"Cache-Control": "no-store"}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Iterable[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    body: dict[str, Any] = {"error": code, "message": message}
    field_list = [{"field": f.field, "message": f.message} for f in fields]
    if field_list:
        body["fields"] = field_list
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={**JSON_HEADERS, **(headers or {})},
    )


def _field_name(loc: Sequence[Any]) -> str:
    # Powertools prefixes the part of the request ("body", "query", "path", "header");
    # the client knows its fields by their own names.
    parts = [str(p) for p in loc[1:] if not isinstance(p, int)] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _readable(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    # pydantic prefixes messages of custom validators with "Value error, ".
    return message.removeprefix("Value error, ")


def validation_problems(errors: Sequence[Mapping[str, Any]]) -> list[FieldProblem]:
    return [FieldProblem(_field_name(e.get("loc", ())), _readable(e)) for e in errors]


def handled_error(name: str) -> None:
    """Count a 5xx the handler answered itself (Lambda's ``Errors`` never sees it): the
    ``<name>HandledErrors`` metric, alarmed per function in template.yaml."""
    try:
        metrics.add_metric(name=f"{name}HandledErrors", unit=MetricUnit.Count, value=1)
    except Exception as error:  # a metrics problem must not change the answer
        logger.warning("handled-error metric not recorded", extra={"error_type": type(error).__name__})


def register_error_handlers(
    app: APIGatewayHttpResolver,
    *,
    name: str = "",
    unavailable: tuple[type[Exception], ...] = (),
    unavailable_loaded: Callable[[], tuple[type[Exception], ...]] | None = None,
) -> None:
    """Map every error a handler can meet to a JSON answer; nothing escapes as a bare 500.

    ``unavailable``: dependency failures (AWS, Webitel) answered 503 + Retry-After. Every 5xx
    answered here counts in ``<name>HandledErrors``. ``unavailable_loaded`` names more of them
    when an otherwise unhandled error is met: the classes of libraries a cold start has not
    imported (httpx, Powertools Parameters), which no error can come from before they are.
    """
    metric_name = name or "Api"

    def _dependency(error: Exception) -> Response[str]:
        logger.warning("dependency failed", extra={"error_type": type(error).__name__})
        handled_error(metric_name)
        return error_response(
            503,
            "unavailable",
            "a dependency is unavailable; please retry",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    if unavailable:
        app.exception_handler(list(unavailable))(_dependency)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[str]:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        return error_response(
            422, "validation_error", "some fields are not valid", fields=validation_problems(errors)
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response[str]:
        return error_response(415, "unsupported_media_type", "send the body as application/json")

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(_: UnicodeDecodeError) -> Response[str]:
        return error_response(400, "malformed_body", "the request body is not UTF-8 text")

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response[str]:
        headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, RateLimited) else None
        if isinstance(error, Unavailable):
            headers = {"Retry-After": str(RETRY_AFTER_S)}
        if error.status >= 500:
            handled_error(metric_name)
        return error_response(error.status, error.code, error.message, fields=error.fields, headers=headers)

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        if unavailable_loaded is not None and isinstance(error, unavailable_loaded()):
            return _dependency(error)
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        handled_error(metric_name)
        return error_response(500, "internal_error", "something went wrong on our side")
