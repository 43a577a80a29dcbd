"""The append-only event log as a port (DynamoDB adapter and an in-memory fake implement it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from ringback.domain.events.envelope import LoggedEvent
from ringback.domain.events.projections import ProjectionRecord


class EventLog(Protocol):
    def append(self, event: LoggedEvent, records: Sequence[ProjectionRecord] = ()) -> bool:
        """Log ``event`` once, together with its idempotent projection ``records`` (atomically).

        Returns False, and changes nothing, when an event with the same ``event_id`` is logged.
        """
        ...

    def get(self, event_id: str) -> LoggedEvent | None: ...

    def scan(self) -> Iterator[LoggedEvent]:
        """Every logged event (not yet expired), in no particular order."""
        ...
