"""Builds the console's services from the function's settings (once per container)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from ringback.adapters.console_dynamo import (
    DynamoConsoleAggregates,
    DynamoOutboxStates,
    SqsQueueDepths,
)
from ringback.adapters.outbox_dynamo import DynamoDialerOutbox
from ringback.adapters.secrets import SecretTokens, secret_value
from ringback.config import get_settings
from ringback.services.console import ConsoleAccess, ConsoleData


@lru_cache(maxsize=1)
def access() -> ConsoleAccess:
    settings = get_settings()
    if not settings.console_tokens_secret or not settings.signing_key_secret:
        raise RuntimeError("the console's secrets are not configured")

    def signing_key() -> str:
        return secret_value(settings.signing_key_secret, "current", max_age_s=settings.secrets_max_age_s)

    return ConsoleAccess(
        SecretTokens(settings.console_tokens_secret, max_age_s=settings.secrets_max_age_s),
        signing_key,
        ttl=timedelta(seconds=settings.console_session_s),
    )


@lru_cache(maxsize=1)
def data() -> ConsoleData:
    settings = get_settings()
    return ConsoleData(
        DynamoConsoleAggregates(settings.projections_table, settings.guard_table, settings.outbox_table),
        DynamoOutboxStates(settings.outbox_table),
        SqsQueueDepths(
            {"projector": settings.projector_dlq_url, "dialer_schedules": settings.dialer_schedule_dlq_url}
        ),
        zone=ZoneInfo(settings.report_timezone),
    )


@lru_cache(maxsize=1)
def outbox() -> DynamoDialerOutbox:
    settings = get_settings()
    return DynamoDialerOutbox(settings.outbox_table, retention_days=settings.outbox_retention_days)
