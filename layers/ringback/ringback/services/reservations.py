"""Slot places a dead submit, cancel or reschedule left taken are given back by the callbacks
dialer schedule: each place names its holder (``<created epoch s>#<request id>``), and a hold
older than the grace whose request was never stored, was cancelled, or moved to another slot is
released (exactly once: the release is conditional on the holder still being there)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from ringback.domain.operator_config import OperatorConfig
from ringback.observability import logger, metrics
from ringback.ports.clock import Clock

# Far longer than a submit runs (the function's timeout is 10 s).
GRACE_S = 120


class SlotHolds(Protocol):
    def sweep_slot_holds(self, days: Sequence[str], *, older_than: datetime) -> int: ...


def sweep_slot_holds(
    holds: SlotHolds, clock: Clock, config: OperatorConfig, *, grace_s: int = GRACE_S
) -> int:
    now = clock.now()
    today = now.astimezone(config.zone).date()
    days = [(today + timedelta(days=d)).isoformat() for d in range(-2, config.booking_horizon_days + 2)]
    given = holds.sweep_slot_holds(days, older_than=now - timedelta(seconds=grace_s))
    if given:
        logger.warning("gave back slot places left by requests never stored", extra={"places": given})
        metrics.add_metric(name="CallbackSlotHoldsReleased", unit="Count", value=given)
    return given
