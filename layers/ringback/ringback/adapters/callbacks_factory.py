"""Builds the callbacks function's adapters from the settings, once per container, lazily."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ringback.adapters.aws import BOTOCORE_ERRORS
from ringback.adapters.callbacks_dynamo import CallbacksTable
from ringback.adapters.captcha_http import SandboxCaptcha, TurnstileCaptcha
from ringback.adapters.clock import SystemClock
from ringback.adapters.lean_settings import get_lean_settings
from ringback.adapters.secrets import SecretTokens, secret_value
from ringback.adapters.status_factory import (
    availability,
    config_source,
    dynamodb,
    infrastructure_errors,
    webitel,
)
from ringback.domain.callbacks import CallbackRequest
from ringback.domain.selfservice import KeyRing
from ringback.ports.auth import TokenSource
from ringback.ports.captcha import CaptchaVerifier
from ringback.ports.erasures import ErasureTombstones
from ringback.ports.outbox import DialerOutbox
from ringback.services.callbacks import CallbackService, Caller

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

# Failures of the infrastructure below the service: the caller should retry (503), not see a 500.
# botocore's always; Powertools Parameters' and httpx's once loaded (``infrastructure_errors``):
# neither is imported before a route needs it (Idempotency, httpx: tens of ms of cold start).
INFRASTRUCTURE_ERRORS = BOTOCORE_ERRORS


def clock() -> SystemClock:
    return SystemClock()


@lru_cache(maxsize=1)
def repository() -> CallbacksTable:
    settings = get_lean_settings()
    return CallbacksTable(settings.callbacks_table, settings.guard_table, dynamodb())


@lru_cache(maxsize=1)
def outbox() -> DialerOutbox:
    from ringback.adapters.outbox_dynamo import DynamoDialerOutbox

    return DynamoDialerOutbox(get_lean_settings().outbox_table, dynamodb=dynamodb())


def keys() -> KeyRing:
    settings = get_lean_settings()
    current = secret_value(settings.signing_key_secret, "current", max_age_s=settings.secrets_max_age_s)
    accepted = SecretTokens(settings.signing_key_secret, max_age_s=settings.secrets_max_age_s).tokens()
    return KeyRing(current=current, accepted=accepted)


@lru_cache(maxsize=1)
def captcha() -> CaptchaVerifier:
    settings = get_lean_settings()
    if settings.captcha_backend == "turnstile":
        return TurnstileCaptcha(
            secret_value(settings.captcha_secret, "secret"), url=settings.captcha_verify_url
        )
    return SandboxCaptcha()


@lru_cache(maxsize=1)
def agent_tokens() -> TokenSource:
    settings = get_lean_settings()
    return SecretTokens(settings.agent_desktop_tokens_secret, max_age_s=settings.secrets_max_age_s)


@lru_cache(maxsize=1)
def _bound_deliver_now() -> Callable[..., Any]:
    from functools import partial

    from ringback.adapters.projections_dynamo import DynamoCallbackStatus
    from ringback.services.dialer_upload import deliver_now

    # The same status path as the scheduled upload: a member Webitel rejects fails its request
    # and releases the number's lock, so routing stops answering "pending callback".
    return partial(
        deliver_now,
        callback_status=DynamoCallbackStatus(get_lean_settings().callbacks_table, client=dynamodb()),
    )


def _deliver_now() -> object:
    # Bound on the first "now" push: the uploader and the event models behind the callback-status
    # path (tens of ms) are no part of a "later" or "scheduled" submit's cold start.
    def deliver(*args: Any, **kwargs: Any) -> Any:
        return _bound_deliver_now()(*args, **kwargs)

    return deliver


@lru_cache(maxsize=1)
def callbacks() -> CallbackService:
    settings = get_lean_settings()
    return CallbackService(
        repo=repository(),
        outbox=outbox(),
        config=config_source(),
        clock=SystemClock(),
        keys=keys,
        captcha=captcha,
        webitel=webitel,
        deliver=_deliver_now(),  # type: ignore[arg-type]
        default_region=settings.default_region,
        allowed_origins=settings.allowed_origin_list,
        owner=f"callbacks-{os.getpid()}",
        erasures=erasures(),
    )


def erasures() -> ErasureTombstones:
    from ringback.adapters.erasure_dynamo import DynamoErasureTombstones

    return DynamoErasureTombstones(get_lean_settings().outbox_table, dynamodb=dynamodb())


@lru_cache(maxsize=1)
def idempotency() -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
    """The submit wrapped in Powertools Idempotency (DynamoDB persistence on the idempotency
    table). The wrapped function hashes its ``key`` argument: the ``Idempotency-Key`` header
    plus the SHA-256 of the raw body. Returns it with its config (to register the context)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    settings = get_lean_settings()
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb())  # type: ignore[arg-type]
    config = IdempotencyConfig(expires_after_seconds=settings.idempotency_ttl_s)

    @idempotent_function(data_keyword_argument="key", persistence_store=persistence, config=config)
    def submit(*, key: dict[str, str], request: CallbackRequest, caller: Caller) -> dict[str, Any]:
        # The same key names the same submit: a retry after a crash gets the request it stored.
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return callbacks().submit(request, replace(caller, submit_key=digest)).model_dump(mode="json")

    return submit, config


__all__ = [
    "INFRASTRUCTURE_ERRORS",
    "agent_tokens",
    "availability",
    "callbacks",
    "captcha",
    "clock",
    "config_source",
    "dynamodb",
    "idempotency",
    "infrastructure_errors",
    "keys",
    "outbox",
    "repository",
    "webitel",
]
