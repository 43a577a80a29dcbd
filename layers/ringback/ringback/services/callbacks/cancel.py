"""Read, authorise and cancel a request (``GET``/``DELETE /v1/callbacks/{id}``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ringback.domain.callback_status import TERMINAL, CallbackStatus
from ringback.domain.callbacks import CallbackRecord, CallbackView, CancelResult
from ringback.domain.errors import Conflict, NotFound
from ringback.domain.outbox import OutboxEntry
from ringback.domain.selfservice import verify
from ringback.observability import logger, metrics
from ringback.ports.callbacks import WriteRefused
from ringback.services.callbacks.core import CANCELLABLE, CallbackCore, safe_update, slot_booking, view_of
from ringback.services.member_stops import settle_now


def get(core: CallbackCore, callback_id: str) -> CallbackView:
    record = core.repo.get(callback_id)
    if record is None:
        raise NotFound("no such callback request")
    return view_of(record)


def authorize(core: CallbackCore, callback_id: str, token: str | None) -> None:
    """A valid, unexpired self-service token for this request, or Forbidden."""
    verify(core.keys(), token, callback_id, core.clock.now())


def cancel(core: CallbackCore, callback_id: str) -> CancelResult:
    """Cancel (the caller is authorised). Idempotent: cancelling again finishes a pending stop."""
    config = core.config.load()
    now = core.clock.now()
    for _ in range(3):
        record = core.repo.get(callback_id)
        if record is None:
            raise NotFound("no such callback request")
        if record.status == CallbackStatus.CANCELLED:
            # A repeated cancel: cancel the entry again (harmless; it arms a stop order that a
            # cancel which died after the request's write did not get to).
            return finish_cancel(core, record, _cancel_entry(core, record))
        if record.status in TERMINAL or record.status not in CANCELLABLE:
            raise Conflict(f"the callback request is already {record.status.value}")
        # The request first, conditionally on the status read: cancelling the entry first could
        # stop the member of a call that connected meanwhile. A member already in Webitel gets
        # a *tentative* stop order before it, carried out by the schedule only if the request
        # is cancelled (so a crash between the two writes still stops it), void otherwise. A
        # pending entry of a cancelled request is cancelled by the dialer's re-check.
        _arm_tentative_stop(core, record, now)
        try:
            cancelled = core.repo.cancel(record, now=now, slot=slot_booking(config, record.slot_start))
        except WriteRefused:
            continue  # its status moved meanwhile: look again
        entry = _cancel_entry(core, record)
        metrics.add_metric(name="CallbackCancelled", unit="Count", value=1)
        return finish_cancel(core, cancelled, entry)
    raise Conflict("the callback request is changing right now; please try again")


def finish_cancel(core: CallbackCore, record: CallbackRecord, entry: OutboxEntry | None) -> CancelResult:
    """The Webitel side of a cancel: the outbox cancel armed a stop order for a member that
    may be in Webitel; try it now. What Webitel does not confirm stays for the dialer
    schedule (and a repeated DELETE tries again)."""
    if record.call_id is not None:
        return CancelResult(
            id=record.id,
            status=record.status,
            webitel="not_applicable",
            message="cancelled; a direct call that already rang cannot be recalled",
        )
    try:
        entry = core.outbox.get(record.outbox_entry_id)
    except Exception:
        # Unreadable now: a member that may be in Webitel got its stop order with the cancel.
        if entry is not None and entry.may_be_in_webitel:
            entry = entry.model_copy(update={"member_stop": "pending"})
    if entry is None or (entry.member_stop is None and entry.webitel_member_id is None):
        return CancelResult(
            id=record.id,
            status=record.status,
            webitel="not_uploaded",
            message="cancelled before it reached the dialer",
        )
    if entry.member_stop == "pending" and not settle_now(core.outbox, core.webitel(), entry.entry_id):
        safe_update(core, record.id, webitel_stop_pending=True)
        return CancelResult(
            id=record.id,
            status=record.status,
            webitel="stop_pending",
            message="cancelled; the dialer stops the member in Webitel as soon as it can be reached",
        )
    if record.webitel_stop_pending:
        safe_update(core, record.id, webitel_stop_pending=False)
    return CancelResult(
        id=record.id,
        status=record.status,
        webitel="stopped",
        message="cancelled and removed from the dialer",
    )


def _cancel_entry(core: CallbackCore, record: CallbackRecord) -> OutboxEntry | None:
    try:
        return core.outbox.cancel(record.outbox_entry_id, reason="cancelled by the customer")
    except Exception:
        logger.exception("outbox cancel failed", extra={"callback_id": record.id})
        return None


_TENTATIVE_STOP_DELAY = timedelta(minutes=2)


def _arm_tentative_stop(core: CallbackCore, record: CallbackRecord, now: datetime) -> None:
    try:
        core.outbox.arm_stop(record.outbox_entry_id, due=now + _TENTATIVE_STOP_DELAY)
    except Exception:
        logger.exception("could not arm a tentative stop", extra={"callback_id": record.id})
