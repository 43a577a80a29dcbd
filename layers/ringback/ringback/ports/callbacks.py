"""Storage of website callback requests (CallbacksTable), as a port.

Key convention (``domain/callback_status.py``): ``CB#<id>`` / ``REQUEST`` with
``gsi1pk = PHONE#<e164>``; beside it in the same partition ``CONSENT`` and
``REPEAT#<created>#<id>`` items; ``OPEN#<e164>`` / ``LOCK`` names the number's open request;
``SLOTS#<operator day>`` / ``SLOT#<UTC start>`` counts bookings per slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from ringback.domain.abuse import Guard, GuardItem
from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import CallbackRecord, RepeatRecord
from ringback.domain.consent import ConsentEvidence


@dataclass(frozen=True)
class SlotBooking:
    day: str  # operator-local date, ISO
    key: str  # UTC start, ``schedule.slot_key``
    capacity: int
    expires_at: int  # epoch s; counters outlive their day a little


@dataclass(frozen=True)
class Reservation:
    """What ``reserve`` took, so that it can be given back exactly: the folded counter items
    (with whether this submit added its member to a distinct set), the lock and the slot."""

    counters: tuple[tuple[GuardItem, bool], ...] = ()
    lock: bool = False
    slot: SlotBooking | None = None


class WriteRefused(Exception):
    """A conditional write did not happen; ``reason`` says which condition stopped it."""

    def __init__(
        self,
        reason: Literal["exists", "phone_open", "guard", "slot_full", "changed"],
        *,
        guard: Guard | None = None,
        open_id: str | None = None,
        kept: Reservation | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.guard = guard
        self.open_id = open_id
        self.kept = kept or Reservation()  # what stays taken (``phone_open``: the counters)


class CallbackRepository(Protocol):
    def reserve(
        self,
        record: CallbackRecord,
        *,
        lock_until: datetime,
        guards: Sequence[Guard],
        slot: SlotBooking | None,
        now: datetime,
        replace_lock_of: str | None = None,
    ) -> Reservation:
        """Take what a new request needs in ONE round of concurrent conditional writes: one
        update per folded guard item (``fold_guards``: every window of a subject at once), the
        number's open-request lock, *pending* until ``store`` commits it (refused with
        ``phone_open`` while another fresh request holds it, unless it is ``replace_lock_of``;
        a pending lock whose ``pending_until`` passed is free) and the slot, whose item records
        the request as a holder (so a place a dead submit took can be given back exactly).

        Refusals, in this order: ``guard`` (every counter, the lock and the slot taken are given
        back: a refused submit consumes nothing), ``slot_full`` (likewise), ``phone_open`` (the
        slot is given back; the counters stay taken, a repeat is an accepted request)."""
        ...

    def store(
        self, record: CallbackRecord, consent: ConsentEvidence | None, *, lock_until: datetime | None = None
    ) -> None:
        """Write the request and its consent evidence (one round trip; both are new items under
        a fresh 128-bit id, so writing them again is harmless). With ``lock_until`` the same
        round commits the number's lock ``reserve`` took as pending: until then it is void once
        its short ``pending_until`` passes, so a submit that dies leaves no lock behind."""
        ...

    def sweep_slot_holds(self, days: Sequence[str], *, older_than: datetime) -> int:
        """Give back slot places held by requests that never were stored, were cancelled, or
        moved to another slot, by a submit (or cancel, reschedule) that died half-way; only holds
        taken before ``older_than``. The number of places given back."""
        ...

    def release(self, record: CallbackRecord, reservation: Reservation) -> None:
        """Give back a reservation whose request was not kept (counters, lock and slot)."""
        ...

    def add_repeat(
        self, primary: CallbackRecord, repeat: RepeatRecord, *, priority: int, now: datetime
    ) -> CallbackRecord:
        """Link a repeat to its open primary (repeat_count + 1, priority raised); ``changed``
        when the primary is no longer in the status it was read in."""
        ...

    def get(self, callback_id: str) -> CallbackRecord | None: ...

    def delete_new(self, record: CallbackRecord, reservation: Reservation) -> None:
        """Undo a stored request whose outbox entry could not be written (request, consent,
        and everything its reservation took)."""
        ...

    def cancel(self, record: CallbackRecord, *, now: datetime, slot: SlotBooking | None) -> CallbackRecord:
        """Mark an open request cancelled (and free its slot and lock). ``changed`` when it is no
        longer open (the caller re-reads)."""
        ...

    def update(self, callback_id: str, **fields: object) -> None:
        """Set plain attributes (``call_id``, ``webitel_stop_pending``...)."""
        ...

    def advance_status(self, callback_id: str, status: CallbackStatus, at_ms: int) -> bool:
        """Move ``status`` forward (``may_advance``); False when it may not."""
        ...

    def reschedule(
        self,
        before: CallbackRecord,
        after: CallbackRecord,
        *,
        old_slot: SlotBooking | None,
        new_slot: SlotBooking,
        lock_until: datetime,
    ) -> None:
        """Replace the request's timing atomically with the slot move; ``changed``/``slot_full``."""
        ...

    def slot_counts(self, days: Sequence[str]) -> dict[str, int]:
        """Bookings per ``slot_key`` on the given operator-local days."""
        ...

    def ids_for_phone(self, e164: str) -> list[str]:
        """Every request id held for a number (requests and consent evidence)."""
        ...

    def erase(self, callback_ids: Sequence[str], e164: str) -> int:
        """Delete every item of these requests and the number's lock; the count deleted."""
        ...
