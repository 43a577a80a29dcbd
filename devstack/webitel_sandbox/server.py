"""The sandbox's HTTP server: plumbing only (auth, faults, JSON, request ids).

What each endpoint does is in api.py (engine, below ``/api``) and control.py (``/_sandbox``).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from devstack.webitel_sandbox import caller, hooks, seed
from devstack.webitel_sandbox.api import EngineApi
from devstack.webitel_sandbox.control import ControlApi
from devstack.webitel_sandbox.errors import ApiError, error_body
from devstack.webitel_sandbox.faults import Faults
from devstack.webitel_sandbox.routing import ApiRequest, ApiResponse, Router
from devstack.webitel_sandbox.store import DEFAULT_ROLE, Agent, Call, Queue, Store

API_PREFIX = "/api"
ACCESS_HEADER = "X-Webitel-Access"
REQUEST_ID_HEADER = "X-Request-Id"
DEFAULT_TOKEN = "sandbox-token"
# The engine's gRPC message limit.
MAX_BODY_BYTES = 16 * 1024 * 1024

_log = logging.getLogger("devstack.webitel_sandbox")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive connections park a thread each; never wait for them on close.
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default 5 drops a burst of new connections

    def __init__(self, address: tuple[str, int], sandbox: WebitelSandbox) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "WebitelSandbox/1"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # The default line has the query string (tags, maybe numbers); _dispatch logs its own.
        return

    # -- request flow ---------------------------------------------------------------------

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        request_id = uuid.uuid4().hex
        url = urlsplit(self.path)
        path = url.path
        is_engine = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        status = 0
        try:
            if is_engine and sandbox.faults.down:
                # Answer nothing at all; the client sees the connection drop.
                self.close_connection = True
            else:
                # Read the body before any early answer (401, injected 5xx), or its bytes would
                # be parsed as the next request on this keep-alive connection.
                raw_body = self._read_raw_body()
                if is_engine:
                    status = self._engine_request(
                        sandbox, path[len(API_PREFIX) :], url.query, raw_body, request_id
                    )
                else:
                    response = self._route(sandbox.control_router, path, url.query, raw_body, request_id)
                    status = self._reply(response, request_id)
        except ApiError as error:
            status = self._reply_error(error, request_id)
        except Exception:
            _log.exception("sandbox failure on %s %s rid=%s", self.command, path, request_id)
            status = self._reply_error(ApiError(500, "sandbox.internal", "sandbox failure"), request_id)
        _log.info("%s %s -> %s rid=%s", self.command, path, status or "no answer", request_id)

    def _engine_request(
        self, sandbox: WebitelSandbox, path: str, query: str, raw_body: bytes, request_id: str
    ) -> int:
        """Faults, auth, then the engine route. Returns the status sent, 0 for none."""
        faults = sandbox.faults
        if faults.latency_ms:
            sandbox.wait(faults.latency_ms / 1000)
        failure = faults.take_failure()
        if failure is not None:
            raise ApiError(failure, "sandbox.fault.unavailable", "injected failure (fail_5xx)")
        given = self.headers.get(ACCESS_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), sandbox.token.encode()):
            raise ApiError(401, "app.context.authorization", "missing or invalid access token")
        response = self._route(sandbox.engine_router, path, query, raw_body, request_id)
        if response.committed and faults.take_timeout_after_commit():
            # Committed, but the client never hears about it.
            sandbox.wait(faults.hang_ms / 1000)
            self.close_connection = True
            return 0
        return self._reply(response, request_id)

    def _route(self, router: Router, path: str, query: str, raw_body: bytes, request_id: str) -> ApiResponse:
        handler, path_params = router.resolve(self.command, path)
        request = ApiRequest(
            method=self.command,
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            body=_json_body(raw_body),
            request_id=request_id,
            path_params=path_params,
        )
        return handler(request)

    def _read_raw_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(400, "app.request.body", "chunked bodies are not supported; send Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "app.request.body", "bad Content-Length") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(400, "app.request.body", "request body exceeds 16 MB")
        return self.rfile.read(length) if length > 0 else b""

    # -- answers --------------------------------------------------------------------------

    def _reply(self, response: ApiResponse, request_id: str) -> int:
        if response.content_type == "application/json":
            data = json.dumps(response.body).encode()
        else:
            data = str(response.body).encode()
        self._send(response.status, data, response.content_type, request_id)
        return response.status

    def _reply_error(self, error: ApiError, request_id: str) -> int:
        data = json.dumps(error.body(request_id)).encode()
        self._send(error.http_status, data, "application/json", request_id)
        return error.http_status

    def _send(self, status: int, data: bytes, content_type: str, request_id: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header(REQUEST_ID_HEADER, request_id)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def _json_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "app.request.body", "body is not valid JSON") from None


class WebitelSandbox:
    """A fake Webitel engine on a real socket. ``start()`` returns the base URL (with ``/api``).

    >>> with WebitelSandbox(token="t") as sandbox:   # doctest: +SKIP
    ...     sandbox.seed_demo()
    ...     client = HttpWebitelClient(sandbox.url, "t", timeout=...)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str = DEFAULT_TOKEN) -> None:
        if not token:
            raise ValueError("the sandbox needs a token to require")
        self.host = host
        self.port = port
        self.token = token
        self.store = Store()
        self.faults = Faults()
        self.engine_router = EngineApi(self.store).router()
        self.hook_target: hooks.HookTarget | None = None
        # Inbound callers played through docs/ivr-callbacks.md, at the hook target's host.
        self.callers = caller.CallerDesk(lambda: self.hook_target)
        self.control_router = ControlApi(
            self.store,
            self.faults,
            self._reset_from_http,
            self.fire_hook,
            self.set_hook_target,
            callers=self.callers,
        ).router()
        self._wake = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        if self._server is not None:
            return self.url
        self._wake = threading.Event()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webitel-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._wake.set()  # release handlers held by latency or timeout_after_commit
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        # A wildcard bind is reachable on loopback.
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the engine API, e.g. ``http://127.0.0.1:8801/api``."""
        return self.root_url + API_PREFIX

    @property
    def page_url(self) -> str:
        return self.root_url + "/"

    def wait(self, seconds: float) -> None:
        """Sleep for a fault, cut short by stop() or reset()."""
        self._wake.wait(seconds)

    # -- state (Python API) ---------------------------------------------------------------

    def reset(self, *, seed_demo: bool = False) -> None:
        """Forget every queue, agent, member and call; clear the fault knobs."""
        self.faults.reset()
        # Wake handlers parked by faults, then give new waits a fresh event.
        woken, self._wake = self._wake, threading.Event()
        woken.set()
        self.store.reset()
        self.callers.reset()
        if seed_demo:
            self.seed_demo()

    def _reset_from_http(self, seed_demo: bool) -> None:
        self.reset(seed_demo=seed_demo)

    def seed_demo(self) -> None:
        seed.seed_demo(self.store)

    def add_queue(
        self, queue_id: str, name: str, queue_type: int, *, grantee_id: str | None = DEFAULT_ROLE
    ) -> Queue:
        return self.store.add_queue(queue_id, name, queue_type, grantee_id=grantee_id)

    def add_agent(
        self,
        agent_id: str,
        name: str,
        extension: str,
        *,
        user_id: str | None = None,
        status: str = "online",
        queue_ids: Iterable[str] = (),
        supervisor_ids: Iterable[str] = (),
    ) -> Agent:
        return self.store.add_agent(
            agent_id,
            name,
            extension,
            user_id=user_id,
            status=status,
            queue_ids=queue_ids,
            supervisor_ids=supervisor_ids,
        )

    def set_agent_status(self, agent_id: str, status: str, payload: str | None = None) -> Agent:
        return self.store.set_agent_status(agent_id, status, payload)

    def set_token_user(
        self, *, user_id: str = "100", roles: Iterable[str] = (), agent_id: str | None = None
    ) -> None:
        """Who the access token belongs to; decides which queues the general report shows."""
        self.store.set_token_user(user_id=user_id, roles=roles, agent_id=agent_id)

    # -- hooks ----------------------------------------------------------------------------

    def set_hook_target(self, target: hooks.HookTarget) -> None:
        self.hook_target = target

    def fire_hook(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Post the body Webitel's hook would post (devstack/webitel_sandbox/hooks.py).

        ``{"hook": "queue", "state": "bridged", "queue_id": "3", "destination": "+420..."}``
        or ``{"hook": "team", "agent_id": "11", "status": "pause", "status_payload": "lunch"}``
        (the team hook changes the agent's status first, as Webitel fires it on a change).
        Returns what was sent and ringback's answer.
        """
        if self.hook_target is None:
            raise ValueError("no hook target: POST /_sandbox/hooks {url, token} first")
        kind = spec.get("hook")
        now = int(time.time() * 1000)
        if kind == "queue":
            variables = hooks.queue_hook_variables(self.store, spec, now)
            schema = hooks.QUEUE_HOOK_SCHEMA
        elif kind == "team":
            agent_id = str(spec.get("agent_id") or "")
            if spec.get("status"):
                payload = spec.get("status_payload")
                self.store.set_agent_status(
                    agent_id, str(spec["status"]), None if payload is None else str(payload)
                )
            variables = hooks.team_hook_variables(self.store, agent_id)
            schema = hooks.TEAM_HOOK_SCHEMA
        else:
            raise ValueError('hook must be "queue" or "team"')
        return hooks.post(self.hook_target, schema, variables)

    def end_call(self, call_id: str) -> Call:
        return self.store.end_call(call_id)

    def state(self) -> dict[str, Any]:
        """Everything the sandbox holds, as JSON-ready dicts (same as ``GET /_sandbox/state``)."""
        return {**self.store.dump(), "faults": self.faults.snapshot()}

    def members(self, queue_id: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.store.dump()["members"] if queue_id is None or m["queue"]["id"] == queue_id]

    def calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self.store.dump()["calls"]
        return calls


__all__ = ["ACCESS_HEADER", "DEFAULT_TOKEN", "REQUEST_ID_HEADER", "WebitelSandbox", "error_body"]
