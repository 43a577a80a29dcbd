"""What the lean entries share (``functions/*/entry.py``, ``functions/callbacks/form_submit.py``):
reading a payload-2.0 event's route as Powertools' resolver does, and the answer's dict.

A lean entry answers its hot routes without Powertools' event handler and hands every other
event to the function's resolver; it must see the route exactly as the resolver would, or the
two would answer one request differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ringback.api.answers import Answer


@dataclass(frozen=True)
class Route:
    """A payload-2.0 event's method (upper-cased), path and ``requestContext``."""

    method: str
    path: str
    context: dict[str, Any]
    http: dict[str, Any]


def route_of(event: Any) -> Route | None:
    """The route Powertools' resolver would match ``event`` against; None for an event of
    another shape (the resolver answers or refuses it)."""
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    if not isinstance(context, dict) or not isinstance(http, dict):
        return None
    stage, raw_path, method = context.get("stage"), event.get("rawPath"), http.get("method")
    if not (isinstance(stage, str) and isinstance(raw_path, str) and isinstance(method, str)):
        return None
    # Powertools' path of a payload-2.0 event: rawPath less "/<stage>" (unless $default).
    path = raw_path if stage == "$default" else raw_path[len("/" + stage) :]
    return Route(method.upper(), path, context, http)


def text_map(value: Any) -> bool:
    """Whether ``value`` is a map of text to text (headers, query parameters as API Gateway
    sends them); anything else is the resolver's to answer."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def headers_of(event: Mapping[str, Any]) -> dict[str, str] | None:
    """The event's headers (none: empty) when they are a map of text to text; else None."""
    headers = event.get("headers")
    if headers is None:
        return {}
    return headers if text_map(headers) else None


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers by lower-cased name, as Powertools reads them (the last of one name wins)."""
    return {k.lower(): v for k, v in headers.items()}


def response_of(answer: Answer, extra_headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Lambda answer a resolver gives for ``answer`` (a JSON body, no cookies)."""
    headers = {**answer.headers, "Content-Type": "application/json", **(extra_headers or {})}
    return {
        "statusCode": answer.status,
        "body": answer.body,
        "isBase64Encoded": False,
        "headers": headers,
        "cookies": [],
    }
