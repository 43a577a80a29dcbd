"""Token sets and keys from Secrets Manager, cached per container for ``max_age_s``.

A token secret is a JSON object; every non-empty string value in it is a valid token, so an
operator rotates by adding ``next`` beside ``current`` and removing ``current`` later.

Read on a client of the container's botocore session (``adapters.aws``), as Powertools
Parameters' ``SecretsProvider`` did with the client it was given, with its caching rule (a
value is kept ``max_age_s`` seconds, 0 keeps nothing; a failed read raises, no stale value is
served): Powertools Parameters imports boto3 and its AppConfig and SSM providers, tens of
milliseconds of the form submit's cold start (``bench/coldstart.py``). A failed read is
botocore's ``ClientError``/``BotoCoreError``, answered 503 by every resolver
(``aws.BOTOCORE_ERRORS``).
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

from ringback.adapters.aws import client
from ringback.domain.tokens import tokens_from_secret


@cache
def _kept() -> dict[str, tuple[float, str]]:
    """secret id -> (monotonic time it expires, value): this container's cache (the tests'
    ``cache_clear`` forgets it, as a new container would)."""
    return {}


def _read(
    secret_id: str, max_age_s: int, connect_timeout: float, read_timeout: float, max_attempts: int
) -> str:
    kept = _kept().get(secret_id)
    now = time.monotonic()
    if kept is not None and now < kept[0]:
        return kept[1]
    # A client of the default session: it shares botocore's loaded endpoint and retry data with
    # the function's other clients (a session of its own would load them again on a cold start).
    secrets = client(
        "secretsmanager",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
    )
    response: Any = secrets.get_secret_value(SecretId=secret_id)
    value = response.get("SecretString")
    if value is None:
        value = bytes(response.get("SecretBinary", b"")).decode()
    if max_age_s > 0:
        _kept()[secret_id] = (now + max_age_s, str(value))
    return str(value)


class SecretTokens:
    """The valid tokens of one secret (implements ``ports.auth.TokenSource``)."""

    def __init__(
        self,
        secret_id: str,
        *,
        max_age_s: int = 300,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        max_attempts: int = 2,
    ) -> None:
        self._secret_id = secret_id
        self._max_age_s = max_age_s
        self._timeouts = (connect_timeout, read_timeout, max_attempts)

    def tokens(self) -> list[str]:
        return tokens_from_secret(_read(self._secret_id, self._max_age_s, *self._timeouts))


def secret_value(secret_id: str, key: str, *, max_age_s: int = 300) -> str:
    """One key of a JSON secret (e.g. the Webitel access token, the signing key)."""
    data = json.loads(_read(secret_id, max_age_s, 1.0, 2.0, 2))
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise KeyError(f"secret has no '{key}'")
    return value
