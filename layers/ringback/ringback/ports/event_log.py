"""The append-only event log as a port (DynamoDB adapter and an in-memory fake implement it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ringback.domain.events.envelope import LoggedEvent


class EventLog(Protocol):
    def append(self, event: LoggedEvent) -> bool:
        """Log ``event`` once (a conditional write on its ``event_id``).

        Returns False, and changes nothing, when an event with the same ``event_id`` is logged.
        """
        ...

    def get(self, event_id: str) -> LoggedEvent | None: ...

    def scan(self) -> Iterator[LoggedEvent]:
        """Every logged event (not yet expired), in no particular order."""
        ...
