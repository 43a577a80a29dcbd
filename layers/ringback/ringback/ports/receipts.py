"""Where upload and import receipts are kept (the DynamoDB adapter lives beside the outbox's)."""

from __future__ import annotations

from typing import Protocol

from ringback.domain.receipts import Receipt


class ReceiptStore(Protocol):
    def save(self, receipt: Receipt) -> None: ...

    def get(self, run_id: str) -> Receipt | None: ...

    def recent(self, limit: int = 20) -> list[Receipt]:
        """The newest receipts first."""
        ...
