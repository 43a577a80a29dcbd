"""DialerFunction: EventBridge Scheduler runs ``{"job": "callbacks" | "campaigns"}`` -> one upload run.

Returns the run's receipt summary. Raises only for failures people must fix (a bad event,
Webitel refusing the token or answering off-contract, AWS errors), so the schedule's retry
policy and dead-letter queue apply; a Webitel outage is not one of them (the outbox keeps
everything and the next run retries with backoff; the pending-age alarm watches it).

Admin actions (``aws lambda invoke``; locally ``ringback redrive``):
``{"action": "redrive", "entry_ids": [...], "fixes": {"<entry_id>": {member fields}}}``,
``{"action": "receipts", "limit": 10}``, ``{"action": "receipt", "run_id": "..."}``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ringback.adapters import dialer_factory as factory
from ringback.adapters.clock import SystemClock
from ringback.domain.receipts import Receipt
from ringback.observability import logger, metrics
from ringback.services.dialer_upload import JOBS, UploadFailed, UploadSettings, redrive, run_upload

# Metric names per job, so each has its own alarm threshold (template.yaml).
_AGE_METRIC = {"callbacks": "DialerCallbacksOldestPendingAge", "campaigns": "DialerCampaignsOldestPendingAge"}


def _upload_settings(time_left_s: float) -> UploadSettings:
    s = factory.settings()
    # Keep room for one more batch (a bulk, its bisection, the outbox writes) before the
    # function's timeout: 30 s of the 120 s, proportionally less for shorter timeouts.
    return UploadSettings(
        batch_size=s.dialer_batch_size,
        lease_s=s.dialer_lease_s,
        backoff_base_s=s.dialer_backoff_base_s,
        backoff_max_s=s.dialer_backoff_max_s,
        reserve_s=min(30.0, time_left_s / 4),
    )


def _emit(job: str, receipt: Receipt) -> None:
    totals = receipt.totals()
    for name in (
        "delivered",
        "reconciled",
        "rejected",
        "expired",
        "deferred",
        "outside_window",
        "dnc_suppressed",
        "duplicates_in_webitel",
    ):
        metrics.add_metric(
            name=f"Dialer{name.title().replace('_', '')}", unit=MetricUnit.Count, value=totals.get(name, 0)
        )
    metrics.add_metric(
        name=_AGE_METRIC[job], unit=MetricUnit.Seconds, value=receipt.oldest_pending_age_s or 0
    )


def _admin(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    if action == "redrive":
        ids = event.get("entry_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ValueError("redrive needs entry_ids: a non-empty list of strings")
        return {"results": redrive(factory.outbox(), ids, SystemClock(), member_fixes=event.get("fixes"))}
    if action == "receipts":
        return {"receipts": [r.summary() for r in factory.receipts().recent(int(event.get("limit", 10)))]}
    if action == "receipt":
        receipt = factory.receipts().get(str(event.get("run_id")))
        return {
            "receipt": receipt.model_dump(mode="json") if receipt else None,
            "text": receipt.render_text() if receipt else "no such run",
        }
    if action == "rejected":
        return {
            "rejected": [
                {
                    "entry_id": e.entry_id,
                    "source_id": e.source_id,
                    "file": e.file_name,
                    "line": e.line,
                    "reason": e.last_error,
                }
                for e in factory.outbox().rejected(int(event.get("limit", 100)))
            ]
        }
    raise ValueError(f"unknown action {action!r}")


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "action" in event:
        return _admin(event)
    job = event.get("job")
    if job not in JOBS:
        raise ValueError(f'the schedule\'s input must be {{"job": "callbacks" | "campaigns"}}, got {job!r}')
    try:
        receipt = run_upload(
            job,
            factory.outbox(),
            factory.webitel(),
            SystemClock(),
            factory.config_source().load(),
            factory.owner_id(),
            settings=_upload_settings(context.get_remaining_time_in_millis() / 1000),
            dnc=factory.dnc(),
            receipts=factory.receipts(),
            # Callback requests follow their entries: delivered -> queued, rejected -> failed,
            # expired -> expired (the event fan-out's conditional update; releases the lock).
            callback_status=factory.callback_status(),
            # A closed request is never dialled: its state is re-read before each send.
            callback_states=factory.callback_status(),
            # Erasures whose Webitel part failed are retried by the callbacks schedule.
            erasures=factory.erasures() if job == "callbacks" else None,
            # Slot places a dead submit left taken are given back (services.reservations).
            slot_holds=factory.callbacks_table() if job == "callbacks" else None,
            time_left_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    except UploadFailed as failed:
        _emit(job, failed.receipt)
        raise
    _emit(job, receipt)
    return receipt.summary()
