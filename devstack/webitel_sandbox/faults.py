"""Fault knobs: make the sandbox slow, failing, silent or gone, without a restart.

Set them from Python (``sandbox.faults.latency_ms = 800``) or over HTTP
(``POST /_sandbox/faults {"latency_ms": 800}``). Counters are consumed one request at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ALWAYS = "always"

FailCount = int | Literal["always"]


@dataclass
class Faults:
    # Added before every engine API request is processed.
    latency_ms: int = 0
    # The next N engine API requests (or all, with "always") answer ``fail_status`` with an
    # error body, before anything is committed.
    fail_5xx: FailCount = 0
    fail_status: int = 503
    # The next N mutating requests are committed, then answered with silence: the connection
    # is held for ``hang_ms`` (or until stop/reset) and closed without a response.
    timeout_after_commit: int = 0
    hang_ms: int = 30_000
    # Every engine API connection is closed without an answer (the control endpoints and the
    # page keep working so the knob can be turned back).
    down: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take_failure(self) -> int | None:
        """The status to fail this request with, consuming one count; None to proceed."""
        with self._lock:
            if self.fail_5xx == ALWAYS:
                return self.fail_status
            if isinstance(self.fail_5xx, int) and self.fail_5xx > 0:
                self.fail_5xx -= 1
                return self.fail_status
            return None

    def take_timeout_after_commit(self) -> bool:
        with self._lock:
            if self.timeout_after_commit > 0:
                self.timeout_after_commit -= 1
                return True
            return False

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply knob changes atomically; ValueError names the first bad knob, nothing applied."""
        checked = {name: _check(name, value) for name, value in changes.items()}
        with self._lock:
            for name, value in checked.items():
                setattr(self, name, value)

    def reset(self) -> None:
        self.update(_DEFAULTS)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {name: getattr(self, name) for name in _DEFAULTS}


_DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "fail_5xx": 0,
    "fail_status": 503,
    "timeout_after_commit": 0,
    "hang_ms": 30_000,
    "down": False,
}


def _check(name: str, value: Any) -> Any:
    if name not in _DEFAULTS:
        raise ValueError(f"unknown fault knob {name!r}; known: {', '.join(_DEFAULTS)}")
    if name == "down":
        if not isinstance(value, bool):
            raise ValueError("down must be true or false")
        return value
    if name == "fail_5xx" and value == ALWAYS:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    if name == "fail_status" and not 500 <= value <= 599:
        raise ValueError("fail_status must be a 5xx status")
    return value
