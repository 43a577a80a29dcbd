"""The routing bearer tokens, read from Secrets Manager on the routing function's own client.

``adapters.secrets.SecretTokens`` caches a secret for ``secrets_max_age_s`` and serves nothing
when a read fails; the routing lookup needs a stale-if-error rule and timeouts fitted to its
budget (its caller is on the line, measured by bench/routing.py). This source uses a botocore
client with those timeouts and the same parser (``domain.tokens.tokens_from_secret``).
Caching, and what happens when the secret cannot be read, is ``services.routing.TokenGate``'s.
"""

from __future__ import annotations

from typing import Any

from ringback.domain.tokens import tokens_from_secret


class SecretsManagerTokens:
    """Implements ``ports.auth.TokenSource``: every call reads the secret (no caching here)."""

    def __init__(self, secret_id: str, client: Any) -> None:
        self._secret_id = secret_id
        self._client = client

    def tokens(self) -> list[str]:
        response = self._client.get_secret_value(SecretId=self._secret_id)
        value = response.get("SecretString")
        if value is None:
            value = bytes(response.get("SecretBinary", b"")).decode("utf-8", errors="replace")
        return tokens_from_secret(str(value))
