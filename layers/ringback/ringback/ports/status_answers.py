"""Where the computed ``GET /v1/status`` answers go for every container to serve."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ringback.domain.status_answer import StatusSnapshot


class StatusAnswers(Protocol):
    def publish(self, snapshot: StatusSnapshot, *, now: datetime) -> None:
        """Share ``snapshot`` (computed at ``now``) until its ``serve_until``."""
        ...
