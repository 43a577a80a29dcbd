"""Builds the dialer and campaign-import adapters from the settings, once per container, lazily."""

from __future__ import annotations

import os
import socket
from functools import lru_cache

import httpx

from ringback.adapters.aws import client
from ringback.adapters.callbacks_dynamo import CallbacksTable
from ringback.adapters.erasure_dynamo import DynamoErasureTombstones
from ringback.adapters.operator_config import SsmOperatorConfig
from ringback.adapters.outbox_dynamo import (
    DynamoDialerOutbox,
    DynamoDoNotCall,
    DynamoReceipts,
)
from ringback.adapters.projections_dynamo import DynamoCallbackStatus
from ringback.adapters.secrets import secret_value
from ringback.adapters.webitel_http import HttpWebitelClient
from ringback.config import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def _dynamodb() -> object:
    return client("dynamodb", connect_timeout=2.0, read_timeout=5.0, max_attempts=5)


@lru_cache(maxsize=1)
def config_source() -> SsmOperatorConfig:
    s = get_settings()
    return SsmOperatorConfig(s.config_parameter, max_age_s=s.operator_config_max_age_s)


@lru_cache(maxsize=1)
def outbox() -> DynamoDialerOutbox:
    s = get_settings()
    return DynamoDialerOutbox(s.outbox_table, retention_days=s.outbox_retention_days, dynamodb=_dynamodb())


@lru_cache(maxsize=1)
def receipts() -> DynamoReceipts:
    s = get_settings()
    return DynamoReceipts(s.outbox_table, retention_days=s.outbox_retention_days, dynamodb=_dynamodb())


@lru_cache(maxsize=1)
def dnc() -> DynamoDoNotCall:
    return DynamoDoNotCall(get_settings().outbox_table, dynamodb=_dynamodb())


@lru_cache(maxsize=1)
def callbacks_table() -> CallbacksTable:
    """The CallbacksTable's slot places (``services.reservations``); no guard table needed."""
    return CallbacksTable(get_settings().callbacks_table, "", _dynamodb())


@lru_cache(maxsize=1)
def erasures() -> DynamoErasureTombstones:
    return DynamoErasureTombstones(get_settings().outbox_table, dynamodb=_dynamodb())


@lru_cache(maxsize=1)
def callback_status() -> DynamoCallbackStatus | None:
    """The callback requests the uploader moves (``ports.projections.CallbackStatusSink``):
    the same conditional update as the event fan-out, releasing the lock on terminal statuses."""
    table = get_settings().callbacks_table
    return DynamoCallbackStatus(table, client=_dynamodb()) if table else None


@lru_cache(maxsize=1)
def webitel() -> HttpWebitelClient:
    s = get_settings()

    def token() -> str:  # cached by Powertools for secrets_max_age_s, re-read after that
        return secret_value(s.webitel_token_secret, "token", max_age_s=s.secrets_max_age_s)

    # A bulk of 100 members can take a while to commit; the lease (300 s) is far longer.
    return HttpWebitelClient(
        s.webitel_base_url, token, timeout=httpx.Timeout(s.dialer_webitel_timeout_s, connect=3.0)
    )


def owner_id() -> str:
    """Who holds a claim: this container (host + process), for people reading the table."""
    return f"{os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME') or socket.gethostname()}:{os.getpid()}"
