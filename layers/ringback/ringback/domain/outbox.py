"""The dialer outbox: every member ringback must deliver to a Webitel queue, with its state.

Storage convention (DialerOutboxTable): ``pk = "OUT#<entry_id>"``, ``sk = "ENTRY"``;
pending/claimed entries carry ``gsi1pk = "DUE#<queue_id>#<shard>"`` and ``gsi1sk = "<due_at ISO>#<entry_id>"``
so the uploader finds what is due; delivered/rejected/cancelled entries drop those keys.
Receipts of upload runs live in the same table (``pk = "RUN#<run_id>"``).

A member that may already be in Webitel when its entry is cancelled (delivered, on the wire, or
sent with an unknown outcome) gets a **stop order** on the entry itself: ``member_stop =
"pending"`` with ``gsi1pk = "STOP#<queue_id>"``, ``gsi1sk = "<stop due ISO>#<entry_id>"``, which
the dialer schedule works through until Webitel confirms (``services.member_stops``). An erased
entry (``erased``) has its member scrubbed of the number and its stop order deletes the member
instead of stopping it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ringback.domain.webitel import MemberCommunication, MemberItem

# The Webitel member variable that tags every member ringback creates; an upload whose outcome
# is unknown is reconciled by searching the queue for it before sending again.
ID_TAG = "ringback_id"
CALLBACK_TAG = "ringback_callback_id"


class OutboxState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OutboxEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    entry_id: str = Field(min_length=8, max_length=64)
    source: Literal["callback", "campaign"]
    source_id: str
    queue_id: str
    member: MemberItem
    due_at: datetime
    expires_at: datetime | None = None
    state: OutboxState = OutboxState.PENDING
    webitel_member_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    claim_owner: str | None = None
    claim_until: datetime | None = None
    file_name: str = ""
    # True when a send may have reached Webitel without an answer (a timeout or 5xx after
    # sending, or a claim taken over after its lease expired): reconcile before sending again.
    outcome_unknown: bool = False
    # Where the entry came from in its file (campaign CSV line), for receipts.
    line: int | None = None
    # The stop order (see the module docstring): "pending" until Webitel confirms, then "done".
    member_stop: Literal["pending", "done"] | None = None
    stop_due_at: datetime | None = None
    stop_attempts: int = 0
    # The number was erased: the member holds no number any more; its stop order deletes it.
    erased: bool = False

    @property
    def may_be_in_webitel(self) -> bool:
        """Whether a member of this entry may exist in Webitel (so cancelling needs a stop)."""
        return (
            self.state in (OutboxState.DELIVERED, OutboxState.CLAIMED)
            or self.outcome_unknown
            or self.webitel_member_id is not None
        )


ERASED = "erased"


def callback_entry_id(callback_id: str, generation: int = 0) -> str:
    """The outbox entry of a callback request; each reschedule writes the next generation."""
    return f"cb_{callback_id}" if generation == 0 else f"cb_{callback_id}_r{generation}"


def callback_generation(entry_id: str) -> int:
    """The generation of a callback entry id (``cb_<id>`` is 0, ``cb_<id>_r<n>`` is n)."""
    head, sep, tail = entry_id.rpartition("_r")
    return int(tail) if sep and head.startswith("cb_") and tail.isdigit() else 0


def callback_entry_ids(callback_id: str, reschedule_count: int) -> tuple[str, ...]:
    """Every outbox entry a callback request has had (one per generation)."""
    return tuple(callback_entry_id(callback_id, g) for g in range(max(0, reschedule_count) + 1))


def scrubbed(member: MemberItem) -> MemberItem:
    """The member without anything personal: only ringback's tags stay (to find it in Webitel)."""
    tags = {key: value for key, value in member.variables.items() if key in (ID_TAG, CALLBACK_TAG)}
    kind = member.communications[0].type
    return MemberItem(
        name=ERASED,
        priority=member.priority,
        variables=tags,
        communications=[MemberCommunication(destination=ERASED, type=kind)],
    )


def cancelled(
    entry: OutboxEntry, *, reason: str, now: datetime, owner: str | None = None, erase: bool = False
) -> OutboxEntry | None:
    """The entry after a cancel, or None when nothing changes (the rule both outbox adapters use).

    A pending entry is simply cancelled. One whose member may already be in Webitel (delivered,
    claimed by another holder who may be sending it, or sent with an unknown outcome) also gets a
    stop order, due at once; ``owner`` is a claim holder that knows it has not sent the entry.
    ``erase`` scrubs the number from the member, also from an entry cancelled earlier, and turns
    the stop order into a delete."""
    changes: dict[str, object] = {}
    if entry.state not in (OutboxState.CANCELLED, OutboxState.EXPIRED):
        held_unsent = (
            entry.state == OutboxState.CLAIMED
            and owner is not None
            and entry.claim_owner == owner
            and not entry.outcome_unknown
        )
        changes.update(state=OutboxState.CANCELLED, last_error=reason, claim_owner=None, claim_until=None)
        if entry.may_be_in_webitel and not held_unsent and entry.member_stop is None:
            # While another holder's lease runs, its send may still commit: a search for the
            # member before the lease ends could miss it (its ``mark_delivered`` re-arms too).
            due = now
            if entry.state == OutboxState.CLAIMED and entry.claim_until is not None:
                due = max(now, entry.claim_until)
            changes.update(member_stop="pending", stop_due_at=due)
    if erase and not entry.erased:
        changes.update(member=scrubbed(entry.member), erased=True)
        if entry.may_be_in_webitel and changes.get("member_stop", entry.member_stop) != "pending":
            # Stopped earlier (or never), but an erasure deletes the member: it holds the number.
            changes.update(member_stop="pending", stop_due_at=now)
    if not changes:
        return None
    return entry.model_copy(update=changes)


def stop_backoff(attempts: int, *, base_s: int = 30, max_s: int = 1800) -> timedelta:
    """When to try a failed stop again: base * 2^(attempts-1), capped."""
    exponent = max(0, min(attempts - 1, 20))
    return timedelta(seconds=min(max_s, base_s * 2**exponent))
