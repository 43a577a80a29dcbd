"""Serves the embeddable widget's static files: ``GET /widget.js``, its versioned URL
``GET /widget/{version}/widget.js`` and the demo page ``GET /widget``.

The files live in ``static/`` beside this module (``widget.js``, ``widget.html``), written by
the widget's own work. Answers carry an ETag (a conditional GET gets 304). ``/widget.js`` has
a short public cache lifetime, so a fixed widget reaches every site within minutes; the
versioned URL (``version`` = the first 12 hex digits of the script's SHA-256, given by the
``X-Ringback-Widget-Url`` header of ``/widget.js``) never changes content, so it is cached
for a year as ``immutable`` and repeat page views never reach the API. A version that is not
the current one is redirected (short-lived) to the current one. Until the files exist the
routes answer 503 JSON ("widget not built yet").

Lean on purpose (no Powertools event handler at import): the page-view routes are answered by
``entry.py`` before the rest of the callbacks function is loaded.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

STATIC = Path(__file__).resolve().parent / "static"
CACHE_CONTROL = "public, max-age=300"
IMMUTABLE = "public, max-age=31536000, immutable"
VERSIONED_ROUTE = "GET /widget/{version}/widget.js"
FILES = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.html": "text/html; charset=utf-8",
}
_NOT_BUILT = {"application/json": {"schema": {"type": "object", "required": ["error", "message"]}}}


@lru_cache(maxsize=len(FILES))
def _load(name: str) -> tuple[str, str, bytes] | None:
    path = STATIC / name
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text, digest, gzip.compress(text.encode(), compresslevel=9, mtime=0)


def version() -> str | None:
    """The current script's version (content hash), None until it exists."""
    loaded = _load("widget.js")
    return loaded[1][:12] if loaded else None


def versioned_path(stage_prefix: str = "") -> str | None:
    current = version()
    return f"{stage_prefix}/widget/{current}/widget.js" if current else None


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def serve(
    name: str,
    headers: Mapping[str, str],
    *,
    requested_version: str | None = None,
    stage_prefix: str = "",
) -> dict[str, Any]:
    """The payload-2.0 answer for one static file (``headers``: the request's, lower-case)."""
    loaded = _load(name)
    if loaded is None:
        _load.cache_clear()  # look again next time: the files may arrive with a deploy
        return _json(503, {"error": "unavailable", "message": "widget not built yet"})
    text, digest, zipped = loaded
    etag = f'"{digest[:32]}"'
    if requested_version is not None and requested_version != digest[:12]:
        # An older (or unknown) version: send the browser to the current one, briefly cached.
        return {
            "statusCode": 302,
            "headers": {
                "Location": f"../{digest[:12]}/widget.js",
                "Cache-Control": CACHE_CONTROL,
                "Content-Type": "text/plain; charset=utf-8",
            },
            "body": "",
            "isBase64Encoded": False,
        }
    answer_headers = {
        "Cache-Control": IMMUTABLE if requested_version is not None else CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if name == "widget.js" and requested_version is None:
        answer_headers["X-Ringback-Widget-Url"] = f"{stage_prefix}/widget/{digest[:12]}/widget.js"
    if name.endswith(".html"):
        answer_headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
    if_none_match = headers.get("if-none-match")
    if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return {"statusCode": 304, "headers": answer_headers, "body": "", "isBase64Encoded": False}
    answer_headers["Content-Type"] = FILES[name]
    # HTTP APIs do not compress answers themselves: gzip here when the client accepts it.
    if "gzip" in headers.get("accept-encoding", ""):
        answer_headers["Content-Encoding"] = "gzip"
        return {
            "statusCode": 200,
            "headers": answer_headers,
            "body": base64.b64encode(zipped).decode(),
            "isBase64Encoded": True,
        }
    return {"statusCode": 200, "headers": answer_headers, "body": text, "isBase64Encoded": False}


def _responses(kind: str) -> dict[int, Any]:
    return {
        200: {
            "description": kind,
            "content": {
                FILES["widget.js" if "script" in kind else "widget.html"].split(";")[0]: {
                    "schema": {"type": "string"}
                }
            },
        },
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        503: {"description": "The widget files are not built yet", "content": _NOT_BUILT},
    }


def register(app: APIGatewayHttpResolver) -> None:
    """Declare the widget routes on ``app`` (its OpenAPI schema). ``entry.py`` answers them
    before the resolver is loaded; these handlers serve the same answers if it is called."""
    from aws_lambda_powertools.event_handler import Response

    # The handlers' annotations are strings (postponed evaluation); the resolver evaluates them
    # in this module's namespace, which only now holds Response.
    globals()["Response"] = Response

    def respond(name: str, requested_version: str | None = None) -> Response[str]:
        answer = serve(name, app.current_event.headers, requested_version=requested_version)
        body = answer["body"]
        if answer["isBase64Encoded"]:
            body = base64.b64decode(body).decode()
            answer["headers"].pop("Content-Encoding", None)
        headers = dict(answer["headers"])
        return Response(answer["statusCode"], headers.pop("Content-Type", None), body, headers=headers)

    @app.get("/widget.js", summary="The embeddable callback widget script", responses=_responses("script"))
    def widget_script() -> Response[str]:
        return respond("widget.js")

    @app.get(
        "/widget/<version>/widget.js",
        summary="The widget script under its version (content hash): cached for a year, immutable",
        responses={**_responses("script"), 302: {"description": "Not the current version: go there"}},
    )
    def widget_script_versioned(version: str) -> Response[str]:
        return respond("widget.js", version)

    @app.get("/widget", summary="A demo page with the widget", responses=_responses("demo page"))
    def widget_page() -> Response[str]:
        return respond("widget.html")
