"""Budgets for tests about answers, not about the deadline.

The deployed routing and IVR budgets stop at 900 ms (inside Webitel's 1000 ms), and a 2-core CI
machine running two test workers against one moto server has taken 1.2 s for a container's first
Secrets Manager read, which turned a routing answer into the degraded one. Tests that check what
an answer says ask for the ``answer_budget`` fixture (which widens the settings' bounds for them
alone) and set these variables. The deadline itself is proven elsewhere: the fault tests run the
deployed budgets against black-hole endpoints, and the unit tests drive it on a fake clock.
"""

from __future__ import annotations

import pytest
from pydantic import Field

from ringback import config

ANSWER_BUDGET_MS = 20_000
ROUTING = {"RINGBACK_ROUTING_BUDGET_MS": str(ANSWER_BUDGET_MS)}
IVR = {"RINGBACK_IVR_BUDGET_MS": str(ANSWER_BUDGET_MS)}


_DEPLOYED = config.Settings.model_fields


class RoomySettings(config.Settings):
    """The deployment settings with the two answer budgets allowed up to ``ANSWER_BUDGET_MS``."""

    routing_budget_ms: int = Field(default=_DEPLOYED["routing_budget_ms"].default, ge=50, le=ANSWER_BUDGET_MS)
    ivr_budget_ms: int = Field(default=_DEPLOYED["ivr_budget_ms"].default, ge=100, le=ANSWER_BUDGET_MS)


def widen_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``RINGBACK_ROUTING_BUDGET_MS`` and ``RINGBACK_IVR_BUDGET_MS`` reach the roomy value.

    Both readers are widened: the lean one the call-path functions use and the pydantic one.
    """
    from ringback.adapters import lean_settings

    for field in ("routing_budget_ms", "ivr_budget_ms"):
        low, _ = lean_settings._BOUNDS[field]
        monkeypatch.setitem(lean_settings._BOUNDS, field, (low, ANSWER_BUDGET_MS))
    monkeypatch.setattr(config, "Settings", RoomySettings)
    config.get_settings.cache_clear()
