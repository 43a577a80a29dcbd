"""What the operator console reads, as ports (DynamoDB adapters and in-memory fakes implement them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ringback.domain.receipts import Receipt


@dataclass(frozen=True)
class ConsoleSnapshot:
    """What one batch read of the console's aggregates found."""

    items: list[dict[str, Any]]  # the ProjectionsTable items found (plain values)
    routing_degraded: int | None  # routing answers degraded that day (None: not readable)
    receipts: list[Receipt] = field(default_factory=list)  # the newest receipts first


class ConsoleAggregates(Protocol):
    """The console's aggregate items, read together by key (one BatchGetItem)."""

    def read(self, keys: Sequence[tuple[str, str]], day: str, receipts: int) -> ConsoleSnapshot:
        """The ProjectionsTable items at ``keys`` (pk, sk; missing ones left out), the day's
        count of degraded routing answers, and the newest ``receipts`` receipts."""
        ...

    def first_agents(self, pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
        """The items of ``pk`` whose sk starts ``<source>#<agent>#`` (the day's agent status
        changes, or the agents' registers; the page reads them only when their counters
        changed): sk -> item, of the first ``agents`` agents in agent order, at most
        ``max_items`` items read."""
        ...

    def board_rows(self, pk: str, max_rows: int) -> tuple[list[dict[str, Any]], bool]:
        """The board row items of one partition (``console_rows.board_row_pk``), each with its
        ``sk`` (the request's id), ``o`` and ``r``, at most ``max_rows``; and whether rows were
        left unread. Strongly consistent: read after the partition's counter, it holds at least
        what the counter counted."""
        ...


class OutboxStates(Protocol):
    def states(self, entry_ids: Sequence[str]) -> dict[str, str]:
        """entry id -> its outbox state now (ids not found are left out)."""
        ...


class QueueDepths(Protocol):
    def depths(self) -> dict[str, int | None]:
        """Dead-letter queue name -> messages waiting in it (None when it cannot be read)."""
        ...
