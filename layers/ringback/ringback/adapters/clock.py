from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """The real clock (implements ``ports.clock.Clock``)."""

    def now(self) -> datetime:
        return datetime.now(UTC)
