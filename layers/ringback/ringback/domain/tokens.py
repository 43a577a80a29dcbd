"""Shared-secret checks for webhook and routing callers."""

from __future__ import annotations

import hmac
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
