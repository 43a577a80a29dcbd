"""A real moto server over HTTP on loopback (in a thread), quiet unless something fails.

DynamoDB applies each conditional write atomically. moto's threaded server handles requests in
threads and its DynamoDB backend takes no lock, so on a busy machine two concurrent conditional
writes to one item can both pass their condition: two dialer uploaders released at once both
claimed the same two outbox entries (``test_two_uploaders_at_once``, twice in loaded runs).
The server here runs DynamoDB requests one at a time, as DynamoDB's per-item atomicity needs;
every other service (SQS long polls included) stays concurrent. moto serves requests one after
the other under the GIL anyway, so this costs little.

moto answers a Query of a table's own key by sorting every item of the table and keeping the
partition's (``Table.query`` over ``Table.all_items``): a Query costs what the whole table holds,
where DynamoDB's costs what the partition holds. With the console's 8 board partitions over a
ProjectionsTable of ~28,000 items, the page's Queries took over 3 s locally. The server here
hands such a Query the partition's items alone (``partition_queries``); the answer is the same.
"""

from __future__ import annotations

import logging
import threading
import time
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


class DynamoLoad:
    """How many DynamoDB requests the server answered, per operation, and the seconds each kind
    held the server (one at a time): what a benchmark reads to see moto's own ceiling."""

    def __init__(self) -> None:
        self.operations: dict[str, list[float]] = {}  # operation -> [count, seconds]

    def add(self, operation: str, seconds: float) -> None:
        entry = self.operations.setdefault(operation, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def snapshot(self) -> dict[str, list[float]]:
        return {name: list(entry) for name, entry in self.operations.items()}


def serialize_dynamodb(app: WsgiApp, load: DynamoLoad | None = None) -> WsgiApp:
    """Wrap a WSGI app so that DynamoDB requests run one at a time (see the module docstring)."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        with lock:
            started = time.perf_counter()
            # Produce the whole answer inside the lock: the write happens while it is produced.
            answer = list(app(environ, start_response))
            if load is not None:
                load.add(target.removeprefix(DYNAMODB_TARGET), time.perf_counter() - started)
            return answer

    return wrapped


_partition = threading.local()


def partition_queries() -> None:
    """Make moto's Query of a table's own key (no index) walk that partition's items only: the
    same candidates, in the same order, that moto keeps from its walk of every item. Queries of
    an index, scans and everything else read ``all_items`` as before."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "partition_only", False):
        return
    every_item = Table.all_items
    query = Table.query

    def all_items(self: Table) -> list[Any]:
        wanted = getattr(_partition, "key", None)
        if wanted is None or wanted[0] is not self:
            return every_item(self)
        held = self.items.get(wanted[1])
        if held is None:
            return []
        if not self.range_key_attr:
            return [held]
        return sorted(held.values(), key=lambda item: item.range_key)

    def partition_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name:
            return query(self, hash_key, *args, **kwargs)
        _partition.key = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _partition.key = None

    partition_query.partition_only = True  # type: ignore[attr-defined]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]


class _AtomicDynamoMotoServer(ThreadedMotoServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        partition_queries()
        super().__init__(*args, **kwargs)
        self.dynamodb_load = DynamoLoad()

    def _server_entry(self) -> None:
        app = serialize_dynamodb(DomainDispatcherApplication(create_backend_app), self.dynamodb_load)
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

    def dynamodb_load(self) -> dict[str, list[float]]:
        """Per DynamoDB operation: [requests answered, seconds they held the server]."""
        return self._server.dynamodb_load.snapshot()

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
