from __future__ import annotations

from typing import Protocol

from ringback.domain.operator_config import OperatorConfig


class OperatorConfigSource(Protocol):
    def load(self) -> OperatorConfig:
        """The current operator configuration, validated."""
        ...
