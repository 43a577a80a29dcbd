"""The callback-specific operator knobs (``OperatorConfig.callbacks``).

Its own module (no phone-number parsing, no request models), so the operator configuration
loads lean on the page-view path (``GET /v1/status``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ringback.domain.number_kinds import NumberKind


class CallbackPolicy(BaseModel):
    """The callback-specific operator knobs (``OperatorConfig.callbacks``), validated on load."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Consent evidence
    consent_required: bool = False
    consent_text_version: str = Field(default="v1", min_length=1, max_length=64)
    consent_retention_days: int = Field(default=1095, ge=1, le=3650)
    # How long a request is kept after its expected call time (TTL).
    retention_days: int = Field(default=90, ge=1, le=3650)
    # Booking
    booking_lead_minutes: int = Field(default=15, ge=0, le=1440)
    later_target_minutes: int = Field(default=120, ge=5, le=1440)
    member_ttl_hours: int = Field(default=24, ge=1, le=720)
    scheduled_grace_minutes: int = Field(default=60, ge=5, le=1440)
    avg_handle_seconds: int = Field(default=240, ge=10, le=7200)
    # Direct (click-to-call) mode
    direct_display_text: str = Field(default="Website callback request", min_length=1, max_length=100)
    direct_fallback_seconds: int = Field(default=120, ge=10, le=3600)
    direct_ring_timeout_seconds: int = Field(default=30, ge=5, le=300)
    # Abuse protection
    max_body_bytes: int = Field(default=8192, ge=1024, le=65536)
    per_number_per_hour: int = Field(default=3, ge=1, le=10000)
    per_number_per_day: int = Field(default=6, ge=1, le=100000)
    per_ip_per_hour: int = Field(default=20, ge=1, le=100000)
    distinct_numbers_per_ip_per_day: int = Field(default=5, ge=1, le=10000)
    # Per client network (an IPv4 /24, an IPv6 /64): one flooder rotating through the addresses
    # of its block counts once.
    per_network_per_hour: int = Field(default=30, ge=1, le=1_000_000)
    # New requests of all callers together per minute; past it every new request is 429 and the
    # CallbacksGlobalCapReached metric fires its alarm (template.yaml).
    new_callbacks_per_minute: int = Field(default=300, ge=1, le=1_000_000)
    denied_prefixes: list[str] = Field(default_factory=list)
    denied_kinds: list[NumberKind] = Field(default_factory=list)
    captcha_required: bool = False
    require_site_key: bool = False
    # Self-service links stay valid this long after the expected call time.
    self_service_hours: int = Field(default=72, ge=1, le=24 * 60)

    @field_validator("denied_prefixes")
    @classmethod
    def _e164_prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not re.fullmatch(r"\+\d{1,15}", prefix):
                raise ValueError(f"'{prefix}' is not an E.164 prefix like +42090")
        return value
