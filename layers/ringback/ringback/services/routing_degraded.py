"""Counting the routing answers that were degraded today, off the answer path.

The caller (a Webitel flow) is waiting for the answer within its 1000 ms budget, so nothing is
written synchronously: :meth:`DegradedTally.count` adds one in memory (per container) and hands
a flush to a one-thread executor of its own (never a routing worker); the flush is one
``UpdateItem ADD`` on the day's counter (``ports.DegradedCounter``). At most one flush is in
flight: counts that come meanwhile are flushed when it ends. A failed flush keeps its counts
and waits ``retry_after_s`` (the next degraded answer after that flushes them). Best effort:
counts still in memory when a container is frozen for good are lost, and the ``RoutingDegraded``
metric stays the exact figure; the console shows this count as "routing answers degraded today".

``services.routing`` calls :func:`note_degraded` (imported lazily, on the first degraded answer,
so the routing cold start imports nothing of this).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

from ringback.observability import logger


class DegradedCounter(Protocol):
    def add(self, day: str, count: int) -> None:
        """Add ``count`` to the day's counter (an atomic ``ADD``)."""
        ...


class DegradedTally:
    def __init__(
        self,
        counter: DegradedCounter,
        executor: Executor,
        *,
        today: Callable[[], str],
        monotonic: Callable[[], float],
        retry_after_s: float = 30.0,
    ) -> None:
        self._counter = counter
        self._executor = executor
        self._today = today
        self._monotonic = monotonic
        self._retry_after = retry_after_s
        self._pending: dict[str, int] = {}
        self._flushing = False
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def count(self) -> None:
        """One degraded answer; never raises, never waits for I/O."""
        try:
            day = self._today()
            with self._lock:
                self._pending[day] = self._pending.get(day, 0) + 1
                start = self._should_flush()
            if start:
                self._executor.submit(self._flush)
        except Exception as error:  # counting must never break an answer
            logger.warning("routing degraded tally failed", extra={"error_type": type(error).__name__})

    def pending(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pending)

    def _should_flush(self) -> bool:  # under the lock
        if self._flushing or not self._pending:
            return False
        if self._failed_at is not None and self._monotonic() - self._failed_at < self._retry_after:
            return False
        self._flushing = True
        return True

    def _flush(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, {}
            failed = False
            for day, count in sorted(batch.items()):
                try:
                    self._counter.add(day, count)
                except Exception as error:  # keep the counts for a later flush
                    failed = True
                    with self._lock:
                        self._pending[day] = self._pending.get(day, 0) + count
                    logger.warning(
                        "routing degraded count not flushed", extra={"error_type": type(error).__name__}
                    )
            with self._lock:
                self._failed_at = self._monotonic() if failed else None
                if failed or not self._pending:
                    self._flushing = False
                    return


_tally: DegradedTally | None = None
_unavailable = False
_tally_lock = threading.Lock()


def install(tally: DegradedTally | None) -> None:
    """Use ``tally`` in this container (tests; None: build the default one again when needed)."""
    global _tally, _unavailable
    with _tally_lock:
        _tally, _unavailable = tally, False


def note_degraded() -> None:
    """Count one degraded answer in this container's tally (built on first use)."""
    global _tally, _unavailable  # noqa: PLW0603 - one tally a container, created lazily
    with _tally_lock:
        if _tally is None and not _unavailable:
            try:
                from ringback.adapters.routing_degraded import default_tally  # the composition root

                _tally = default_tally()
            except Exception as error:  # not configured: the metric still counts it (said once)
                _unavailable = True
                logger.warning(
                    "routing degraded tally unavailable", extra={"error_type": type(error).__name__}
                )
        tally = _tally
    if tally is not None:
        tally.count()
