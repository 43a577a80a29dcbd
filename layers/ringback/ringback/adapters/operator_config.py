"""Load the operator configuration from SSM through Powertools Parameters (cached briefly)."""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.config import Config

from ringback.domain.operator_config import OperatorConfig


@lru_cache(maxsize=1)
def _provider() -> SSMProvider:
    return SSMProvider(
        boto_config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
    )


class SsmOperatorConfig:
    """Implements ``ports.operator_config.OperatorConfigSource``."""

    def __init__(self, parameter_name: str, *, max_age_s: int = 60) -> None:
        self._name = parameter_name
        self._max_age_s = max_age_s

    def load(self) -> OperatorConfig:
        raw = self._provider_get()
        return OperatorConfig.model_validate_json(raw)

    def _provider_get(self) -> str:
        value = _provider().get(self._name, max_age=self._max_age_s)
        return value if isinstance(value, str) else str(value)
