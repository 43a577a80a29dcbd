"""The routing function's settings, read from the environment without pydantic.

``ringback.config.Settings`` (pydantic-settings) is the one description of every setting; the
routing lookup reads its few fields here instead, because importing pydantic and
pydantic-settings costs its cold start about 100 ms and several MB while a caller is on the
line (bench/routing.py). Same variables (``RINGBACK_<FIELD>``), same defaults, same bounds, read by
the one reader of ``adapters.lean_settings``; a unit test holds the two to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ringback.adapters.lean_settings import read_fields


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


def read_routing_settings() -> RoutingSettings:
    """The settings from the current environment (raises ValueError naming a bad variable)."""
    return read_fields(RoutingSettings)


@lru_cache(maxsize=1)
def get_routing_settings() -> RoutingSettings:
    """The settings of this container; cached because the environment never changes in one."""
    return read_routing_settings()
