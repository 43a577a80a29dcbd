"""What the operator console reads, as ports (DynamoDB adapters and in-memory fakes implement them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ringback.domain.receipts import Receipt


class ConsoleAggregates(Protocol):
    """The console's small aggregate items, read together (one BatchGetItem)."""

    def read(self, keys: Sequence[tuple[str, str]], day: str) -> tuple[list[dict[str, Any]], int | None]:
        """The ProjectionsTable items at ``keys`` (pk, sk; missing ones left out), and how many
        routing answers were degraded on ``day`` (None when it cannot be read)."""
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
