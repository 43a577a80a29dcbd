"""Serves the embeddable widget's static files: ``GET /widget.js`` and the demo page ``GET /widget``.

The files live in ``static/`` beside this module (``widget.js``, ``widget.html``), written by
the widget's own work. Answers carry an ETag (a conditional GET gets 304) and a short public
cache lifetime, so a fixed widget reaches every site within minutes. Until the files exist
the routes answer 503 JSON ("widget not built yet").
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from ringback.api.errors import error_response

STATIC = Path(__file__).resolve().parent / "static"
CACHE_CONTROL = "public, max-age=300"
FILES = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.html": "text/html; charset=utf-8",
}
_NOT_BUILT = {"application/json": {"schema": {"type": "object", "required": ["error", "message"]}}}


@lru_cache(maxsize=len(FILES))
def _load(name: str) -> tuple[str, str] | None:
    path = STATIC / name
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return text, '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def serve(name: str, if_none_match: str | None) -> Response[str]:
    loaded = _load(name)
    if loaded is None:
        _load.cache_clear()  # look again next time: the files may arrive with a deploy
        return error_response(503, "unavailable", "widget not built yet")
    text, etag = loaded
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
    if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, body="", headers=headers)
    # HTTP APIs do not compress answers themselves: gzip here when the client accepts it.
    return Response(status_code=200, content_type=FILES[name], body=text, headers=headers, compress=True)


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
    """Add ``GET /widget.js`` and ``GET /widget`` to ``app``."""

    @app.get("/widget.js", summary="The embeddable callback widget script", responses=_responses("script"))
    def widget_script() -> Response[str]:
        return serve("widget.js", app.current_event.headers.get("if-none-match"))

    @app.get("/widget", summary="A demo page with the widget", responses=_responses("demo page"))
    def widget_page() -> Response[str]:
        return serve("widget.html", app.current_event.headers.get("if-none-match"))
