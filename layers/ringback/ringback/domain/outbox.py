"""The dialer outbox: every member ringback must deliver to a Webitel queue, with its state.

Storage convention (DialerOutboxTable): ``pk = "OUT#<entry_id>"``, ``sk = "ENTRY"``;
pending/claimed entries carry ``gsi1pk = "DUE#<queue_id>#<shard>"`` and ``gsi1sk = "<due_at ISO>#<entry_id>"``
so the uploader finds what is due; delivered/rejected/cancelled entries drop those keys.
Receipts of upload runs live in the same table (``pk = "RUN#<run_id>"``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ringback.domain.webitel import MemberItem

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
