"""A fault-injecting adapter: wraps ports and stops the use case right after any one write.

``CrashPoint(at=k)`` counts the writes made through every port it wraps (across threads) and
raises ``Crash`` (a BaseException: no ``except Exception`` in the code catches it) right after
the k-th one returns. From then on the process is dead: every call through a wrapped port
raises ``Crash`` at once, so nothing after the crash reaches storage or Webitel. With
``at=None`` it only counts (a clean run tells how many crash points a use case has)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from tests.unit.dialer_fakes import Crash

WRITES: dict[str, frozenset[str]] = {
    "repo": frozenset(
        {
            "reserve",
            "store",
            "release",
            "add_repeat",
            "delete_new",
            "cancel",
            "update",
            "advance_status",
            "reschedule",
            "erase",
            "sweep_slot_holds",
        }
    ),
    "outbox": frozenset(
        {
            "add",
            "add_many",
            "claim_due",
            "claim",
            "mark_delivered",
            "mark_rejected",
            "mark_expired",
            "release",
            "defer",
            "replace",
            "cancel",
            "requeue",
            "claim_stops",
            "stop_done",
            "stop_failed",
            "arm_stop",
            "stop_void",
        }
    ),
    "webitel": frozenset(
        {"create_members_bulk", "create_member", "stop_member", "delete_members", "create_call"}
    ),
    "erasures": frozenset({"open", "settle", "claim_due"}),
}


class CrashPoint:
    def __init__(self, at: int | None = None) -> None:
        self.at = at
        self.writes: list[str] = []
        self.dead = False
        self._lock = threading.Lock()

    def wrap(self, port: Any, kind: str) -> Any:
        return _Wrapped(port, WRITES[kind], self)

    def _call(self, name: str, write: bool, call: Callable[[], Any]) -> Any:
        if self.dead:
            raise Crash
        result = call()
        if write:
            with self._lock:
                if self.dead:
                    raise Crash
                self.writes.append(name)
                if self.at is not None and len(self.writes) >= self.at:
                    self.dead = True
                    raise Crash
        return result


class _Wrapped:
    def __init__(self, port: Any, writes: frozenset[str], point: CrashPoint) -> None:
        self._port, self._writes, self._point = port, writes, point

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._port, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._point._call(name, name in self._writes, lambda: attribute(*args, **kwargs))

        return call


def walk(run: Callable[[CrashPoint], object]) -> int:
    """How many writes a clean run makes (each is a crash point)."""
    point = CrashPoint()
    run(point)
    return len(point.writes)


def crashed(run: Callable[[CrashPoint], object], at: int) -> CrashPoint:
    """Run with a crash after write ``at``; whatever the use case returned never reached anyone."""
    point = CrashPoint(at)
    with contextlib.suppress(Crash):
        run(point)
    assert point.dead, f"no crash at write {at}: the run made {len(point.writes)} writes"
    return point
