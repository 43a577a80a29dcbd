"""A real moto server over HTTP on loopback (in a thread), quiet unless something fails.

DynamoDB applies each conditional write atomically. moto's threaded server handles requests in
threads and its DynamoDB backend takes no lock, so on a busy machine two concurrent conditional
writes to one item can both pass their condition: two dialer uploaders released at once both
claimed the same two outbox entries (``test_two_uploaders_at_once``, twice in loaded runs).
The server here runs DynamoDB requests one at a time, as DynamoDB's per-item atomicity needs;
every other service (SQS long polls included) stays concurrent. moto serves requests one after
the other under the GIL anyway, so this costs little.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# The X-Amz-Target prefix of DynamoDB's own API (DynamoDB Streams has its own, and is read-only).
DYNAMODB_TARGET = "DynamoDB_20120810."


def serialize_dynamodb(app: WsgiApp) -> WsgiApp:
    """Wrap a WSGI app so that DynamoDB requests run one at a time (see the module docstring)."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        with lock:
            # Produce the whole answer inside the lock: the write happens while it is produced.
            return list(app(environ, start_response))

    return wrapped


class _AtomicDynamoMotoServer(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = serialize_dynamodb(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # werkzeug logs every request line; the stack's console is for ringback's own logs.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = _AtomicDynamoMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
