"""Apply a logged event to the projections.

The one writer of projections: the stream-driven ProjectorFunction applies every logged event
(ingest only writes the log), and the rebuild command re-applies the whole log. Every write is idempotent and commutative, so applying an
event twice, late, or out of order changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.events import console_rows as rows
from ringback.domain.events import projections as p
from ringback.domain.events.agent import SobotMessage
from ringback.domain.events.attempts import attempt_records
from ringback.domain.events.envelope import EventSource, LoggedEvent
from ringback.domain.events.webitel import AGENT_STATUS, CALL_EVENTS, WebitelEvent
from ringback.domain.events.widget import WidgetEvent
from ringback.domain.phones import InvalidPhone, parse_phone
from ringback.observability import logger
from ringback.ports.outbox import DialerOutbox
from ringback.ports.projections import CallbackStatusStore, Projections

CLOSED_BY_CALL_IN = rows.CLOSED_BY_CALL_IN


class Projector:
    def __init__(
        self,
        projections: Projections,
        callbacks: CallbackStatusStore,
        *,
        zone: ZoneInfo,
        default_region: str,
        inbound_queues: Callable[[], frozenset[str]] = frozenset,
        outbox: DialerOutbox | None = None,
    ) -> None:
        self._projections = projections
        self._callbacks = callbacks
        # Where a closed request's entries are cancelled (and stop orders armed for members
        # already in Webitel). Without it (the inline ingest path) the stream projector does it:
        # ``requests_to_close`` also finds the requests this event closed before.
        self._outbox = outbox
        self._zone = zone
        self._region = default_region
        # The operator config's inbound queues: Webitel's queue hooks carry no direction, so a
        # call event of one of these queues is an inbound call (docs/webitel-contract.md).
        self._inbound_queues = inbound_queues

    def _is_inbound(self, hook: WebitelEvent) -> bool:
        if hook.direction:
            return hook.direction == "inbound"
        return bool(hook.queue_key) and hook.queue_key in self._inbound_queues()

    # -- planning (pure) --------------------------------------------------------------------

    def plan(self, event: LoggedEvent) -> p.ProjectionPlan:
        """Everything ``event`` changes, as data. Unknown event types change nothing."""
        try:
            if event.source is EventSource.WEBITEL:
                return self._plan_webitel(event, WebitelEvent.model_validate(event.payload))
            if event.source is EventSource.WIDGET:
                return self._plan_widget(event, WidgetEvent.model_validate(event.payload))
            SobotMessage.model_validate(event.payload)
            return self._plan_agent(event)
        except ValidationError:
            # Stored payloads were validated on the way in; one that no longer parses (a model
            # changed since) is kept in the log and skipped here, not retried forever.
            logger.warning(
                "logged event no longer parses; not projected",
                extra={"event_id": event.event_id, "event_type": event.event_type},
            )
            return p.ProjectionPlan()

    def _plan_agent(self, event: LoggedEvent) -> p.ProjectionPlan:
        """The agent's registers (status now), and its status change on the day's timeline."""
        updates = tuple(p.agent_updates(event))
        registers, facts = rows.agent_writes(updates, self._zone)
        return p.ProjectionPlan(registers=updates, counted_registers=tuple(registers), counted=tuple(facts))

    def _plan_webitel(self, event: LoggedEvent, hook: WebitelEvent) -> p.ProjectionPlan:
        if hook.event == AGENT_STATUS:
            return self._plan_agent(event)
        if hook.event not in CALL_EVENTS:
            return p.ProjectionPlan()
        records: list[p.ProjectionRecord] = []
        advances: list[p.CallbackAdvance] = []
        closures: list[p.InboundClosure] = []
        counted: list[rows.CountedRecord] = []
        row_writes: list[rows.RowWrite] = []
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
            attempts = attempt_records(callback_id, hook.event, event, self._zone)
            records.extend(attempts)
            if attempts:  # the console's service level: the request's first attempt that day
                row_writes.append(rows.first_attempt(callback_id, event.occurred_at, self._zone))
            if status is not None:
                advances.append(
                    p.CallbackAdvance(callback_id, status, event.occurred_at, reason, event.event_id)
                )
            if hook.event == "bridged":
                day = p.funnel_day(event.occurred_at, self._zone)
                counted.append(rows.counted_funnel(day, hook.provider or "unknown", "connected", callback_id))
        elif hook.event == "bridged" and hook.customer_number and self._is_inbound(hook):
            try:
                number = parse_phone(hook.customer_number, self._region)
            except InvalidPhone:
                number = None
            if number is not None:
                closures.append(
                    p.InboundClosure(number.e164, event.occurred_at, hook.call_uuid, event.event_id)
                )
        return p.ProjectionPlan(
            records=tuple(records),
            advances=tuple(advances),
            closures=tuple(closures),
            counted=tuple(counted),
            row_writes=tuple(row_writes),
        )

    def _plan_widget(self, event: LoggedEvent, widget: WidgetEvent) -> p.ProjectionPlan:
        records: list[p.ProjectionRecord] = []
        counted: list[rows.CountedRecord] = []
        mark = p.widget_funnel_record(event, widget, self._zone)
        if mark is not None:
            counted.append(
                rows.counted_funnel(mark.data["day"], widget.provider, mark.data["stage"], event.event_id)
            )
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
        return p.ProjectionPlan(records=tuple(records), counted=tuple(counted))

    # -- execution --------------------------------------------------------------------------

    def apply(self, event: LoggedEvent) -> p.ProjectionPlan:
        """Apply every part of the plan (stream and rebuild)."""
        plan = self.plan(event)
        if plan.records:
            self._projections.put_records(plan.records)
        self.apply_guarded(plan)
        # The console's aggregates last: the other views do not wait for them (all idempotent,
        # so a failure here retries the whole record harmlessly).
        for counted in plan.counted:
            self._projections.put_counted(counted)
        for row in plan.row_writes:
            self._projections.write_row(row)
        for register in plan.counted_registers:
            self._projections.update_register_counted(register)
        return plan

    def apply_request(self, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None = None) -> bool:
        """Project one stored image of a callback request (the CallbacksTable's stream, or the
        rebuild reading the table) into the console's rows; a removal (``new`` None) deletes
        them. Returns False for an item that is not a request."""
        if new is None:
            writes = rows.removed_rows(old or {}, self._zone)
            counted: list[rows.CountedRecord] = []
        else:
            writes, counted = rows.request_rows(new, self._zone)
        for write in writes:  # the day row first: it guards the board row
            if isinstance(write, rows.RowWrite):
                self._projections.write_row(write)
            else:
                self._projections.write_board(write)
        for record in counted:
            self._projections.put_counted(record)
        return bool(writes)

    def apply_guarded(self, plan: p.ProjectionPlan) -> None:
        """The conditional parts: agent registers, callback advances and inbound closures."""
        for update in plan.registers:
            self._projections.update_register(update)
        for advance in plan.advances:
            self._callbacks.advance(advance)
        for closure in plan.closures:
            self._close_open_requests(closure)

    def _close_open_requests(self, closure: p.InboundClosure) -> None:
        """The customer called in and reached an agent: their open requests are completed, their
        outbox entries cancelled, and members already in Webitel get stop orders (the dialer
        schedule stops them; the projector holds no Webitel token). Every step is idempotent, so
        the stream's retry of a failed application finishes it."""
        for request in self._callbacks.requests_to_close(closure.e164, closure.at, closure.event_id):
            callback_id = request.callback_id
            self._callbacks.advance(
                p.CallbackAdvance(
                    callback_id, CallbackStatus.COMPLETED, closure.at, CLOSED_BY_CALL_IN, closure.event_id
                )
            )
            if self._outbox is not None:
                for entry_id in request.entry_ids:
                    self._outbox.cancel(entry_id, reason=CLOSED_BY_CALL_IN)
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
    events: Iterable[LoggedEvent],
    projector: Projector,
    projections: Projections,
    *,
    clean: bool = False,
    requests: Iterable[Mapping[str, Any]] = (),
) -> dict[str, int]:
    """Rebuild every projection from the log, and the console's request rows from the stored
    requests (``requests``: the CallbacksTable's items). With ``clean``, drop the projection
    records first (needed after a change to how events are projected; otherwise re-applying is
    enough)."""
    cleared = projections.clear() if clean else 0
    applied = projector.apply_all(events)
    projected = sum(1 for item in requests if projector.apply_request(item))
    logger.info("projections rebuilt", extra={"events": applied, "cleared": cleared, "requests": projected})
    return {"events": applied, "cleared": cleared, "requests": projected}
