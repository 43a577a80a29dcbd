"""The customer directory as ports: the routing lookup reads it, the CSV import replaces it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ringback.domain.customers import DirectoryEntry


class CustomerDirectory(Protocol):
    def find(self, e164: str) -> DirectoryEntry | None:
        """The entry of a number (E.164), or None when it belongs to no customer."""
        ...


class CustomerStore(Protocol):
    def fingerprints(self) -> dict[str, str]:
        """Every number in the directory (E.164) with the fingerprint of its entry."""
        ...

    def put(self, entries: Sequence[DirectoryEntry]) -> None:
        """Create or overwrite these entries (each write is atomic per number)."""
        ...

    def delete(self, stale: Mapping[str, str]) -> int:
        """Delete numbers whose entry still has the given fingerprint (an entry rewritten since
        is kept); returns how many were deleted."""
        ...
