"""boto3 clients, created once per container with timeouts that fit the caller's budget.

botocore's defaults (60 s connect/read, several retries) would keep a caller on the line far
past Webitel's 1000 ms; every client here states its own timeouts and retries.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config


@cache
def client(
    service: str, *, connect_timeout: float = 2.0, read_timeout: float = 5.0, max_attempts: int = 3
) -> Any:
    """A low-level client for ``service`` (cheaper to create than a resource), cached.

    ``AWS_ENDPOINT_URL`` (set by the local stack) points every client at the moto server.
    """
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        tcp_keepalive=True,
    )
    return boto3.client(service, config=config)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests that move the endpoint call this)."""
    client.cache_clear()
