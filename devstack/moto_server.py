"""A real moto server over HTTP on loopback (in a thread), quiet unless something fails."""

from __future__ import annotations

import logging

from moto.server import ThreadedMotoServer


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # werkzeug logs every request line; the stack's console is for ringback's own logs.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
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
