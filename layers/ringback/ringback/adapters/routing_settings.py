"""The routing function's settings, read from the environment without pydantic.

``ringback.config.Settings`` (pydantic-settings) is the one description of every setting; the
routing lookup reads its few fields here instead, because importing pydantic and
pydantic-settings costs its cold start about 100 ms and several MB while a caller is on the
line (bench/routing.py). Same variables (``RINGBACK_<FIELD>``), same defaults, same bounds; a
unit test holds the two to the same answers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

_PREFIX = "RINGBACK_"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    default_region: str = "CZ"
    customers_table: str = ""
    callbacks_table: str = ""
    guard_table: str = ""  # the IVR offer snapshot (domain.ivr), read with the caller's entry
    routing_tokens_secret: str = ""
    routing_budget_ms: int = 300
    routing_cache_ttl_s: float = 5.0
    routing_stale_if_error_s: float = 600.0
    routing_cache_size: int = 5000
    routing_fallback_found: bool = False
    routing_fallback_debt: bool = False
    routing_callback_lookup: bool = True
    routing_tokens_stale_max_s: int = 3600
    secrets_max_age_s: int = 300


# Bounds of the numeric fields (as ``config.Settings`` declares them): (minimum, maximum).
_BOUNDS: dict[str, tuple[float, float | None]] = {
    "routing_budget_ms": (50, 900),
    "routing_cache_ttl_s": (0, 300),
    "routing_stale_if_error_s": (0, 86400),
    "routing_cache_size": (0, 1_000_000),
    "routing_tokens_stale_max_s": (0, None),
    "secrets_max_age_s": (0, None),
}


def _raw(name: str) -> str | None:
    # pydantic-settings matches variable names case-insensitively; Lambda's are upper case.
    return os.environ.get(_PREFIX + name.upper())


def _number(name: str, raw: str, kind: type[int] | type[float]) -> float:
    try:
        value: float = int(raw.strip()) if kind is int else float(raw.strip())
    except ValueError:
        raise ValueError(f"{_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
    low, high = _BOUNDS[name]
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


def read_routing_settings() -> RoutingSettings:
    """The settings from the current environment (raises ValueError naming a bad variable)."""
    values: dict[str, object] = {}
    for name, field in RoutingSettings.__dataclass_fields__.items():
        raw = _raw(name)
        if raw is None:
            continue
        if field.type == "bool":
            values[name] = _flag(name, raw)
        elif field.type == "int":
            values[name] = int(_number(name, raw, int))
        elif field.type == "float":
            values[name] = float(_number(name, raw, float))
        else:
            values[name] = raw
    region = values.get("default_region", RoutingSettings.__dataclass_fields__["default_region"].default)
    if not re.fullmatch(r"[A-Z]{2}", str(region)):
        raise ValueError(f"{_PREFIX}DEFAULT_REGION must be two capital letters, got {region!r}")
    return RoutingSettings(**values)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def get_routing_settings() -> RoutingSettings:
    """The settings of this container; cached because the environment never changes in one."""
    return read_routing_settings()
