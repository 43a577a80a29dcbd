"""Builds the event fan-out's services from the function's settings (once per container)."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

from ringback.adapters.aws import (
    AWS_ERRORS,
    WEBHOOK_CONNECT_TIMEOUT_S,
    another_attempt_fits,
    mark_request_start,
    webhook_client,
)
from ringback.adapters.clock import SystemClock
from ringback.adapters.event_guard_dynamo import DynamoFixedWindowLimiter
from ringback.adapters.event_log_dynamo import DynamoEventLog
from ringback.adapters.operator_config import SsmOperatorConfig
from ringback.adapters.projections_dynamo import DynamoCallbackStatus, DynamoProjections
from ringback.adapters.secrets import SecretTokens, secret_value
from ringback.config import Settings, get_settings
from ringback.observability import logger
from ringback.services.ingest import Ingest, WidgetGuard, WidgetLimits
from ringback.services.projector import Projector
from ringback.services.read_models import ReadModels

# Answered 503 + Retry-After by the events function (api.errors).
INFRASTRUCTURE_ERRORS = AWS_ERRORS


def start_request() -> None:
    """The handler's first step: Webitel's budget counts from it (``adapters.aws``)."""
    mark_request_start()


def build_projector(settings: Settings, *, client: object = None) -> Projector:
    config = SsmOperatorConfig(settings.config_parameter, max_age_s=settings.operator_config_max_age_s)

    def inbound_queues() -> frozenset[str]:
        # Read only for an inbound-looking bridged call without a direction; a config that
        # cannot be read leaves such a call unclassified (logged), never fails the projection.
        try:
            return config.load().inbound_queue_ids
        except Exception as error:
            logger.warning(
                "operator config unreadable; inbound queues unknown",
                extra={"error_type": type(error).__name__},
            )
            return frozenset()

    outbox = None
    if settings.outbox_table:
        # A request closed by an inbound call: its entries are cancelled, stop orders armed.
        from ringback.adapters.outbox_dynamo import DynamoDialerOutbox

        outbox = DynamoDialerOutbox(settings.outbox_table)
    return Projector(
        DynamoProjections(settings.projections_table, client=client),
        DynamoCallbackStatus(settings.callbacks_table, client=client),
        zone=ZoneInfo(settings.report_timezone),
        default_region=settings.default_region,
        inbound_queues=inbound_queues,
        outbox=outbox,
    )


@lru_cache(maxsize=1)
def projector() -> Projector:
    return build_projector(get_settings())


@lru_cache(maxsize=1)
def event_log() -> DynamoEventLog:
    settings = get_settings()
    return DynamoEventLog(settings.event_log_table, retention_days=settings.event_retention_days)


@lru_cache(maxsize=1)
def ingest() -> Ingest:
    # The webhook path's client (adapters.aws: connect + read within Webitel's 1000 ms, no retry);
    # the stream projector and the rebuild command keep their own, more patient ones.
    settings = get_settings()
    read_timeout = settings.webhook_read_timeout_ms / 1000
    log = DynamoEventLog(
        settings.event_log_table,
        retention_days=settings.event_retention_days,
        client=webhook_client("dynamodb", read_timeout=read_timeout),
        # A write that timed out is tried once more while a whole attempt fits Webitel's budget.
        retry_after_timeout=lambda: another_attempt_fits(read_timeout),
    )
    return Ingest(log, SystemClock())


@lru_cache(maxsize=1)
def read_models() -> ReadModels:
    settings = get_settings()
    return ReadModels(
        DynamoProjections(settings.projections_table), DynamoCallbackStatus(settings.callbacks_table)
    )


@lru_cache(maxsize=1)
def widget_guard() -> WidgetGuard:
    settings = get_settings()
    limits = WidgetLimits(tuple(settings.allowed_origin_list), settings.widget_events_per_minute)
    return WidgetGuard(
        DynamoFixedWindowLimiter(
            settings.guard_table,
            client=webhook_client("dynamodb", read_timeout=settings.webhook_read_timeout_ms / 1000),
        ),
        SsmOperatorConfig(settings.config_parameter, max_age_s=settings.operator_config_max_age_s),
        SystemClock(),
        limits,
        ip_key=lambda: secret_value(
            settings.ip_hash_key_secret, "current", max_age_s=settings.secrets_max_age_s
        ),
    )


@lru_cache(maxsize=1)
def webitel_tokens() -> SecretTokens:
    settings = get_settings()
    return SecretTokens(
        settings.webitel_hook_tokens_secret,
        max_age_s=settings.secrets_max_age_s,
        connect_timeout=WEBHOOK_CONNECT_TIMEOUT_S,
        read_timeout=settings.webhook_read_timeout_ms / 1000,
        max_attempts=0,
    )


@lru_cache(maxsize=1)
def agent_tokens() -> SecretTokens:
    settings = get_settings()
    return SecretTokens(settings.agent_desktop_tokens_secret, max_age_s=settings.secrets_max_age_s)


def main(argv: list[str] | None = None) -> int:
    """Rebuild projections on AWS (or anywhere): the function's RINGBACK_* env and credentials.

    ``python -m ringback.adapters.events_factory rebuild [--clean]``
    """
    import argparse
    import json

    from ringback.services.projector import rebuild

    parser = argparse.ArgumentParser(prog="python -m ringback.adapters.events_factory")
    parser.add_argument("command", choices=["rebuild"])
    parser.add_argument("--clean", action="store_true", help="delete projection records first")
    args = parser.parse_args(argv)
    settings = get_settings()
    from ringback.adapters.aws import client
    from ringback.adapters.projections_dynamo import request_items

    summary = rebuild(
        event_log().scan(),
        projector(),
        DynamoProjections(settings.projections_table),
        clean=args.clean,
        requests=request_items(client("dynamodb"), settings.callbacks_table),
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
