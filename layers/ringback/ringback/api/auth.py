"""Bearer-token checks for webhook and routing callers."""

from __future__ import annotations

from collections.abc import Mapping

from ringback.domain.errors import Unauthorized
from ringback.domain.tokens import bearer_token, token_matches
from ringback.ports.auth import TokenSource


def require_bearer(headers: Mapping[str, str], source: TokenSource) -> None:
    """Raise :class:`Unauthorized` unless ``Authorization: Bearer <token>`` holds a valid token."""
    presented = bearer_token(headers.get("authorization"))
    if presented is None:
        raise Unauthorized("missing bearer token in the Authorization header")
    if not token_matches(presented, source.tokens()):
        raise Unauthorized("invalid bearer token")
