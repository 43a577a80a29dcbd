"""Load the operator configuration from SSM through Powertools Parameters (cached briefly)."""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools.utilities.parameters import SSMProvider

from ringback.adapters.aws import client
from ringback.domain.operator_config import OperatorConfig


@lru_cache(maxsize=1)
def _provider() -> SSMProvider:
    # A client of the default session: it shares botocore's loaded endpoint and retry data with
    # the function's other clients (a session of its own would load them again on a cold start).
    return SSMProvider(boto3_client=client("ssm", connect_timeout=1, read_timeout=2, max_attempts=2))


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
