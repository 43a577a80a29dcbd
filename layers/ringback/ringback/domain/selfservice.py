"""Signed, expiring self-service links: the visitor cancels or reschedules with nothing else.

A token is ``<expiry epoch s>.<signature>`` where the signature is HMAC-SHA256 (base64url,
unpadded) over ``v1|<callback id>|<expiry>|manage`` with the signing key. Every key of the
signing secret verifies (rotation: add ``next`` beside ``current``, sign with ``current``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ringback.domain.errors import Forbidden

_ASCII_DIGITS = re.compile(r"[0-9]{1,12}")
_VERSION = "v1"
_SCOPE = "manage"


@dataclass(frozen=True)
class KeyRing:
    """The key new links are signed with and every key still accepted."""

    current: str
    accepted: Sequence[str]


def _signature(key: str, callback_id: str, expires: int) -> str:
    message = f"{_VERSION}|{callback_id}|{expires}|{_SCOPE}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: str, callback_id: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{expires}.{_signature(key, callback_id, expires)}"


def verify(keys: KeyRing, token: str | None, callback_id: str, now: datetime) -> datetime:
    """The token's expiry when it is a valid, unexpired link for ``callback_id``; else Forbidden."""
    if not token:
        raise Forbidden("a self-service token (?token=...) or an agent bearer token is required")
    expires_text, _, presented = token.partition(".")
    # ASCII digits only: str.isdigit() also accepts other scripts' digits (Arabic-Indic, ...),
    # which int() reads, so a rewritten link would still verify.
    if not _ASCII_DIGITS.fullmatch(expires_text) or not presented:
        raise Forbidden("invalid self-service link")
    expires = int(expires_text)
    matched = False
    for key in {*keys.accepted, keys.current}:
        if key:
            matched |= hmac.compare_digest(presented.encode(), _signature(key, callback_id, expires).encode())
    if not matched:
        raise Forbidden("invalid self-service link")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= now:
        raise Forbidden("this self-service link has expired")
    return expires_at
