"""``python -m devstack.webitel_sandbox --port 8801 --token T``: serve in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from devstack.webitel_sandbox.server import DEFAULT_TOKEN, WebitelSandbox


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.webitel_sandbox",
        description="Fake Webitel engine API (the subset ringback uses) with fault knobs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="value required in X-Webitel-Access")
    parser.add_argument("--no-seed", action="store_true", help="start empty instead of with demo data")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sandbox = WebitelSandbox(arguments.host, arguments.port, arguments.token)
    if not arguments.no_seed:
        sandbox.seed_demo()
    stopped = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sandbox.start()
    # The token is the caller's own; only say whether the default is in use.
    print(f"Webitel sandbox: API {sandbox.url}  page {sandbox.page_url}", flush=True)
    if arguments.token == DEFAULT_TOKEN:
        print(f"(default token {DEFAULT_TOKEN!r})", flush=True)
    try:
        stopped.wait()
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
