"""The operator console: ``GET /console`` (the page), its data, sign-in/out and re-drive.

The page is static (``static/``); everything it shows comes from ``GET /v1/console/data``,
which needs the session cookie a sign-in sets (HttpOnly, Secure, SameSite=Strict, with an
expiry). The re-drive is a state change: same origin and the session's CSRF token in the
``X-Console-CSRF`` header. Every read is logged with what was read, never a number.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import console_factory as wiring
from ringback.adapters.clock import SystemClock
from ringback.api.resolver import make_resolver
from ringback.domain.console import SESSION_COOKIE, Redrive, Session, SignIn, cookie_value
from ringback.domain.errors import Unauthorized
from ringback.observability import logger

app = make_resolver()
STATIC = FilePath(__file__).resolve().parent / "static"
ASSETS = {
    "console.html": "text/html; charset=utf-8",
    "console.js": "application/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_CLOCK = SystemClock()


@lru_cache(maxsize=len(ASSETS))
def _asset(name: str) -> tuple[str, str]:
    text = (STATIC / name).read_text(encoding="utf-8")
    return text, '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _serve(name: str) -> Response[str]:
    text, etag = _asset(name)
    headers = {
        "Cache-Control": "no-cache",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Referrer-Policy": "no-referrer",
    }
    if etag in {t.strip() for t in (app.current_event.headers.get("if-none-match") or "").split(",")}:
        return Response(status_code=304, body="", headers=headers)
    return Response(status_code=200, content_type=ASSETS[name], body=text, headers=headers, compress=True)


def _cookie(value: str, max_age: int) -> Cookie:
    return Cookie(
        SESSION_COOKIE,
        value,
        path="/",
        secure=True,
        http_only=True,
        max_age=max_age,
        same_site=SameSite.STRICT_MODE,
    )


def _session() -> Session:
    return wiring.access().session(cookie_value(app.current_event.cookies or []), _CLOCK.now())


def _host() -> str | None:
    return app.current_event.headers.get("host") or app.current_event.request_context.domain_name


def _session_ref(session: Session) -> str:
    """A pseudonym of the session for the logs (the id itself is a bearer secret's part)."""
    return hashlib.sha256(session.session_id.encode()).hexdigest()[:12]


@app.get("/console")
def console_page() -> Response[str]:
    return _serve("console.html")


@app.get("/console/<asset>")
def console_asset(asset: Annotated[str, Path(pattern=r"^console\.(js|css)$")]) -> Response[str]:
    return _serve(asset)


@app.post(
    "/v1/console/session",
    responses={200: {"description": "signed in"}, 401: {"description": "bad credential"}},
)
def sign_in(body: Annotated[SignIn, Body()]) -> Response[str]:
    access = wiring.access()
    access.check_origin(app.current_event.headers.get("origin"), _host())
    try:
        session, value = access.sign_in(body.credential, _CLOCK.now())
    except Unauthorized:
        logger.warning("console sign-in refused")
        raise
    logger.info("console sign-in", extra={"session": _session_ref(session)})
    return Response(
        200,
        content_types.APPLICATION_JSON,
        body=json.dumps({"signed_in": True, "expires_in_s": session.expires_at - session.issued_at}),
        headers=NO_STORE,
        cookies=[_cookie(value, session.expires_at - session.issued_at)],
    )


@app.delete("/v1/console/session")
def sign_out() -> Response[str]:
    wiring.access().check_origin(app.current_event.headers.get("origin"), _host())
    logger.info("console sign-out")
    return Response(
        200,
        content_types.APPLICATION_JSON,
        body='{"signed_in": false}',
        headers=NO_STORE,
        cookies=[_cookie("", 0)],
    )


@app.get("/v1/console/data")
def console_data(
    timeline: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9a-f]{16}$",
            description="the agent_timeline_tag of the timeline the page shows: while it is "
            "current, agent_timeline and agent_timeline_chart are null (unchanged)",
        ),
    ] = None,
) -> Response[Any]:
    session = _session()
    view = wiring.data().data(_CLOCK.now(), timeline)
    view["csrf"] = wiring.access().csrf(session)
    view["session_expires_at"] = session.expires_at
    logger.info(
        "console read",
        extra={
            "session": _session_ref(session),
            "read": "data",
            "open_requests": view["board"]["total"],
            "rejected": len(view["receipts"]["rejected"]),
        },
    )
    return Response(200, content_types.APPLICATION_JSON, body=view, headers=NO_STORE, compress=True)


@app.post("/v1/console/redrive")
def console_redrive(body: Annotated[Redrive, Body()]) -> Response[Any]:
    session = _session()
    headers = app.current_event.headers
    wiring.access().check_write(
        session, csrf=headers.get("x-console-csrf"), origin=headers.get("origin"), host=_host()
    )
    results = wiring.data().redrive(wiring.outbox(), body.entry_ids, _CLOCK)
    logger.info(
        "console re-drive",
        extra={"session": _session_ref(session), "entries": len(results), "entry_ids": list(results)},
    )
    return Response(200, content_types.APPLICATION_JSON, body={"results": results}, headers=NO_STORE)


@app.get("/v1/health/console")
def health() -> dict[str, str]:
    return {"status": "ok", "service": "console"}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
