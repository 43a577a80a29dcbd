"""Direct mode: a ``now`` request placed as a click-to-call from the operator's extension, with
its queue entry as the safety net (cancelled once the call is placed)."""

from __future__ import annotations

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import CallbackRecord, member_variables
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.webitel import CallParams, CreateCallRequest, WebitelUnavailable
from ringback.observability import logger, metrics
from ringback.services.callbacks.core import CallbackCore, ms


def direct_call(core: CallbackCore, record: CallbackRecord, config: OperatorConfig) -> CallbackRecord | None:
    policy = config.callbacks
    params = CallParams(
        timeout=policy.direct_ring_timeout_seconds,
        display=policy.direct_display_text,
        variables=member_variables(record, record.outbox_entry_id),
    )
    try:
        call_id = core.webitel().create_call(
            CreateCallRequest.from_extension(config.direct_from_extension, record.phone, params)
        )
    except Exception as error:
        if isinstance(error, WebitelUnavailable) and error.may_have_committed:
            # Webitel may have placed the call: ringing the queue now could call the visitor
            # twice. The safety-net entry stays pending (due later); the uploader sends it.
            logger.warning(
                "direct call outcome unknown; the queue entry stays as the safety net",
                extra={"callback_id": record.id, "error_type": type(error).__name__},
            )
            metrics.add_metric(name="CallbackDirectUncertain", unit="Count", value=1)
            return record
        logger.warning(
            "direct call failed; falling back to the queue",
            extra={"callback_id": record.id, "error_type": type(error).__name__},
        )
        metrics.add_metric(name="CallbackDirectFallback", unit="Count", value=1)
        return None
    # The safety-net entry must not ring the visitor a second time: one retry on a fault.
    for attempt in (1, 2):
        try:
            core.outbox.cancel(record.outbox_entry_id, reason="direct call placed")
            break
        except Exception:
            if attempt == 2:
                logger.exception(
                    "direct call placed but its queue entry not cancelled",
                    extra={"callback_id": record.id},
                )
                metrics.add_metric(name="CallbackDirectCancelFailed", unit="Count", value=1)
    try:
        core.repo.update(record.id, call_id=call_id)
        core.repo.advance_status(record.id, CallbackStatus.DIALING, ms(core.clock.now()))
    except Exception:
        logger.exception("direct call placed but not recorded", extra={"callback_id": record.id})
    logger.info("direct call placed", extra={"callback_id": record.id})
    return record.model_copy(update={"call_id": call_id, "status": CallbackStatus.DIALING})
