"""Where projections live, and the callback requests events move forward, as ports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ringback.domain.events.console_rows import BoardWrite, CountedRecord, CountedRegister, RowWrite
from ringback.domain.events.projections import (
    CallbackAdvance,
    ClosingRequest,
    ProjectionRecord,
    RegisterUpdate,
)


class Projections(Protocol):
    def put_records(self, records: Sequence[ProjectionRecord]) -> None:
        """Idempotent puts (the same key always carries the same data)."""
        ...

    def update_register(self, update: RegisterUpdate) -> bool:
        """Write ``update`` only if its ``order`` is greater than the stored one; True if written."""
        ...

    def records(self, pk: str) -> list[dict[str, Any]]:
        """Every record under ``pk``, each with its ``pk`` and ``sk``."""
        ...

    def update_register_counted(self, counted: CountedRegister) -> bool:
        """``update_register``, with one more on ``counted.counter``'s version in the same
        transaction when it writes; True if written."""
        ...

    def put_counted(self, counted: CountedRecord) -> bool:
        """Put the membership record if absent and, atomically with it, add one to its counter;
        True if it was new (a repeat changes nothing)."""
        ...

    def write_board(self, write: BoardWrite) -> bool:
        """One open request's board row by ``console_rows.merge_board`` (its guard checked in
        the same transaction), with one more on ``write.counter``'s version when it changes the
        row; True if it did (a repeat changes nothing)."""
        ...

    def write_row(self, write: RowWrite) -> bool:
        """One row item by ``console_rows.merge_row``, with ``count_delta`` of its old and new
        value added to ``write.counter`` atomically (one transaction conditional on the row being
        unchanged since read); True if the row changed (a repeat changes nothing)."""
        ...

    def clear(self) -> int:
        """Delete every projection record (before a clean rebuild); returns how many."""
        ...


class CallbackStatusSink(Protocol):
    """What moves a callback request forward: the event fan-out and the dialer uploader
    (delivered -> queued, rejected -> failed, expired -> expired) share this one path."""

    def advance(self, advance: CallbackAdvance) -> bool:
        """Move the request forward if ``may_advance`` allows it (conditional write); True if moved.

        Idempotent: a repeat changes nothing. A terminal status releases the number's
        open-request pointer (``pending_callback`` in routing) while it names this request."""
        ...


class CallbackStatusStore(CallbackStatusSink, Protocol):
    def requests_to_close(self, e164: str, created_before_ms: int, event_id: str) -> list[ClosingRequest]:
        """The number's requests an inbound call closes: those in an open status created before
        the given time, and those this same event closed already (so an application of the event
        that died half-way is finished when the stream applies it again)."""
        ...

    def status(self, callback_id: str) -> dict[str, Any] | None:
        """``{"status", "status_at", "status_reason"}`` of a request, or None if unknown."""
        ...


@dataclass(frozen=True)
class CallbackState:
    """A stored request as the dialer re-checks it: open or closed (terminal status), and the
    outbox entry it currently points at (a reschedule moves it to the next generation)."""

    state: Literal["open", "closed"]
    entry_id: str | None  # None: the request does not say (then any entry of it is current)


class CallbackStates(Protocol):
    """What the dialer re-checks before it sends a callback request's member."""

    def open_states(self, callback_ids: Sequence[str]) -> dict[str, CallbackState]:
        """Per stored request; an id that is not stored (erased, or its submit never wrote it)
        is left out. One strongly consistent batch read."""
        ...
