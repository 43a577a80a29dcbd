"""Counters and short-lived shared state in the GuardTable, as ports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    retry_after_s: int


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_s: int, now: datetime) -> RateDecision:
        """Count one hit in the fixed window containing ``now``; refused past ``limit``."""
        ...


@dataclass(frozen=True)
class CachedValue:
    value: dict[str, Any]
    fetched_at: datetime


class SharedCache(Protocol):
    """A value shared by every container, refreshed by at most one of them at a time."""

    def read(self, key: str) -> CachedValue | None: ...

    def claim_refresh(self, key: str, *, now: datetime, lease_s: int) -> bool:
        """True for exactly one caller per lease: that caller fetches and ``write``s."""
        ...

    def write(self, key: str, value: dict[str, Any], *, now: datetime, ttl_s: int) -> None: ...
