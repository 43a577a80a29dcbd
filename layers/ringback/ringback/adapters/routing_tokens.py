"""The routing bearer tokens, read from Secrets Manager on the routing function's own client.

``adapters.secrets.SecretTokens`` reads the same secret through Powertools Parameters, which
imports boto3 and builds a second session and client: about 100 ms of cold start the routing
lookup cannot spare (its caller is on the line, measured by bench/routing.py). This source uses a
botocore client with timeouts fitted to the routing budget and parses the value exactly as
``adapters.secrets.parse_token_secret`` does (a test holds the two to the same answers).
Caching, and what happens when the secret cannot be read, is ``services.routing.TokenGate``'s.
"""

from __future__ import annotations

import json
from typing import Any


def parse_tokens(value: str) -> list[str]:
    """Tokens of a secret value: a JSON object's string values, or one plain string."""
    try:
        data = json.loads(value)
    except ValueError:
        return [value.strip()] if value.strip() else []
    if isinstance(data, dict):
        return [v for v in data.values() if isinstance(v, str) and v]
    if isinstance(data, list):
        return [v for v in data if isinstance(v, str) and v]
    return [data] if isinstance(data, str) and data else []


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
        return parse_tokens(str(value))
