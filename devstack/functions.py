"""Lambda-like execution of template.yaml's functions: a pool of worker processes per function.

Each worker is a separate interpreter with that function's environment and import path, so
functions are kept apart as on Lambda (no shared module state, their own cold starts). A pool
grows on demand up to ``max_workers`` concurrent invocations, like Lambda's concurrency.
"""

from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from devstack.template import FunctionSpec

WORKER_SCRIPT = Path(__file__).with_name("lambda_worker.py")


class InvocationError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


class InvocationTimeout(InvocationError):
    pass


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        try:
            self.conn.close()
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=5)


class FunctionPool:
    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        layer_dirs: list[Path],
        *,
        max_workers: int = 4,
        echo_logs: bool = True,
        log_lines: int = 2000,
    ) -> None:
        self.spec = spec
        self._env = environment
        self._layer_dirs = layer_dirs
        self._max = max_workers
        self._idle: list[_Worker] = []
        self._count = 0
        self._cond = threading.Condition()
        self._echo = echo_logs
        self.logs: collections.deque[str] = collections.deque(maxlen=log_lines)
        self.cold_starts = 0
        self._closed = False

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RINGBACK_", "POWERTOOLS_", "AWS_"))}
        env.update(self._env)
        env["PYTHONPATH"] = os.pathsep.join([str(self.spec.code_uri), *map(str, self._layer_dirs)])
        env["PYTHONUNBUFFERED"] = "1"
        # Powertools warns on every invocation without a metric of its own: noise on a console.
        env["PYTHONWARNINGS"] = "ignore:No application metrics to publish:UserWarning"
        process = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), self.spec.handler, str(child.fileno())],
            env=env,
            pass_fds=[child.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(self.spec.code_uri),
        )
        child.close()
        conn = Connection(parent.detach())
        threading.Thread(target=self._pump_logs, args=(process,), daemon=True).start()
        ready = (
            conn.recv()
            if conn.poll(60)
            else {"ok": False, "errorType": "Runtime.InitTimeout", "errorMessage": "init took over 60 s"}
        )
        if not ready.get("ready"):
            process.kill()
            raise InvocationError(
                str(ready.get("errorType", "Runtime.Init")), str(ready.get("errorMessage", ""))
            )
        self.cold_starts += 1
        return _Worker(process, conn)

    def _pump_logs(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.logs.append(line)
            if self._echo:
                print(f"[{self.name}] {line}", flush=True)

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise InvocationError("Local.Closed", "the stack is stopping")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._count -= 1
                if self._count < self._max:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            return self._spawn()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, worker: _Worker | None) -> None:
        with self._cond:
            if worker is not None and worker.alive() and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                if worker is not None:
                    worker.kill()
            self._cond.notify()

    def invoke(self, event: Any, timeout_s: float | None = None) -> Any:
        """Run the handler on ``event`` and return its result, as Lambda's Invoke would."""
        timeout = float(timeout_s or self.spec.timeout)
        worker = self._acquire()
        try:
            worker.conn.send({"event": event, "timeout": timeout})
            if not worker.conn.poll(timeout):
                # Lambda ends a timed-out sandbox; so do we.
                worker.kill()
                self._release(None)
                worker = None  # type: ignore[assignment]
                raise InvocationTimeout("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
            answer = worker.conn.recv()
        except (EOFError, OSError) as error:
            if worker is not None:
                worker.kill()
                self._release(None)
            raise InvocationError("Runtime.ExitError", str(error)) from error
        self._release(worker)
        if not answer.get("ok"):
            raise InvocationError(str(answer.get("errorType", "Error")), str(answer.get("errorMessage", "")))
        return answer["result"]

    def prewarm(self) -> None:
        worker = self._acquire()
        self._release(worker)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.kill()
        deadline = time.monotonic() + 5
        while self._count > len(idle) and time.monotonic() < deadline:
            time.sleep(0.05)
