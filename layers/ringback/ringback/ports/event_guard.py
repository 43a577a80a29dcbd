"""Abuse protection of the public widget-events endpoint, as a port."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_s: int, now: datetime) -> RateDecision:
        """Count one hit on ``key`` in the fixed window containing ``now``."""
        ...
