"""The callbacks side's settings, read from the environment without pydantic-settings.

``ringback.config.Settings`` (pydantic-settings) is the one description of every setting; the
routes a visitor's page view waits on (``GET /v1/status``, the body gate of every resolver),
the callback form (``POST /v1/callbacks`` and the other form routes) and the IVR callback
routes (a caller waiting in a queue) read the fields they need here instead, because
importing pydantic-settings and building ``Settings`` (and, for the body gate, pydantic
itself) costs their cold start tens of milliseconds (``bench/coldstart.py``).
Same variables (``RINGBACK_<FIELD>``), same defaults, same bounds, the same error for a bad
value (a ``ValueError`` naming the variable); a unit test holds each field here to the
``Settings`` field of the same name. ``adapters.routing_settings`` reads the routing
function's own fields with the same reader (``read_fields``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import TypeVar

_T = TypeVar("_T")

_PREFIX = "RINGBACK_"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


@dataclass(frozen=True, slots=True)
class LeanSettings:
    """The fields the callbacks side reads: the page-view path (``GET /v1/status``, the body
    gate), the form (``adapters.callbacks_factory``) and the IVR callback routes
    (``adapters.ivr_factory``). One reader for all three: each function's environment
    (template.yaml) sets the variables it uses, the others keep their defaults."""

    default_region: str = "CZ"
    config_parameter: str = "/ringback/dev/config"
    webitel_base_url: str = "http://127.0.0.1:8801/api"
    webitel_token_secret: str = ""
    callbacks_table: str = ""
    outbox_table: str = ""
    guard_table: str = ""
    idempotency_table: str = ""
    ivr_tokens_secret: str = ""
    agent_desktop_tokens_secret: str = ""
    signing_key_secret: str = ""
    allowed_origins: str = ""
    ivr_budget_ms: int = 800
    routing_tokens_stale_max_s: int = 3600
    max_event_body_bytes: int = 256 * 1024
    captcha_backend: str = "sandbox"
    captcha_secret: str = ""
    captcha_verify_url: str = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    idempotency_ttl_s: int = 86400
    secrets_max_age_s: int = 300
    operator_config_max_age_s: int = 60

    @property
    def allowed_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.allowed_origins.split(",") if origin.strip()]


# Bounds of the numeric fields (as ``config.Settings`` declares them): (minimum, maximum).
# Every reader's fields (``adapters.routing_settings`` reads the routing function's here too).
_BOUNDS: dict[str, tuple[float, float | None]] = {
    "operator_config_max_age_s": (0, None),
    "secrets_max_age_s": (0, None),
    "max_event_body_bytes": (1024, None),
    "ivr_budget_ms": (100, 900),
    "routing_tokens_stale_max_s": (0, None),
    "idempotency_ttl_s": (60, 7 * 86400),
    "routing_budget_ms": (50, 900),
    "routing_cache_ttl_s": (0, 300),
    "routing_stale_if_error_s": (0, 86400),
    "routing_cache_size": (0, 1_000_000),
}
# The text fields ``config.Settings`` declares as a ``Literal``: the values it accepts.
CHOICES: dict[str, tuple[str, ...]] = {"captcha_backend": ("sandbox", "turnstile")}


# pydantic's lax int from text: ASCII digits (single underscores between them), an optional sign
# and an optional fraction of zeros ("4096.0").
_INT = re.compile(r"([+-]?[0-9](?:_?[0-9])*)(?:\.0+)?", re.ASCII)


def _number(name: str, raw: str, kind: str) -> float:
    text = raw.strip()
    try:
        if kind == "int":
            match = _INT.fullmatch(text)
            if match is None:
                raise ValueError(text)
            value: float = int(match[1])
        else:
            value = float(text)
    except ValueError:
        raise ValueError(f"{_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
    low, high = _BOUNDS.get(name, (float("-inf"), None))
    if not (low <= value and (high is None or value <= high)):  # NaN fails too
        raise ValueError(f"{_PREFIX}{name.upper()} must be within {low}..{high}, got {raw!r}")
    return value


def _flag(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{_PREFIX}{name.upper()} must be true or false, got {raw!r}")


def read_fields(kind: type[_T]) -> _T:
    """The fields of the dataclass ``kind`` from the current environment, as ``config.Settings``
    reads them (raises ValueError naming a bad variable)."""
    values: dict[str, object] = {}
    for field in fields(kind):  # type: ignore[arg-type]
        # pydantic-settings matches variable names case-insensitively; Lambda's are upper case.
        raw = os.environ.get(_PREFIX + field.name.upper())
        if raw is None:
            continue
        if field.type == "bool":
            values[field.name] = _flag(field.name, raw)
        elif field.type in ("int", "float"):
            number = _number(field.name, raw, str(field.type))
            values[field.name] = int(number) if field.type == "int" else float(number)
        elif field.name in CHOICES and raw not in CHOICES[field.name]:
            raise ValueError(
                f"{_PREFIX}{field.name.upper()} must be one of {CHOICES[field.name]}, got {raw!r}"
            )
        else:
            values[field.name] = raw
    region = values.get("default_region", "CZ")
    if not re.fullmatch(r"[A-Z]{2}", str(region)):  # Settings: pattern ^[A-Z]{2}$
        raise ValueError(f"{_PREFIX}DEFAULT_REGION must be two capital letters, got {region!r}")
    return kind(**values)


def read_lean_settings() -> LeanSettings:
    """The settings from the current environment (raises ValueError naming a bad variable)."""
    return read_fields(LeanSettings)


@lru_cache(maxsize=1)
def get_lean_settings() -> LeanSettings:
    """The settings of this container; cached because the environment never changes in one."""
    return read_lean_settings()
