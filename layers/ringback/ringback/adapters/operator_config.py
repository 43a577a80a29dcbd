"""Load the operator configuration from SSM through Powertools Parameters (cached briefly), and
optionally through a snapshot every container shares (``SharedOperatorConfig``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from ringback.adapters.aws import client
from ringback.domain.operator_config import OperatorConfig
from ringback.observability import logger
from ringback.ports.clock import Clock
from ringback.ports.rate_limits import SharedCache

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider


@lru_cache(maxsize=1)
def _provider() -> SSMProvider:
    # Imported here: Powertools Parameters imports boto3, which a container that reads the
    # shared snapshot (the page-view path) never needs.
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    # A client of the default session: it shares botocore's loaded endpoint and retry data with
    # the function's other clients (a session of its own would load them again on a cold start).
    return SSMProvider(boto3_client=client("ssm", connect_timeout=1, read_timeout=2, max_attempts=2))


class SsmOperatorConfig:
    """Implements ``ports.operator_config.OperatorConfigSource``."""

    def __init__(self, parameter_name: str, *, max_age_s: int = 60) -> None:
        self._name = parameter_name
        self._max_age_s = max_age_s

    @property
    def name(self) -> str:
        return self._name

    def load(self) -> OperatorConfig:
        raw = self._provider_get()
        return OperatorConfig.model_validate_json(raw)

    def _provider_get(self, *, force: bool = False) -> str:
        value = _provider().get(self._name, max_age=self._max_age_s, force_fetch=force)
        return value if isinstance(value, str) else str(value)

    def fetch_raw(self) -> str:
        """The parameter's text as SSM holds it now (no cached copy)."""
        return self._provider_get(force=True)


class SharedOperatorConfig:
    """Implements ``ports.operator_config.OperatorConfigSource`` through a snapshot every
    container shares: the GuardTable item ``CACHE#CONFIG#<parameter>`` (``SharedCache``).

    A new container reads that one DynamoDB item instead of creating an SSM client (the
    page-view path's cold start); a snapshot older than ``max_age_s`` is replaced from SSM by
    the container that finds it so. A configuration is never used longer than ``max_age_s``
    after it was read from SSM (the snapshot's ``fetched_at``), as with SSM alone. If the shared
    item cannot be read or written, SSM alone answers.
    """

    def __init__(self, ssm: SsmOperatorConfig, cache: SharedCache, clock: Clock, *, max_age_s: int) -> None:
        self._ssm = ssm
        self._cache = cache
        self._clock = clock
        self._max_age = timedelta(seconds=max_age_s)
        self._key = f"CONFIG#{ssm.name}"
        self._local: tuple[OperatorConfig, datetime] | None = None

    def valid_until(self) -> datetime | None:
        """When the configuration ``load`` last returned expires (its SSM read + the max age);
        None before the first load, or with a max age of 0 (every load reads SSM)."""
        if self._local is None or self._max_age <= timedelta(0):
            return None
        return self._local[1] + self._max_age

    def load(self) -> OperatorConfig:
        if self._max_age <= timedelta(0):
            return self._ssm.load()
        now = self._clock.now()
        if self._local is not None and now - self._local[1] < self._max_age:
            return self._local[0]
        try:
            snapshot = self._cache.read(self._key)
        except Exception as error:
            logger.warning("config snapshot read failed", extra={"error_type": type(error).__name__})
            snapshot = None
        raw = snapshot.value.get("raw") if snapshot is not None else None
        if snapshot is not None and isinstance(raw, str) and now - snapshot.fetched_at < self._max_age:
            config = OperatorConfig.model_validate_json(raw)
            self._local = (config, snapshot.fetched_at)
            return config
        raw = self._ssm.fetch_raw()
        config = OperatorConfig.model_validate_json(raw)  # only a valid configuration is shared
        try:
            ttl = int(self._max_age.total_seconds()) * 10 + 600
            self._cache.write(self._key, {"raw": raw}, now=now, ttl_s=ttl)
        except Exception as error:
            logger.warning("config snapshot write failed", extra={"error_type": type(error).__name__})
        self._local = (config, now)
        return config


def shared_source(parameter: str, max_age_s: int, cache: SharedCache) -> SharedOperatorConfig:
    """The operator configuration through the containers' shared snapshot: a cold container
    reads one GuardTable item instead of creating an SSM client (the page view, the IVR)."""
    from ringback.adapters.clock import SystemClock

    return SharedOperatorConfig(
        SsmOperatorConfig(parameter, max_age_s=max_age_s), cache, SystemClock(), max_age_s=max_age_s
    )
