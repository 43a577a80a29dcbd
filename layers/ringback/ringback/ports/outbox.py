"""The dialer outbox as a port (the DynamoDB adapter and an in-memory fake implement it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ringback.domain.outbox import OutboxEntry, OutboxState


class DialerOutbox(Protocol):
    def add(self, entry: OutboxEntry) -> bool:
        """Store a new entry; False (and no change) when one with its id exists."""
        ...

    def get(self, entry_id: str) -> OutboxEntry | None: ...

    def claim_due(self, queue_id: str, now: datetime, *, limit: int, lease_s: int,
                  owner: str) -> list[OutboxEntry]:
        """Claim up to ``limit`` due entries (pending, or claimed with an expired lease) with a
        conditional write each, so two overlapping runs never hold the same entry."""
        ...

    def mark_delivered(self, entry_id: str, webitel_member_id: str, *, owner: str) -> None: ...

    def mark_rejected(self, entry_id: str, reason: str, *, owner: str) -> None: ...

    def mark_expired(self, entry_id: str, *, owner: str) -> None:
        """A claimed entry whose ``expires_at`` passed before it reached Webitel."""
        ...

    def release(self, entry_id: str, *, owner: str, error: str, retry_at: datetime,
                outcome_unknown: bool = False) -> None:
        """Give a claimed entry back (outage): pending again, due at ``retry_at``.

        ``outcome_unknown`` marks that a send may have reached Webitel: the next claimant
        reconciles (searches the tag) before sending again. It is never cleared by a release.
        """
        ...

    def add_many(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        """``add`` for many entries (ids unique within the call); one flag per entry."""
        ...

    def replace(self, entry: OutboxEntry, *, expected: OutboxState) -> bool:
        """Overwrite the stored entry if its state is still ``expected`` (merge a duplicate into
        a pending entry, or fix a rejected one); False when it is not."""
        ...

    def oldest_due(self, queue_id: str, now: datetime) -> datetime | None:
        """``due_at`` of the oldest entry of the queue waiting to be delivered (for the age
        metric), or None when nothing is due."""
        ...

    def cancel(self, entry_id: str) -> OutboxEntry | None:
        """Cancel an entry; returns it as it was (delivered ones need a Webitel stop)."""
        ...

    def requeue(self, entry_ids: Sequence[str], now: datetime) -> int:
        """Re-drive rejected entries (after a fix): pending again, due now."""
        ...
