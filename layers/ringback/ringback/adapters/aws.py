"""AWS clients, created once per container with timeouts that fit the caller's budget.

botocore's defaults (60 s connect/read, several retries) would keep a caller on the line far
past Webitel's 1000 ms; every client here states its own timeouts and retries.

Clients come from one botocore session, not from ``boto3.client``: ``import boto3`` loads
s3transfer and the resource layer (about 25 ms of every cold start, ``bench/coldstart.py``)
for nothing a low-level client uses, and ``boto3.client`` is this same botocore client. S3
clients still come from boto3 (its session adds the managed-transfer methods to them).
Powertools Parameters imports boto3 too, so it is loaded only where the SSM parameter is read
(secrets are read on this session's client, ``adapters.secrets``), not here.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    import botocore.session

# Failures of the AWS services below a handler: the caller should retry (503), never see a 500.
# Timeouts, refused connections and throttling are BotoCoreError/ClientError; Powertools
# Parameters (the operator config's SSM read) wraps its fetch failures in GetParameterError
# (``AWS_ERRORS`` imports it on first use, see ``__getattr__``).
BOTOCORE_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


def __getattr__(name: str) -> Any:
    """``AWS_ERRORS``: the botocore errors and Powertools Parameters' ``GetParameterError``."""
    if name == "AWS_ERRORS":
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        return (*BOTOCORE_ERRORS, GetParameterError)
    raise AttributeError(name)


def loaded_errors() -> tuple[type[Exception], ...]:
    """The botocore errors, and ``GetParameterError`` if Powertools Parameters is loaded already
    (it cannot have been raised before it is imported): for the paths that do not load it."""
    import sys

    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters.exceptions")
    if parameters is None:
        return BOTOCORE_ERRORS
    return (*BOTOCORE_ERRORS, parameters.GetParameterError)


# The webhook path (EventsFunction, POST /v1/events/*) answers Webitel's httpRequest, which gives up
# after its ``timeout`` property, 1000 ms by default (webitel flow_manager, flow/http.go:
# ``model.IntValueFromMap("timeout", props, 1000) * time.Millisecond``), and our flow schemas set
# the same 1000 (docs/events.md). Per AWS call: connect 0.2 s + read 0.3 s, one attempt, no retry
# (botocore's ``retries.max_attempts`` counts retries after the first attempt, so 0): botocore's
# standard retry mode sleeps up to 1 s (random * 2^0) before its first retry, which alone would
# break the budget. A refused or silent dependency therefore fails its first call within
# 0.5 s and the handler answers 503 + Retry-After (the caller retries; nothing was accepted), with
# room left for API Gateway and Lambda overhead inside the 1000 ms. A slow-but-answering DynamoDB
# (each call under 0.3 s) is the only case that adds up across the request's calls. One write
# is tried once more after a timeout, by the adapter, without botocore's sleep: the event log's,
# the webhook's commit point, while a whole attempt still fits ``WEBHOOK_BUDGET_S``
# (``another_attempt_fits``): a silent DynamoDB then answers 503 after two attempts, ~0.6 s.
WEBHOOK_CONNECT_TIMEOUT_S = 0.2
WEBHOOK_READ_TIMEOUT_S = 0.3
WEBHOOK_RETRIES = 0
# What of Webitel's 1000 ms the handler may spend: the rest is API Gateway's, Lambda's and the
# answer's way back. The one write that may be tried again (the event log's, whose second try
# is idempotent: ``adapters.event_log_dynamo``) is tried only when a whole attempt still fits.
WEBHOOK_BUDGET_S = 0.85
_request_started: ContextVar[float | None] = ContextVar("webhook_request_started", default=None)


def mark_request_start() -> None:
    """The webhook handler's first step: the request's budget counts from here."""
    _request_started.set(time.monotonic())


def webhook_time_left() -> float | None:
    """Seconds of ``WEBHOOK_BUDGET_S`` left to this request; None outside a marked request."""
    started = _request_started.get()
    return None if started is None else WEBHOOK_BUDGET_S - (time.monotonic() - started)


def another_attempt_fits(read_timeout: float) -> bool:
    """Whether one more call of a webhook client (connect + ``read_timeout`` at worst) ends
    within the request's budget."""
    left = webhook_time_left()
    return left is not None and left >= WEBHOOK_CONNECT_TIMEOUT_S + read_timeout


def webhook_client(service: str, *, read_timeout: float = WEBHOOK_READ_TIMEOUT_S) -> Any:
    """A client for the webhook path: its worst case per call is connect + read, 0.5 s (see above)."""
    return client(
        service,
        connect_timeout=WEBHOOK_CONNECT_TIMEOUT_S,
        read_timeout=read_timeout,
        max_attempts=WEBHOOK_RETRIES,
    )


@cache
def client(
    service: str,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    max_attempts: int = 3,
    validate_parameters: bool = True,
) -> Any:
    """A low-level client for ``service`` (cheaper to create than a resource), cached.

    ``AWS_ENDPOINT_URL`` (set by the local stack) points every client at the moto server.
    ``validate_parameters=False`` skips botocore's client-side walk of a request against its
    shape (DynamoDB validates it again anyway): for requests of fixed shape built in one place
    whose size makes the walk cost (the console's BatchGetItem of ~79 keys: ~9 ms a call).
    """
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        tcp_keepalive=True,
        parameter_validation=validate_parameters,
    )
    if service == "s3":
        import boto3

        return boto3.client(service, config=config)  # type: ignore[call-overload]
    return session().create_client(service, config=config)


@lru_cache(maxsize=1)
def session() -> botocore.session.Session:
    """The container's botocore session: its clients share the endpoint and retry data it loads.
    ``AWS_ENDPOINT_URL`` (the local stack) applies to its clients as to boto3's."""
    import os

    import botocore.session
    from botocore.loaders import Loader, create_loader, instance_cache

    class ListingLoader(Loader):
        """botocore's data loader, except for "which services exist": botocore walks the
        versions of every service it ships (about 400 folders, 800 file-system calls) once per
        kind of model, some 20 ms of a cold start's first client; here it is one listing of each
        data folder. A name that is no service still fails in ``load_service_model``
        (``UnknownServiceError``; ``DataNotFoundError`` for a data file's name, such as
        ``endpoints.json``, which the listing now holds too)."""

        @instance_cache  # type: ignore[untyped-decorator,unused-ignore]
        def list_available_services(self, type_name: str) -> list[str]:
            names: set[str] = set()
            for path in self.search_paths:
                if os.path.isdir(path):
                    names.update(os.listdir(path))
            return sorted(names)

    created = botocore.session.get_session()
    # As botocore's own data loader (``Session._register_data_loader``), with the class above.
    plain = create_loader(created.get_config_variable("data_path"))
    loader = ListingLoader(extra_search_paths=plain.search_paths, include_default_search_paths=False)
    created.register_component("data_loader", loader)
    return created


def reset_clients() -> None:
    """Forget cached clients (tests that move the endpoint call this)."""
    client.cache_clear()
    session.cache_clear()
