"""The normalised form every accepted event is logged in, whatever its source.

An event's ``event_id`` is its *source identity*: the same delivery sent twice has the same id,
so the event log's conditional write keeps it once. Where the sender gives an id (ringback's own
widget, an agent desktop's ``eventId``) the id is derived from it; otherwise from the canonical
content of the body (Webitel has no idempotency key: a redelivered hook is the same body).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ringback.domain.phones import mask_e164

PHONE_KEYS = frozenset({"phone", "formatted_phone", "otherDN", "thirdDN", "cid", "destination"})


class EventSource(StrEnum):
    WEBITEL = "webitel"
    WIDGET = "widget"
    AGENT = "agent"


class LoggedEvent(BaseModel):
    """One accepted event as stored in the event log."""

    model_config = ConfigDict(frozen=True)

    source: EventSource
    event_type: str = Field(min_length=1, max_length=64)
    event_id: str = Field(min_length=8, max_length=128)
    known: bool
    occurred_at: int = Field(ge=0, description="epoch ms of the fact (sender's time, else arrival)")
    received_at: int = Field(ge=0, description="epoch ms when ringback first accepted it")
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def order_key(self) -> tuple[int, str]:
        """Total order used by every 'latest wins' rule: time, then id (deterministic ties)."""
        return (self.occurred_at, self.event_id)


def canonical(value: Any) -> Any:
    """``value`` without unset parts (None, empty strings, empty maps), keys sorted.

    Webitel sends unset hook variables as empty strings: ``{"agent": ""}`` and ``{}`` mean the
    same thing and must give the same identity and the same stored payload.
    """
    if isinstance(value, Mapping):
        cleaned = {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
        return {k: v for k, v in cleaned.items() if v is not None and v not in ("", {})}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def identity(source: EventSource, parts: Mapping[str, Any]) -> str:
    """A stable event id from what identifies the event at its source."""
    text = json.dumps(canonical(parts), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{source.value}|{text}".encode()).hexdigest()[:40]
    return f"{source.value}-{digest}"


def mask_phone_fields(value: Any, key: str = "", keys: frozenset[str] = PHONE_KEYS) -> Any:
    """``value`` with every phone-number field (by vendor name) masked, recursively."""
    if isinstance(value, Mapping):
        return {k: mask_phone_fields(v, str(k), keys) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_phone_fields(v, "", keys) for v in value]
    if key in keys and isinstance(value, str) and value:
        digits = "".join(ch for ch in value if ch.isdigit())
        return mask_e164("+" + digits) if len(digits) >= 7 else "***"
    return value
