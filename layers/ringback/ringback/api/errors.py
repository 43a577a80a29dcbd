"""The one place where errors become HTTP answers.

Every answer is JSON: ``{"error": code, "message": text, "fields": [{"field", "message"}]}``.
Field names are the client's (``phone``, ``scheduled_at``), never pydantic's internal paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from ringback.api.answers import (
    JSON_HEADERS,
    RETRY_AFTER_S,
    Answer,
    error_answers,
    handled_error,
    json_error,
)
from ringback.domain.errors import FieldProblem

__all__ = ["JSON_HEADERS", "RETRY_AFTER_S", "error_response", "handled_error", "register_error_handlers"]


def response_of(answer: Answer) -> Response[str]:
    return Response(
        status_code=answer.status,
        content_type=content_types.APPLICATION_JSON,
        body=answer.body,
        headers=answer.headers,
    )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Iterable[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    return response_of(json_error(status, code, message, fields=fields, headers=headers))


def _responding(answer: Callable[[Exception], Answer]) -> Callable[[Exception], Response[str]]:
    def handle(error: Exception) -> Response[str]:
        return response_of(answer(error))

    return handle


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
    # The answers that need no Powertools (``api.answers``, shared with the lean form submit).
    for kind, answer in error_answers(
        name=name, unavailable=unavailable, unavailable_loaded=unavailable_loaded
    ).items():
        app.exception_handler(kind)(_responding(answer))

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

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return error_response(404, "not_found", "no such route")
