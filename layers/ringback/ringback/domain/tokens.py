"""Shared-secret checks for webhook and routing callers."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable


def token_matches(presented: str | None, valid: Iterable[str]) -> bool:
    """True when ``presented`` equals one of ``valid``, in time independent of where they differ.

    Every valid token is compared (no early exit), so the time taken does not reveal which
    of several rotating tokens nearly matched.
    """
    if not presented:
        return False
    candidate = presented.encode()
    matched = False
    for token in valid:
        if token:
            matched |= hmac.compare_digest(candidate, token.encode())
    return matched


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def tokens_from_secret(value: str) -> list[str]:
    """The tokens a secret value holds: a JSON object's (or list's) non-empty strings, or one
    plain string. Every one is valid, so a token is rotated by adding the new one beside it."""
    try:
        data = json.loads(value)
    except ValueError:
        return [value.strip()] if value.strip() else []
    if isinstance(data, dict):
        return [v for v in data.values() if isinstance(v, str) and v]
    if isinstance(data, list):
        return [v for v in data if isinstance(v, str) and v]
    return [data] if isinstance(data, str) and data else []
