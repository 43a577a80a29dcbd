"""Refresh the IVR offer snapshot (``domain.ivr.OfferSnapshot``) every container shares.

Run by the IVR function's schedule (template.yaml ``IvrOfferSchedule``, every minute): one
request to Webitel's general queue report for the routing flow's inbound queues and the IVR
callback queue, and one write of the GuardTable item the routing lookup reads with the caller's
entry. The snapshot also carries the operator's opening windows of the next two days (as epoch
milliseconds) so the routing lookup decides "in hours" without the operator config.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ringback.domain import schedule
from ringback.domain.ivr import PROMPT_KEYS, SNAPSHOT_KEY, OfferSnapshot, QueueWait, estimate_wait_s
from ringback.domain.operator_config import OperatorConfig
from ringback.observability import logger, metrics
from ringback.ports.clock import Clock
from ringback.ports.rate_limits import SharedCache
from ringback.ports.webitel import QueueWaits

SNAPSHOT_TTL_S = 3600


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def build_snapshot(
    config: OperatorConfig, waits: dict[str, tuple[int, float]] | None, now: datetime
) -> OfferSnapshot:
    """The snapshot of one report (``waits`` None: Webitel did not answer)."""
    policy = config.ivr_callback
    queues: dict[str, QueueWait] = {}
    for queue_id, (waiting, avg_asa) in (waits or {}).items():
        queues[queue_id] = QueueWait(waiting=waiting, wait_s=estimate_wait_s(waiting, avg_asa))
    callback = queues.get(config.ivr_callback_queue_id)
    capacity = max(policy.max_open - callback.waiting, 0) if callback is not None else None
    local = now.astimezone(config.zone).date()
    windows = tuple(
        (_ms(window.opens), _ms(window.closes))
        for day in (local - timedelta(days=1), local, local + timedelta(days=1), local + timedelta(days=2))
        for window in schedule.windows_on(config, day)
    )
    return OfferSnapshot(
        fetched_at_ms=_ms(now),
        enabled=policy.enabled,
        offer_after_s=policy.offer_after_s,
        queues=queues,
        branch_queues={str(k): v for k, v in config.inbound_queue_by_branch().items()},
        open_windows=windows,
        capacity_left=capacity,
        default_language=policy.default_language,
        say={
            lang: {key: text for key, text in texts.items() if key in PROMPT_KEYS}
            for lang, texts in policy.say.items()
            if any(key in PROMPT_KEYS for key in texts)
        },
    )


def refresh_offer_snapshot(
    config: OperatorConfig, webitel: QueueWaits | None, cache: SharedCache, clock: Clock
) -> OfferSnapshot:
    """Read Webitel's report and write the snapshot; a Webitel failure writes one without waits
    (routing then answers no wait and no offer rather than an old one)."""
    now = clock.now()
    wanted = sorted({*config.inbound_queue_ids, config.ivr_callback_queue_id})
    waits: dict[str, tuple[int, float]] | None = None
    if webitel is not None and config.ivr_callback.enabled:
        try:
            waits = webitel.queue_waits(wanted)
        except Exception as error:
            metrics.add_metric(name="IvrOfferStatsFailed", unit="Count", value=1)
            logger.warning("ivr offer: queue report failed", extra={"error_type": type(error).__name__})
    snapshot = build_snapshot(config, waits, now)
    cache.write(SNAPSHOT_KEY, snapshot.to_json(), now=now, ttl_s=SNAPSHOT_TTL_S)
    logger.info(
        "ivr offer snapshot written",
        extra={"queues": sorted(snapshot.queues), "capacity_left": snapshot.capacity_left},
    )
    return snapshot
