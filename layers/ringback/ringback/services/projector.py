"""Apply a logged event to the projections.

Used inline by ingest right after the log write, by the stream-driven ProjectorFunction (which
re-applies every logged event, so a projection write that failed after the log write is not
lost) and by the rebuild command. Every write is idempotent and commutative, so applying an
event twice, late, or out of order changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.events import projections as p
from ringback.domain.events.agent import SobotMessage
from ringback.domain.events.attempts import attempt_records
from ringback.domain.events.envelope import EventSource, LoggedEvent
from ringback.domain.events.webitel import AGENT_STATUS, CALL_EVENTS, WebitelEvent
from ringback.domain.events.widget import WidgetEvent
from ringback.domain.phones import InvalidPhone, parse_phone
from ringback.observability import logger
from ringback.ports.projections import CallbackStatusStore, Projections

CLOSED_BY_CALL_IN = "the customer called in and reached an agent"


class Projector:
    def __init__(
        self, projections: Projections, callbacks: CallbackStatusStore, *, zone: ZoneInfo, default_region: str
    ) -> None:
        self._projections = projections
        self._callbacks = callbacks
        self._zone = zone
        self._region = default_region

    # -- planning (pure) --------------------------------------------------------------------

    def plan(self, event: LoggedEvent) -> p.ProjectionPlan:
        """Everything ``event`` changes, as data. Unknown event types change nothing."""
        try:
            if event.source is EventSource.WEBITEL:
                return self._plan_webitel(event, WebitelEvent.model_validate(event.payload))
            if event.source is EventSource.WIDGET:
                return self._plan_widget(event, WidgetEvent.model_validate(event.payload))
            SobotMessage.model_validate(event.payload)
            return p.ProjectionPlan(registers=tuple(p.agent_updates(event)))
        except ValidationError:
            # Stored payloads were validated on the way in; one that no longer parses (a model
            # changed since) is kept in the log and skipped here, not retried forever.
            logger.warning(
                "logged event no longer parses; not projected",
                extra={"event_id": event.event_id, "event_type": event.event_type},
            )
            return p.ProjectionPlan()

    def _plan_webitel(self, event: LoggedEvent, hook: WebitelEvent) -> p.ProjectionPlan:
        if hook.event == AGENT_STATUS:
            return p.ProjectionPlan(registers=tuple(p.agent_updates(event)))
        if hook.event not in CALL_EVENTS:
            return p.ProjectionPlan()
        records: list[p.ProjectionRecord] = []
        advances: list[p.CallbackAdvance] = []
        closures: list[p.InboundClosure] = []
        fact = p.call_fact(event, hook)
        if fact is not None:
            records.append(fact)
        callback_id = hook.callback_id
        if callback_id:
            status, reason = p.callback_status_of(hook)
            records.append(
                p.timeline_record(
                    callback_id,
                    event,
                    kind=hook.event,
                    status=status,
                    reason=reason or hook.event,
                    call_uuid=hook.call_uuid,
                    agent=hook.agent_key,
                )
            )
            records.extend(attempt_records(callback_id, hook.event, event, self._zone))  # the console's SLA
            if status is not None:
                advances.append(
                    p.CallbackAdvance(callback_id, status, event.occurred_at, reason, event.event_id)
                )
            if hook.event == "bridged":
                day = p.funnel_day(event.occurred_at, self._zone)
                records.append(p.funnel_record(day, hook.provider or "unknown", "connected", callback_id))
        elif hook.event == "bridged" and hook.direction == "inbound" and hook.customer_number:
            try:
                number = parse_phone(hook.customer_number, self._region)
            except InvalidPhone:
                number = None
            if number is not None:
                closures.append(
                    p.InboundClosure(number.e164, event.occurred_at, hook.call_uuid, event.event_id)
                )
        return p.ProjectionPlan(records=tuple(records), advances=tuple(advances), closures=tuple(closures))

    def _plan_widget(self, event: LoggedEvent, widget: WidgetEvent) -> p.ProjectionPlan:
        records: list[p.ProjectionRecord] = []
        mark = p.widget_funnel_record(event, widget, self._zone)
        if mark is not None:
            records.append(mark)
        if widget.request_id and widget.known:
            records.append(
                p.timeline_record(
                    widget.request_id,
                    event,
                    kind=widget.event,
                    status=None,
                    reason=f"{widget.provider} widget",
                )
            )
        return p.ProjectionPlan(records=tuple(records))

    # -- execution --------------------------------------------------------------------------

    def apply(self, event: LoggedEvent) -> p.ProjectionPlan:
        """Apply every part of the plan (stream and rebuild)."""
        plan = self.plan(event)
        if plan.records:
            self._projections.put_records(plan.records)
        self.apply_guarded(plan)
        return plan

    def apply_guarded(self, plan: p.ProjectionPlan) -> None:
        """The conditional parts: agent registers, callback advances and inbound closures."""
        for update in plan.registers:
            self._projections.update_register(update)
        for advance in plan.advances:
            self._callbacks.advance(advance)
        for closure in plan.closures:
            self._close_open_requests(closure)

    def _close_open_requests(self, closure: p.InboundClosure) -> None:
        for callback_id in self._callbacks.open_requests_for_phone(closure.e164, closure.at):
            self._callbacks.advance(
                p.CallbackAdvance(
                    callback_id, CallbackStatus.COMPLETED, closure.at, CLOSED_BY_CALL_IN, closure.event_id
                )
            )
            marker = LoggedEvent(
                source=EventSource.WEBITEL,
                event_type="bridged",
                event_id=closure.event_id,
                known=True,
                occurred_at=closure.at,
                received_at=closure.at,
            )
            self._projections.put_records(
                [
                    p.timeline_record(
                        callback_id,
                        marker,
                        kind="inbound_bridged",
                        status=CallbackStatus.COMPLETED,
                        reason=CLOSED_BY_CALL_IN,
                        call_uuid=closure.call_uuid,
                    )
                ]
            )
            logger.info("callback request closed by an inbound call", extra={"callback_id": callback_id})

    def apply_all(self, events: Iterable[LoggedEvent]) -> int:
        count = 0
        for event in events:
            self.apply(event)
            count += 1
        return count


def rebuild(
    events: Iterable[LoggedEvent], projector: Projector, projections: Projections, *, clean: bool = False
) -> dict[str, int]:
    """Rebuild every projection from the log. With ``clean``, drop the projection records first
    (needed after a change to how events are projected; otherwise re-applying is enough)."""
    cleared = projections.clear() if clean else 0
    applied = projector.apply_all(events)
    logger.info("projections rebuilt", extra={"events": applied, "cleared": cleared})
    return {"events": applied, "cleared": cleared}
