"""``GET /v1/status`` from the answer every container shares: one GetItem, nothing else loaded.

The status answers every page view of the customer's website. The container that computes an
answer (``services.availability``, through ``status_factory``) publishes it, with how long it
holds (``domain.status_answer``), in the GuardTable item ``CACHE#STATUS_ANSWER#<config
parameter>`` of the shared-cache family (``adapters.shared_cache_dynamo``). A new container's
first request reads that item and, while it holds, answers it as it is: no operator
configuration, schedule, pydantic or Powertools loaded, no SSM, no Webitel. When the item is
missing, no longer valid or unreadable, the full path answers (and publishes a new one).

Each container keeps the last snapshot it read or published and answers from it while it
holds (no I/O at all). It reads the shared item only until it has run the full path once: from
then on its own caches (configuration, counts) are at least as fresh, as before snapshots.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from ringback.adapters.aws import client
from ringback.adapters.clock import SystemClock
from ringback.adapters.lean_settings import get_lean_settings
from ringback.adapters.shared_cache_dynamo import DynamoSharedCache
from ringback.domain.status_answer import StatusSnapshot
from ringback.ports.rate_limits import SharedCache

# The item outlives its validity by this much (DynamoDB's TTL deletes it; nobody serves it).
KEEP_S = 3600


def answer_key(config_parameter: str) -> str:
    """The shared-cache key (``CACHE#`` is the adapter's) of a configuration's status answer."""
    return f"STATUS_ANSWER#{config_parameter}"


def dynamodb() -> object:
    # Short timeouts: a visitor waits on every call.
    return client("dynamodb", connect_timeout=1.0, read_timeout=3.0, max_attempts=3)


@lru_cache(maxsize=1)
def shared_cache() -> DynamoSharedCache:
    return DynamoSharedCache(get_lean_settings().guard_table, dynamodb())


class Held:
    """This container's last snapshot, and whether it still reads the shared one."""

    def __init__(self) -> None:
        self.snapshot: StatusSnapshot | None = None
        self.read_shared = True


@lru_cache(maxsize=1)
def held() -> Held:
    return Held()


class SharedStatusAnswers:
    """Implements ``ports.status_answers.StatusAnswers``: the shared item and this container's copy."""

    def __init__(self, cache: SharedCache, key: str, copy: Held) -> None:
        self._cache = cache
        self._key = key
        self._copy = copy

    def publish(self, snapshot: StatusSnapshot, *, now: datetime) -> None:
        self._copy.snapshot = snapshot  # first: this container serves it even if the write fails
        left = max(0, int((snapshot.serve_until - now).total_seconds()))
        self._cache.write(self._key, snapshot.to_value(), now=now, ttl_s=left + KEEP_S)


@lru_cache(maxsize=1)
def answers() -> SharedStatusAnswers:
    return SharedStatusAnswers(shared_cache(), answer_key(get_lean_settings().config_parameter), held())


def serve(now: datetime | None = None) -> tuple[dict[str, Any], int] | None:
    """The status answer and its max-age from a snapshot that holds at ``now``, or None: the
    full path must answer."""
    copy = held()
    moment = now or SystemClock().now()
    if copy.snapshot is not None:
        served = copy.snapshot.served(moment)
        if served is not None:
            return served
    if not copy.read_shared:
        return None
    try:
        cached = shared_cache().read(answer_key(get_lean_settings().config_parameter))
    except Exception as error:
        # The full path answers (and meets the same failure, with its 503 or degraded answer);
        # this container stops reading the snapshot, so an outage costs it one extra call.
        copy.read_shared = False
        from ringback.observability import logger

        logger.warning("status answer read failed", extra={"error_type": type(error).__name__})
        return None
    snapshot = StatusSnapshot.from_value(cached.value) if cached is not None else None
    if snapshot is None:
        return None
    copy.snapshot = snapshot
    return snapshot.served(moment)


def stop_reading() -> None:
    """This container runs the full path: its own caches serve it from now on."""
    held().read_shared = False
