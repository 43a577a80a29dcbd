"""Builds the IVR callback routes' service and token gate once per container, on first use.

Lean on purpose (the caller is on the line): the callbacks use cases' ports without the web
form's machinery (CAPTCHA, Powertools Idempotency, self-service keys).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from ringback.adapters.aws import client
from ringback.adapters.callback_pointer import lock_key
from ringback.adapters.clock import SystemClock
from ringback.adapters.lean_settings import get_lean_settings
from ringback.adapters.operator_config import SharedOperatorConfig, shared_source
from ringback.adapters.routing_dynamo import routing_client
from ringback.adapters.routing_tokens import SecretsManagerTokens
from ringback.adapters.shared_cache_dynamo import DynamoSharedCache
from ringback.domain.ivr import SNAPSHOT_KEY, OfferSnapshot, snapshot_from_json
from ringback.domain.selfservice import KeyRing
from ringback.ports.captcha import CaptchaVerifier
from ringback.ports.webitel import WebitelClient
from ringback.services.callbacks.core import CallbackCore
from ringback.services.callbacks.ivr import IvrCallbacks
from ringback.services.routing import TokenGate


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    # Timeouts of the budget, one retry: the request's deadline answers anyway.
    budget_s = get_lean_settings().ivr_budget_ms / 1000
    return client("dynamodb", connect_timeout=budget_s, read_timeout=budget_s, max_attempts=2)


@lru_cache(maxsize=1)
def shared_cache() -> DynamoSharedCache:
    return DynamoSharedCache(get_lean_settings().guard_table, dynamodb())


@lru_cache(maxsize=1)
def config_source() -> SharedOperatorConfig:
    """The operator configuration through the containers' shared snapshot."""
    settings = get_lean_settings()
    return shared_source(settings.config_parameter, settings.operator_config_max_age_s, shared_cache())


@lru_cache(maxsize=1)
def webitel() -> WebitelClient:
    from ringback.adapters.webitel_http import client_with_secret_token

    settings = get_lean_settings()
    return client_with_secret_token(
        settings.webitel_base_url, settings.webitel_token_secret, settings.secrets_max_age_s
    )


def _no_keys() -> KeyRing:
    raise RuntimeError("the IVR routes give no self-service links")


def _no_captcha() -> CaptchaVerifier:
    raise RuntimeError("the IVR routes ask no CAPTCHA")


@lru_cache(maxsize=1)
def _bound_deliver_now() -> Any:
    from functools import partial

    from ringback.adapters.projections_dynamo import DynamoCallbackStatus
    from ringback.services.dialer_upload import deliver_now

    return partial(
        deliver_now,
        callback_status=DynamoCallbackStatus(get_lean_settings().callbacks_table, client=dynamodb()),
    )


def _deliver_now() -> Any:
    # Bound on the first push, which runs after the answer: the uploader, the event log and
    # projection models behind it (tens of ms) are no part of the caller's wait.
    def deliver(*args: Any, **kwargs: Any) -> Any:
        return _bound_deliver_now()(*args, **kwargs)

    return deliver


# The snapshot changes once a minute: a container keeps what it read this long, so a warm
# accept costs its two write rounds only (bench/ivr.py counts them).
SNAPSHOT_LOCAL_S = 15.0


@lru_cache(maxsize=1)
def _local_snapshot() -> dict[str, Any]:
    return {}


def snapshot() -> OfferSnapshot | None:
    import time

    local = _local_snapshot()
    if "value" in local and time.monotonic() - local["read_at"] < SNAPSHOT_LOCAL_S:
        kept: OfferSnapshot | None = local["value"]
        return kept
    cached = shared_cache().read(SNAPSHOT_KEY)
    value = (
        snapshot_from_json(cached.value, int(cached.fetched_at.timestamp() * 1000))
        if cached is not None
        else None
    )
    local.update(value=value, read_at=time.monotonic())
    return value


def open_request_id(e164: str) -> str | None:
    """The number's open request from its pointer (as the routing lookup reads it)."""
    import time

    item = dynamodb().get_item(TableName=get_lean_settings().callbacks_table, Key=lock_key(e164)).get("Item")
    if not item:
        return None
    callback_id = item.get("callback_id", {}).get("S")
    until = item.get("lock_until", {}).get("N")
    if not callback_id or until is None or float(until) <= time.time():
        return None
    pending = item.get("pending_until", {}).get("N")
    if pending is not None and float(pending) <= time.time():
        return None
    return str(callback_id)


@lru_cache(maxsize=1)
def service() -> IvrCallbacks:
    from ringback.adapters.callbacks_dynamo import CallbacksTable
    from ringback.adapters.outbox_dynamo import DynamoDialerOutbox

    settings = get_lean_settings()
    core = CallbackCore(
        repo=CallbacksTable(settings.callbacks_table, settings.guard_table, dynamodb()),
        outbox=DynamoDialerOutbox(settings.outbox_table, dynamodb=dynamodb()),
        config=config_source(),
        clock=SystemClock(),
        keys=_no_keys,
        captcha=_no_captcha,
        webitel=webitel,
        deliver=_deliver_now(),
        default_region=settings.default_region,
        owner=f"ivr-{os.getpid()}",
    )
    return IvrCallbacks(core, snapshot=snapshot, open_id=open_request_id, budget_ms=settings.ivr_budget_ms)


@lru_cache(maxsize=1)
def gate() -> TokenGate:
    settings = get_lean_settings()
    source = SecretsManagerTokens(
        settings.ivr_tokens_secret, routing_client("secretsmanager", settings.ivr_budget_ms)
    )
    return TokenGate(
        source, refresh_s=settings.secrets_max_age_s, stale_max_s=settings.routing_tokens_stale_max_s
    )


def refresh_offer() -> dict[str, Any]:
    """The schedule's job: write the offer snapshot (``services.ivr_offer``)."""
    from ringback.ports.webitel import QueueWaits
    from ringback.services.ivr_offer import refresh_offer_snapshot

    reports: QueueWaits = webitel()  # type: ignore[assignment]  # HttpWebitelClient has both
    stats = refresh_offer_snapshot(config_source().load(), reports, shared_cache(), SystemClock())
    return {"queues": sorted(stats.queues), "capacity_left": stats.capacity_left}
