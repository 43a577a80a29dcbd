"""Token sets and keys from Secrets Manager, through Powertools Parameters (cached per container).

A token secret is a JSON object; every non-empty string value in it is a valid token, so an
operator rotates by adding ``next`` beside ``current`` and removing ``current`` later.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from ringback.adapters.aws import client
from ringback.domain.tokens import tokens_from_secret


@cache
def _provider(connect_timeout: float, read_timeout: float, max_attempts: int) -> SecretsProvider:
    # A client of the default session: it shares botocore's loaded endpoint and retry data with
    # the function's other clients (a session of its own would load them again on a cold start).
    return SecretsProvider(
        boto3_client=client(
            "secretsmanager",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
        )
    )


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
        self._provider = _provider(connect_timeout, read_timeout, max_attempts)

    def tokens(self) -> list[str]:
        raw: Any = self._provider.get(self._secret_id, max_age=self._max_age_s)
        return tokens_from_secret(raw if isinstance(raw, str) else raw.decode())


def secret_value(secret_id: str, key: str, *, max_age_s: int = 300) -> str:
    """One key of a JSON secret (e.g. the Webitel access token, the signing key)."""
    raw: Any = _provider(1.0, 2.0, 2).get(secret_id, max_age=max_age_s)
    data = json.loads(raw if isinstance(raw, str) else raw.decode())
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise KeyError(f"secret has no '{key}'")
    return value
