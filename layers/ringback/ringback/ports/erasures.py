"""Erasure tombstones, as a port: what an erasure still has to delete in Webitel.

A tombstone is keyed by a keyed hash of the number (never the number itself) and lists its
targets: outbox entries (``entry:<entry_id>``, their members deleted by ringback's ``ringback_id``
tag) and requests (``request:<queue_id>:<callback_id>``, every member tagged with the request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Tombstone:
    key: str
    phone_masked: str
    targets: tuple[str, ...]
    local_done: bool
    requested_at: datetime
    due_at: datetime
    attempts: int = 0


class ErasureTombstones(Protocol):
    def open(self, key: str, *, phone_masked: str, targets: Sequence[str], now: datetime) -> Tombstone:
        """Create the tombstone, or add ``targets`` to an existing one (``local_done`` false again
        until the local part is done). Written before anything is deleted."""
        ...

    def get(self, key: str) -> Tombstone | None: ...

    def settle(
        self, key: str, *, pending: Sequence[str], local_done: bool, due_at: datetime, failed: bool
    ) -> None:
        """Keep only ``pending`` targets (``failed``: one more attempt counted); remove the
        tombstone when nothing is pending and the local part is done."""
        ...

    def claim_due(self, now: datetime, *, limit: int, lease_s: int) -> list[Tombstone]:
        """Tombstones due for a retry, each moved ``lease_s`` ahead (conditional write)."""
        ...
