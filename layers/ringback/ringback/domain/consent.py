"""Consent evidence: what the visitor agreed to, where, when and from which (hashed) address.

Kept beside the request (CallbacksTable ``pk = CB#<id>``, ``sk = CONSENT``) with its own TTL
(``CallbackPolicy.consent_retention_days``) and found for erasure through
``gsi1pk = CONSENT#<e164>``. The client IP is never stored: only an HMAC of it with the
signing key, which proves "the same address" without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from ringback.domain.callback_policy import CallbackPolicy
from ringback.domain.callbacks import CallbackRequest


def keyed_hash(key: str, value: str, *, purpose: str) -> str:
    """A pseudonym of ``value``: HMAC-SHA256 with the signing key, per purpose, 32 hex chars."""
    return hmac.new(key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


class ConsentEvidence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    callback_id: str
    given: bool
    text_version: str
    text_sha256: str | None = None
    page_url: str | None = None
    source: str
    given_at: datetime
    client_ip_hash: str | None = None
    expires_at: int


def consent_evidence(
    request: CallbackRequest,
    policy: CallbackPolicy,
    *,
    callback_id: str,
    now: datetime,
    client_ip_hash: str | None,
) -> ConsentEvidence | None:
    """Evidence for a request that carried a consent answer (None when it carried none)."""
    if request.consent is None:
        return None
    text_hash = hashlib.sha256(request.consent_text.encode()).hexdigest() if request.consent_text else None
    return ConsentEvidence(
        callback_id=callback_id,
        given=request.consent,
        text_version=request.consent_text_version or policy.consent_text_version,
        text_sha256=text_hash,
        page_url=request.page_url,
        source=request.source,
        given_at=now,
        client_ip_hash=client_ip_hash,
        expires_at=int((now + timedelta(days=policy.consent_retention_days)).timestamp()),
    )


def consent_problem(request: CallbackRequest, policy: CallbackPolicy) -> str | None:
    if policy.consent_required and request.consent is not True:
        return "please agree to be called back (consent is required)"
    return None
