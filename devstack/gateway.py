"""The local API gateway: template.yaml's HttpApi routes served over real HTTP.

It builds API Gateway HTTP API payload-2.0 events the way AWS does (lower-cased headers,
comma-joined repeated values, cookies apart, base64 for non-text bodies, path parameters,
10 MB payload limit, CORS preflights answered and answers' CORS headers set from the
template's CorsConfiguration, the backend's own ignored) and turns the handler's answer back
into HTTP. Admin routes under ``/_local/`` drive schedules,
S3 notifications and direct invocations for demos and tests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devstack.functions import FunctionPool, InvocationError, InvocationTimeout
from devstack.template import CorsRules, Route

MAX_PAYLOAD = 10 * 1024 * 1024  # HTTP API's request limit
_TEXT_TYPES = re.compile(r"^(text/|application/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded))")


class CompiledRoute:
    def __init__(self, route: Route) -> None:
        self.route = route
        pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(route.path))
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        self.regex = re.compile(f"^{pattern}$")
        # Literal routes win over parameterised ones, as in API Gateway.
        self.specificity = (route.path.count("/") - route.path.count("{"), len(route.path))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in (method, "ANY"):
            return None
        found = self.regex.match(path)
        return found.groupdict() if found else None


AdminHandler = Callable[[str, str, bytes], tuple[int, Any]]


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a page's (or a benchmark's) burst of new
    # connections overflows it, and each connection the kernel drops is retried by the client
    # a second later (TCP's SYN retransmission), a 1 s answer out of nowhere. API Gateway has no
    # such queue; 128 is the usual listen backlog.
    request_queue_size = 128


class LocalGateway:
    def __init__(
        self,
        routes: list[Route],
        pools: dict[str, FunctionPool],
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        allowed_origins: list[str] | None = None,
        cors: CorsRules | None = None,
        quiet: bool = False,
    ) -> None:
        self.routes = sorted((CompiledRoute(r) for r in routes), key=lambda c: c.specificity, reverse=True)
        self.pools = pools
        # The template's CorsConfiguration; its AllowOrigins (a parameter) is resolved by the stack.
        self.cors = cors
        self.allowed_origins = allowed_origins or (
            list(cors.allow_origins) if cors and isinstance(cors.allow_origins, list) else []
        )
        self.admin: AdminHandler | None = None
        self.quiet = quiet
        gateway = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                gateway._handle(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

            def log_message(self, *_: Any) -> None:  # our own access log instead
                return

        self.server = _GatewayServer((host, port), _Handler)
        self.host, self.port = str(self.server.server_address[0]), int(self.server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ request handling
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        started = time.perf_counter()
        method = request.command.upper()
        parts = urlsplit(request.path)
        path = parts.path or "/"
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_PAYLOAD:
            self._send(request, 413, {"message": "Request Entity Too Large"}, close=True)
            return
        body = request.rfile.read(length) if length else b""
        status = 500
        route_key = "-"
        try:
            if path.startswith("/_local/") and self.admin is not None:
                status, payload = self.admin(method, path, body)
                self._send(request, status, payload)
                return
            if (
                self.cors is not None
                and method == "OPTIONS"
                and request.headers.get("access-control-request-method")
            ):
                status = self._preflight(request)
                return
            matched = self._match(method, path)
            if matched is None:
                status = 404
                self._send(request, 404, {"message": "Not Found"})
                return
            compiled, params = matched
            route_key = compiled.route.route_key
            event = self._event(request, method, path, parts.query, body, compiled.route, params)
            pool = self.pools[compiled.route.function]
            try:
                result = pool.invoke(event)
            except InvocationTimeout:
                status = 503
                self._send(request, 503, {"message": "Service Unavailable"})
                return
            except InvocationError:
                status = 500
                self._send(request, 500, {"message": "Internal Server Error"})
                return
            status = self._send_result(request, result)
        finally:
            if not self.quiet:
                # Never the query string: it carries callers' numbers.
                elapsed = (time.perf_counter() - started) * 1000
                print(f"[gateway] {method} {path} ({route_key}) -> {status} {elapsed:.0f} ms", flush=True)

    def _match(self, method: str, path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
        for compiled in self.routes:
            params = compiled.match(method, path)
            if params is not None:
                return compiled, params
        return None

    def _origin_allowed(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.allowed_origins or origin in self.allowed_origins)

    def _preflight(self, request: BaseHTTPRequestHandler) -> int:
        origin = request.headers.get("origin")
        headers = {}
        if self.cors is not None and self._origin_allowed(origin):
            headers = {
                "access-control-allow-origin": str(origin),
                "access-control-allow-methods": ",".join(self.cors.allow_methods),
                "access-control-allow-headers": ",".join(self.cors.allow_headers),
                "vary": "origin",
            }
            if self.cors.max_age is not None:
                headers["access-control-max-age"] = str(self.cors.max_age)
            if self.cors.allow_credentials:
                headers["access-control-allow-credentials"] = "true"
        self._write(request, 204, headers, b"")
        return 204

    def _cors_headers(self, origin: str | None, headers: dict[str, str]) -> None:
        """API Gateway with a CorsConfiguration ignores the backend's CORS headers and adds its
        own: the handler's cannot make up for what the template leaves out."""
        if self.cors is None:
            return
        for key in [k for k in headers if k.startswith("access-control-")]:
            del headers[key]
        if self._origin_allowed(origin):
            headers["access-control-allow-origin"] = str(origin)
            headers["vary"] = "origin"
            if self.cors.expose_headers:
                headers["access-control-expose-headers"] = ",".join(self.cors.expose_headers)
            if self.cors.allow_credentials:
                headers["access-control-allow-credentials"] = "true"

    def _event(
        self,
        request: BaseHTTPRequestHandler,
        method: str,
        path: str,
        query: str,
        body: bytes,
        route: Route,
        params: dict[str, str],
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers.items():
            key = name.lower()
            if key == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        query_params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            query_params[key] = f"{query_params[key]},{value}" if key in query_params else value
        content_type = headers.get("content-type", "")
        is_base64 = False
        text_body: str | None = None
        if body:
            if _TEXT_TYPES.match(content_type) or not content_type:
                try:
                    text_body = body.decode("utf-8")
                except UnicodeDecodeError:
                    text_body, is_base64 = base64.b64encode(body).decode(), True
            else:
                text_body, is_base64 = base64.b64encode(body).decode(), True
        now = datetime.now(UTC)
        source_ip = str(request.client_address[0])
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": headers.get("host", f"{self.host}:{self.port}"),
                "domainPrefix": "local",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": request.request_version,
                    "sourceIp": source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": uuid.uuid4().hex,
                "routeKey": route.route_key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": is_base64,
        }
        if cookies:
            event["cookies"] = cookies
        if query_params:
            event["queryStringParameters"] = query_params
        if params:
            event["pathParameters"] = params
        if text_body is not None:
            event["body"] = text_body
        return event

    def _send_result(self, request: BaseHTTPRequestHandler, result: Any) -> int:
        # Payload 2.0: a dict without statusCode (or any other value) is a 200 JSON answer.
        if not isinstance(result, dict) or "statusCode" not in result:
            return self._send(request, 200, result)
        status = int(result.get("statusCode", 200))
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(key).lower()] = ",".join(map(str, values))
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        cookies = list(result.get("cookies") or [])
        self._cors_headers(request.headers.get("origin"), headers)
        headers.setdefault("content-type", "application/json")
        self._write(request, status, headers, payload, cookies=cookies)
        return status

    def _send(
        self, request: BaseHTTPRequestHandler, status: int, payload: Any, *, close: bool = False
    ) -> int:
        body = json.dumps(payload).encode()
        self._write(request, status, {"content-type": "application/json"}, body, close=close)
        return status

    @staticmethod
    def _write(
        request: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        body: bytes,
        *,
        cookies: list[str] | None = None,
        close: bool = False,
    ) -> None:
        request.send_response(status)
        for key, value in headers.items():
            if key != "content-length":
                request.send_header(key, value)
        for cookie in cookies or []:
            request.send_header("set-cookie", cookie)
        request.send_header("content-length", str(len(body)))
        request.send_header("apigw-requestid", uuid.uuid4().hex[:16])
        if close:
            request.send_header("connection", "close")
            request.close_connection = True
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
