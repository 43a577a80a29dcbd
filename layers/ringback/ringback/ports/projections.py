"""Where projections live, and the callback requests events move forward, as ports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ringback.domain.events.projections import CallbackAdvance, ProjectionRecord, RegisterUpdate


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
    def open_requests_for_phone(self, e164: str, created_before_ms: int) -> list[str]:
        """Ids of the number's requests in an open status, created before the given time."""
        ...

    def status(self, callback_id: str) -> dict[str, Any] | None:
        """``{"status", "status_at", "status_reason"}`` of a request, or None if unknown."""
        ...
