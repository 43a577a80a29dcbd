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

    def claim_due(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        """Claim up to ``limit`` due entries (pending, or claimed with an expired lease) with a
        conditional write each, so two overlapping runs never hold the same entry.

        An entry taken over from an expired lease comes back with ``outcome_unknown=True``: its
        previous holder may have sent it before dying."""
        ...

    def claim(
        self, entry_ids: Sequence[str], now: datetime, *, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        """Claim these entries if they are pending (due or not) or their lease expired (used to
        push a ``now`` callback at once). Entries taken over from an expired lease come back
        with ``outcome_unknown=True``, as from ``claim_due``."""
        ...

    def mark_delivered(self, entry_id: str, webitel_member_id: str, *, owner: str) -> OutboxState | None:
        """Record the Webitel member id. Returns the state the entry was in: claimed/pending
        (now delivered), CANCELLED (cancelled meanwhile: it stays cancelled and its stop order is
        armed again with the member id, due now; the caller may try the stop at once), DELIVERED (already delivered: a duplicate exists), None (no such entry)."""
        ...

    def mark_rejected(self, entry_id: str, reason: str, *, owner: str) -> None: ...

    def mark_expired(self, entry_id: str, *, owner: str) -> None:
        """A claimed entry whose ``expires_at`` passed before it reached Webitel."""
        ...

    def release(
        self, entry_id: str, *, owner: str, error: str, retry_at: datetime, outcome_unknown: bool = False
    ) -> None:
        """Give a claimed entry back (outage): pending again, due at ``retry_at``.

        ``outcome_unknown`` marks that a send may have reached Webitel: the next claimant
        reconciles (searches the tag) before sending again. It is never cleared by a release.
        """
        ...

    def defer(self, entry_id: str, *, owner: str, until: datetime, reason: str) -> None:
        """Give a claimed entry back until ``until`` without counting a failed attempt (outside
        the member's calling window); its waiting time starts again at ``until``."""
        ...

    def add_many(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        """``add`` for many entries (ids unique within the call); one flag per entry."""
        ...

    def replace(self, entry: OutboxEntry, *, expected: OutboxState) -> bool:
        """Overwrite the stored entry if its state is still ``expected`` (merge a duplicate into
        a pending entry, or fix a rejected one); False when it is not."""
        ...

    def oldest_due(self, queue_id: str, now: datetime) -> datetime | None:
        """Since when the longest-waiting deliverable entry of the queue has waited (for the
        pending-age alarm): the time it became due, NOT moved by outage retries (so an outage
        shows as a growing age) but moved by calling-window deferrals and re-drives. None when
        nothing is waiting."""
        ...

    def cancel(
        self, entry_id: str, *, reason: str = "cancelled", owner: str | None = None, erase: bool = False
    ) -> OutboxEntry | None:
        """Cancel an entry by ``domain.outbox.cancelled`` (a conditional write on the state read,
        retried when it moved); returns it as it was. One whose member may be in Webitel gets a
        stop order the dialer schedule carries out; ``owner``: a claim holder that has not sent
        it; ``erase``: scrub the number (also from an entry cancelled earlier)."""
        ...

    def claim_stops(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        """Take up to ``limit`` due stop orders of the queue: each one's ``stop_due_at`` moves
        ``lease_s`` ahead with a conditional write, so two runs never work on the same one and a
        run that dies leaves it due again when the lease ends."""
        ...

    def arm_stop(self, entry_id: str, *, due: datetime) -> bool:
        """A *tentative* stop order on a delivered entry, before its request is cancelled: due at
        ``due``, carried out only if the request is closed by then, void if it is still open
        (``stop_void``). False when the entry is not delivered (or has an order already)."""
        ...

    def stop_void(self, entry: OutboxEntry) -> None:
        """Drop a tentative order whose request stayed open (the cancel never happened)."""
        ...

    def stop_done(self, entry: OutboxEntry) -> None:
        """Webitel confirmed the stop (or delete) of the order as read in ``entry``: settled for
        good, unless it was armed again meanwhile (a send that committed late)."""
        ...

    def stop_failed(self, entry: OutboxEntry, *, error: str, retry_at: datetime) -> None:
        """Webitel could not be reached: the order is due again at ``retry_at``."""
        ...

    def requeue(self, entry_ids: Sequence[str], now: datetime) -> int:
        """Re-drive rejected entries (after a fix): pending again, due now."""
        ...
