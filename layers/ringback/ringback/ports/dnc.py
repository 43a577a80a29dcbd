"""The do-not-call list as a port: numbers (E.164) a debtor campaign must never dial."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class DoNotCallList(Protocol):
    def blocked(self, numbers: Iterable[str]) -> set[str]:
        """Those of ``numbers`` that are on the list."""
        ...

    def add(self, number: str, *, reason: str, source: str) -> None: ...

    def remove(self, number: str) -> None: ...
