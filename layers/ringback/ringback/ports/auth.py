from __future__ import annotations

from typing import Protocol


class TokenSource(Protocol):
    def tokens(self) -> list[str]:
        """Every token valid right now (several while one is being rotated)."""
        ...
