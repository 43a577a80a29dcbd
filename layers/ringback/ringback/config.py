"""Deployment settings, read from the function's environment once, lazily, never at import.

Only this module and ``adapters/`` may read the environment (enforced by ruff TID251).
Operator settings that change without a redeploy (business hours, queues, modes) are not
here: they live in the SSM parameter read by ``adapters.operator_config``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Names of the resources a function was given by template.yaml, plus tuning knobs."""

    model_config = SettingsConfigDict(env_prefix="RINGBACK_", extra="ignore", frozen=True)

    stage: str = "dev"
    default_region: str = Field(default="CZ", pattern=r"^[A-Z]{2}$")
    config_parameter: str = "/ringback/dev/config"

    webitel_base_url: str = "http://127.0.0.1:8801/api"
    webitel_token_secret: str = ""

    customers_table: str = ""
    callbacks_table: str = ""
    outbox_table: str = ""
    event_log_table: str = ""
    projections_table: str = ""
    guard_table: str = ""
    idempotency_table: str = ""

    routing_tokens_secret: str = ""
    # Bearer tokens of the IVR callback routes (POST /v1/callbacks/ivr[/cancel]).
    ivr_tokens_secret: str = ""
    webitel_hook_tokens_secret: str = ""
    agent_desktop_tokens_secret: str = ""
    signing_key_secret: str = ""
    # The key of the widget endpoint's keyed IP hashes (events function; JSON {"current": ...}).
    ip_hash_key_secret: str = ""
    # Operator console (docs/console.md): its credentials (a token secret), session lifetime and
    # the dead-letter queues whose depth its health panel shows.
    console_tokens_secret: str = ""
    console_session_s: int = Field(default=12 * 3600, ge=300, le=7 * 86400)
    projector_dlq_url: str = ""
    dialer_schedule_dlq_url: str = ""

    allowed_origins: str = ""
    routing_budget_ms: int = Field(default=300, ge=50, le=900)
    # The IVR callback routes answer within this (Webitel's httpRequest gives up at 1000 ms).
    ivr_budget_ms: int = Field(default=800, ge=100, le=900)
    # The webhook path's read timeout per AWS call (adapters.aws explains the 1000 ms budget it
    # fits); never above 700 so connect + read stays inside Webitel's timeout.
    webhook_read_timeout_ms: int = Field(default=300, ge=50, le=700)
    # Routing answers kept in memory: served fresh for cache_ttl_s (0 = always read live), and
    # when the directory fails, served for up to stale_if_error_s instead of the fallback.
    routing_cache_ttl_s: float = Field(default=5.0, ge=0, le=300)
    routing_stale_if_error_s: float = Field(default=600.0, ge=0, le=86400)
    routing_cache_size: int = Field(default=5000, ge=0, le=1_000_000)
    # The fallback answer when the lookup fails or is late (reason "degraded" either way).
    routing_fallback_found: bool = False
    routing_fallback_debt: bool = False
    # Whether the answer says if the caller has an open website callback (one more read).
    routing_callback_lookup: bool = True
    # Last routing tokens read stay valid this long while Secrets Manager cannot be read.
    routing_tokens_stale_max_s: int = Field(default=3600, ge=0)
    event_retention_days: int = Field(default=90, ge=1)
    # Event fan-out: the day boundaries of the widget funnel, the widget endpoint's limits.
    report_timezone: str = "Europe/Prague"
    widget_events_per_minute: int = Field(default=120, ge=1)
    max_event_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Callback form CAPTCHA verifier: "sandbox" (local; accepts Cloudflare's dummy test token)
    # or "turnstile" (siteverify with the secret key under "secret" in captcha_secret).
    captcha_backend: Literal["sandbox", "turnstile"] = "sandbox"
    captcha_secret: str = ""
    captcha_verify_url: str = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    # Powertools Idempotency record lifetime for submits with an Idempotency-Key header.
    idempotency_ttl_s: int = Field(default=86400, ge=60, le=7 * 86400)
    # Dialer uploads (see docs/dialer.md): bulk size, claim lease (longer than the function's
    # timeout), Webitel read timeout, outage backoff, the debtors' default calling window and
    # the optional IANA zone -> Webitel timezone lookup id map (JSON object).
    dialer_batch_size: int = Field(default=100, ge=1, le=10_000)
    dialer_lease_s: int = Field(default=300, ge=30)
    dialer_webitel_timeout_s: float = Field(default=20.0, gt=0, le=60)
    dialer_backoff_base_s: int = Field(default=30, ge=1)
    dialer_backoff_max_s: int = Field(default=1800, ge=1)
    campaign_calling_window: str = "mon-sat 08:00-20:00"
    campaign_default_expiry_days: int = Field(default=30, ge=1, le=365)
    # How far ahead a campaign row's expire_at / not_before may be (docs/dialer.md).
    campaign_time_horizon_days: int = Field(default=365, ge=1, le=3650)
    webitel_timezone_ids: dict[str, str] = Field(default_factory=dict)
    # How long settled outbox entries and receipts are kept (table TTL).
    outbox_retention_days: int = Field(default=90, ge=1)
    # How long secrets and operator config are cached in a warm container.
    secrets_max_age_s: int = Field(default=300, ge=0)
    operator_config_max_age_s: int = Field(default=60, ge=0)

    @property
    def allowed_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.allowed_origins.split(",") if origin.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this container; cached because the environment never changes in one."""
    return Settings()
