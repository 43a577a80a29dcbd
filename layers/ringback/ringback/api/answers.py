"""The JSON answers of errors and the CORS headers, without Powertools' event handler.

``api.errors`` registers these answers on every resolver; the lean form submit
(``functions/callbacks/form_submit.py``) answers a service error with the same table, so both
give the same status, body and headers. Importing Powertools' event handler (its package
loads every resolver, AppSync's pulls asyncio) costs a cold start tens of milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ringback.domain.errors import DomainError, FieldProblem, RateLimited, Unavailable
from ringback.observability import logger, metrics

# Seconds a caller is asked to wait after a 503 (a dependency failed; nothing was accepted).
RETRY_AFTER_S = 5

JSON_HEADERS = {"Cache-Control": "no-store"}

# The request headers a browser may send (the resolver's CORS, ``api.resolver.make_resolver``).
CORS_ALLOW_HEADERS = ["Content-Type", "Idempotency-Key", "Authorization", "X-Ringback-Site-Key"]
CORS_MAX_AGE_S = 600
# A browser script may read only these of a cross-origin answer: the widget waits Retry-After
# before it posts a refused event again.
CORS_EXPOSE_HEADERS = ["Retry-After"]
# The headers Powertools' CORSConfig always allows (``CORSConfig._REQUIRED_HEADERS``).
_POWERTOOLS_CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Amz-Date",
    "X-Api-Key",
    "X-Amz-Security-Token",
]


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, JSON body (text) and headers (without Content-Type)."""

    status: int
    body: str
    headers: dict[str, str]


def json_error(
    status: int,
    code: str,
    message: str,
    *,
    fields: Iterable[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> Answer:
    body: dict[str, Any] = {"error": code, "message": message}
    field_list = [{"field": f.field, "message": f.message} for f in fields]
    if field_list:
        body["fields"] = field_list
    return Answer(status, json.dumps(body), {**JSON_HEADERS, **(headers or {})})


def handled_error(name: str) -> None:
    """Count a 5xx the handler answered itself (Lambda's ``Errors`` never sees it): the
    ``<name>HandledErrors`` metric, alarmed per function in template.yaml."""
    try:
        metrics.add_metric(name=f"{name}HandledErrors", unit=MetricUnit.Count, value=1)
    except Exception as error:  # a metrics problem must not change the answer
        logger.warning("handled-error metric not recorded", extra={"error_type": type(error).__name__})


ErrorAnswers = dict[type[Exception], Callable[[Exception], Answer]]


def error_answers(
    *,
    name: str = "",
    unavailable: tuple[type[Exception], ...] = (),
    unavailable_loaded: Callable[[], tuple[type[Exception], ...]] | None = None,
) -> ErrorAnswers:
    """The answer to every error a handler can raise, by class (looked up along the error's
    MRO, as Powertools' exception handlers are); ``api.errors.register_error_handlers``
    explains the arguments. Nothing escapes as a bare 500."""
    metric_name = name or "Api"

    def dependency(error: Exception) -> Answer:
        logger.warning("dependency failed", extra={"error_type": type(error).__name__})
        handled_error(metric_name)
        return json_error(
            503,
            "unavailable",
            "a dependency is unavailable; please retry",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    def not_utf8(_: Exception) -> Answer:
        return json_error(400, "malformed_body", "the request body is not UTF-8 text")

    def domain(error: Exception) -> Answer:
        assert isinstance(error, DomainError)
        headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, RateLimited) else None
        if isinstance(error, Unavailable):
            headers = {"Retry-After": str(RETRY_AFTER_S)}
        if error.status >= 500:
            handled_error(metric_name)
        return json_error(error.status, error.code, error.message, fields=error.fields, headers=headers)

    def unexpected(error: Exception) -> Answer:
        if unavailable_loaded is not None and isinstance(error, unavailable_loaded()):
            return dependency(error)
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        handled_error(metric_name)
        return json_error(500, "internal_error", "something went wrong on our side")

    answers: ErrorAnswers = dict.fromkeys(unavailable, dependency)
    answers.update({UnicodeDecodeError: not_utf8, DomainError: domain, Exception: unexpected})
    return answers


def answer_error(answers: ErrorAnswers, error: Exception) -> Answer:
    """The answer registered for the nearest class of ``error`` (call it in the ``except``)."""
    for kind in type(error).__mro__:
        if kind in answers:
            return answers[kind](error)
    return answers[Exception](error)


def cors_headers(allowed_origins: Sequence[str], request_headers: Mapping[str, Any]) -> dict[str, str]:
    """The CORS headers a resolver of ``make_resolver(allowed_origins=...)`` adds to a route's
    answer (Powertools' ``ResponseBuilder._add_cors`` with its ``CORSConfig``): the origin is
    read case-insensitively (the last of one name wins) and, as Powertools splits a header
    value at its commas, only up to the first comma. No allowed origins: no CORS headers."""
    if not allowed_origins:
        return {}
    value = {str(k).lower(): v for k, v in request_headers.items()}.get("origin")
    extracted = value.split(",")[0] if isinstance(value, str) and "," in value else value
    if extracted in allowed_origins:
        origin = extracted
    elif extracted is not None and "*" in allowed_origins:
        origin = "*"
    else:
        return {}
    if not origin or (origin not in allowed_origins and "*" not in allowed_origins):
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Headers": ",".join(sorted(set(_POWERTOOLS_CORS_HEADERS + CORS_ALLOW_HEADERS))),
        "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
        "Access-Control-Expose-Headers": ",".join(CORS_EXPOSE_HEADERS),
    }
