"""The body gate: every request body is checked before routing, auth and Powertools' parsing.

One gate for every route of every function (``api.resolver.make_resolver`` installs it):

- size: larger than the function's limit -> 413 ``payload_too_large``;
- encoding: a base64 body is decoded here; not UTF-8 -> 400 ``malformed_body``;
- content type, case-insensitive (``APPLICATION/JSON; charset=UTF-8`` is JSON; so is any
  ``+json`` type and, as Powertools reads it, a body without a Content-Type) -> otherwise 415
  ``unsupported_media_type`` (multipart without a boundary never reaches Powertools' parser);
- strict JSON (``domain.strict_json``): nesting depth, number size, no NaN/Infinity, no
  duplicate keys -> 400 / 422 naming the problem.

A passed body is handed on decoded, with its content type normalised to ``application/json``.
A lenient gate (the routing lookup, whose contract with Webitel is "200 JSON for any body")
refuses nothing: a body it would refuse is dropped, and the route answers as for no body.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ringback.domain import strict_json

# The methods whose body a route may read; other methods' bodies are only size-checked.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
DEFAULT_MAX_BODY_BYTES = 256 * 1024


def default_body_limit() -> int:
    """The limit of a function whose operator config sets none: ``max_event_body_bytes``.

    Not ``config.get_settings()``: pydantic-settings would cost every function's cold start
    (the routing lookup's included) its import on the first request with a body."""
    from ringback.adapters.lean_settings import get_lean_settings

    try:
        return get_lean_settings().max_event_body_bytes
    except Exception:
        return DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class BodyGate:
    """``max_bytes`` is read per request (a callable may follow the operator config)."""

    max_bytes: Callable[[], int]
    lenient: bool = False

    def check(self, event: dict[str, Any]) -> Refusal | None:
        """None when the request may go on (``event`` normalised in place), else the refusal."""
        refusal = _check(event, self._limit(), lenient=self.lenient)
        if refusal is not None and self.lenient:
            event["body"], event["isBase64Encoded"] = None, False
            return None
        return refusal

    def _limit(self) -> int:
        try:
            return self.max_bytes()
        except Exception:  # the limit's source failing must not fail the request
            return DEFAULT_MAX_BODY_BYTES


def _media_type(headers: dict[str, Any]) -> tuple[str | None, str]:
    for name, value in headers.items():
        if str(name).lower() == "content-type":
            return str(name), str(value).split(";", 1)[0].strip().lower()
    return None, ""


def _check(event: dict[str, Any], limit: int, *, lenient: bool) -> Refusal | None:
    raw = event.get("body")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        return Refusal(400, "malformed_body", "the request body is not text")
    encoded = bool(event.get("isBase64Encoded"))
    try:
        size = len(raw) * 3 // 4 if encoded else len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        return Refusal(400, "malformed_body", "the request body is not UTF-8 text")
    if size > limit:
        return Refusal(413, "payload_too_large", f"the body is larger than {limit} bytes")
    method = str((event.get("requestContext") or {}).get("http", {}).get("method") or "").upper()
    if method not in _BODY_METHODS:
        return None
    if encoded:
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return Refusal(400, "malformed_body", "the request body is not UTF-8 text")
        if len(raw.encode()) > limit:
            return Refusal(413, "payload_too_large", f"the body is larger than {limit} bytes")
        event["body"], event["isBase64Encoded"] = raw, False
    headers = event.get("headers") or {}
    header, media = _media_type(headers)
    json_media = not media or media == "application/json" or media.endswith("+json")
    if not json_media:
        if lenient:  # the routing lookup also reads forms (cid=...)
            return None
        return Refusal(415, "unsupported_media_type", f"send the body as application/json, not {media[:60]}")
    if lenient and not raw.lstrip().startswith(("{", "[")):
        return None  # not JSON at all: the route reads it as it can
    try:
        strict_json.loads(raw)
    except strict_json.JsonRefused as refused:
        return Refusal(refused.status, refused.code, refused.message)
    if header is not None and media != "application/json":
        headers = {k: v for k, v in headers.items() if k != header}
        headers["content-type"] = "application/json"
        event["headers"] = headers
    elif header is not None and headers[header] != "application/json":
        headers = dict(headers)
        headers[header] = "application/json"
        event["headers"] = headers
    return None
