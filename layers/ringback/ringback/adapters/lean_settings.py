"""The page-view path's few settings, read from the environment without pydantic.

``ringback.config.Settings`` (pydantic-settings) is the one description of every setting; the
routes a visitor's page view waits on (``GET /v1/status``, the body gate of every resolver)
and the IVR callback routes (a caller waiting in a queue) read the few fields they need here
instead, because importing pydantic-settings (and, for the body gate, pydantic itself) costs
their cold start tens of milliseconds (``bench/coldstart.py``).
Same variables (``RINGBACK_<FIELD>``), same defaults, same bounds, the same error for a bad
value (a ``ValueError`` naming the variable); a unit test holds each field here to the
``Settings`` field of the same name (``adapters.routing_settings`` does the same for routing).
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
class PageViewSettings:
    config_parameter: str = "/ringback/dev/config"
    guard_table: str = ""
    allowed_origins: str = ""
    webitel_base_url: str = "http://127.0.0.1:8801/api"
    webitel_token_secret: str = ""
    operator_config_max_age_s: int = 60
    secrets_max_age_s: int = 300
    max_event_body_bytes: int = 256 * 1024

    @property
    def allowed_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.allowed_origins.split(",") if origin.strip()]


@dataclass(frozen=True, slots=True)
class IvrSettings:
    """The IVR callback routes' settings (``adapters.ivr_factory``): a caller is on the line."""

    default_region: str = "CZ"
    config_parameter: str = "/ringback/dev/config"
    webitel_base_url: str = "http://127.0.0.1:8801/api"
    webitel_token_secret: str = ""
    callbacks_table: str = ""
    outbox_table: str = ""
    guard_table: str = ""
    ivr_tokens_secret: str = ""
    ivr_budget_ms: int = 800
    routing_tokens_stale_max_s: int = 3600
    secrets_max_age_s: int = 300
    operator_config_max_age_s: int = 60


# Bounds of the numeric fields (as ``config.Settings`` declares them): (minimum, maximum).
_BOUNDS: dict[str, tuple[float, float | None]] = {
    "operator_config_max_age_s": (0, None),
    "secrets_max_age_s": (0, None),
    "max_event_body_bytes": (1024, None),
    "ivr_budget_ms": (100, 900),
    "routing_tokens_stale_max_s": (0, None),
}


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


def _read(kind: type[_T]) -> _T:
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
        else:
            values[field.name] = raw
    region = values.get("default_region", "CZ")
    if not re.fullmatch(r"[A-Z]{2}", str(region)):  # Settings: pattern ^[A-Z]{2}$
        raise ValueError(f"{_PREFIX}DEFAULT_REGION must be two capital letters, got {region!r}")
    return kind(**values)


def read_page_view_settings() -> PageViewSettings:
    """The settings from the current environment (raises ValueError naming a bad variable)."""
    return _read(PageViewSettings)


def read_ivr_settings() -> IvrSettings:
    """The IVR routes' settings from the current environment (ValueError names a bad variable)."""
    return _read(IvrSettings)


@lru_cache(maxsize=1)
def get_page_view_settings() -> PageViewSettings:
    """The settings of this container; cached because the environment never changes in one."""
    return read_page_view_settings()


@lru_cache(maxsize=1)
def get_ivr_settings() -> IvrSettings:
    """The IVR routes' settings of this container (the environment never changes in one)."""
    return read_ivr_settings()
