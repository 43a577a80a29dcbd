"""What the operator console reads, as ports (DynamoDB adapters and in-memory fakes implement them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from ringback.domain.receipts import Receipt


class ConsoleRequests(Protocol):
    """Callback requests through the CallbacksTable's status index (never a scan)."""

    def by_status(
        self, statuses: Sequence[str], *, created_since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Requests in any of ``statuses`` (created at or after ``created_since`` if given), as
        plain dicts holding only ``domain.console.BOARD_ATTRIBUTES``."""
        ...


class OutboxStates(Protocol):
    def states(self, entry_ids: Sequence[str]) -> dict[str, str]:
        """entry id -> its outbox state now (ids not found are left out)."""
        ...


class RecentReceipts(Protocol):
    def recent(self, limit: int = 20) -> list[Receipt]:
        """The newest upload and import receipts first."""
        ...


class QueueDepths(Protocol):
    def depths(self) -> dict[str, int | None]:
        """Dead-letter queue name -> messages waiting in it (None when it cannot be read)."""
        ...
