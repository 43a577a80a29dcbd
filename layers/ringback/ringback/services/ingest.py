"""Accept events from Webitel, website widgets and the agent desktop: validate, log exactly
once. Projections are not written here.

* A body is one event (object) or a batch (array of 1..``max_batch`` objects). A batch is
  validated as a whole first: if any item is bad, nothing is stored and the 422 names each bad
  field as ``[index].field``, so the sender can fix and resend the batch.
* Each event is appended to the event log with a conditional write on its source identity
  (``LoggedEvent.event_id``); a redelivery changes nothing and is reported as ``duplicate``
  with a 2xx.
* Unknown event types are valid: they are logged and kept (and counted by the caller's metric).
* One synchronous write per event: the event-log write is the commit point and the sender's
  2xx follows it. The projections come from one place, the stream-driven ProjectorFunction
  (``services.projector``), which applies every logged event idempotently (locally the stream
  poller of ``devstack.streams`` drives it). Reads of a projection therefore trail the log by
  the stream's lag (p50/p99 in ``bench/events.py``); nothing in the request path reads a
  projection right after writing an event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from ringback.api.errors import validation_problems
from ringback.domain.consent import keyed_hash
from ringback.domain.errors import FieldProblem, Forbidden, PayloadTooLarge, RateLimited, Unprocessable
from ringback.domain.events.agent import SobotMessage
from ringback.domain.events.envelope import EventSource, LoggedEvent, canonical, identity, mask_phone_fields
from ringback.domain.events.webitel import WebitelEvent
from ringback.domain.events.widget import WidgetEvent
from ringback.observability import logger
from ringback.ports.clock import Clock
from ringback.ports.event_guard import RateLimiter
from ringback.ports.event_log import EventLog
from ringback.ports.operator_config import OperatorConfigSource

MAX_BATCH: Final = 100
# A sender's clock may run ahead; an event never happens after it reaches us (5 min of slack).
_MAX_FUTURE_MS: Final = 5 * 60 * 1000

_MODELS: Final[dict[EventSource, type[WebitelEvent] | type[WidgetEvent] | type[SobotMessage]]] = {
    EventSource.WEBITEL: WebitelEvent,
    EventSource.WIDGET: WidgetEvent,
    EventSource.AGENT: SobotMessage,
}


@dataclass(frozen=True)
class Outcome:
    event_id: str
    event_type: str
    known: bool
    duplicate: bool


@dataclass
class IngestResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.outcomes if not o.duplicate)

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o.duplicate)

    @property
    def unknown(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.known and not o.duplicate]

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "events": [
                {
                    "event_id": o.event_id,
                    "event": o.event_type,
                    "known": o.known,
                    "status": "duplicate" if o.duplicate else "accepted",
                }
                for o in self.outcomes
            ],
        }


def _items(body: Any, max_batch: int) -> tuple[list[Any], bool]:
    if isinstance(body, dict):
        return [body], False
    if isinstance(body, list):
        if not body:
            raise Unprocessable("an empty batch", fields=(FieldProblem("body", "send at least one event"),))
        if len(body) > max_batch:
            raise PayloadTooLarge(f"a batch holds at most {max_batch} events")
        return body, True
    raise Unprocessable(
        "the body must be an event object or an array of them",
        fields=(FieldProblem("body", "must be a JSON object or an array of objects"),),
    )


def _named(problem: FieldProblem, index: int | None) -> FieldProblem:
    if index is None:
        return problem
    return FieldProblem(
        f"[{index}].{problem.field}" if problem.field != "body" else f"[{index}]", problem.message
    )


class Ingest:
    def __init__(self, log: EventLog, clock: Clock, *, max_batch: int = MAX_BATCH) -> None:
        self._log = log
        self._clock = clock
        self._max_batch = max_batch

    def parse(self, source: EventSource, body: Any) -> list[BaseModel]:
        """Validate a whole body; raise one 422 naming every bad field of every item."""
        items, batch = _items(body, self._max_batch)
        model = _MODELS[source]
        parsed: list[BaseModel] = []
        problems: list[FieldProblem] = []
        for index, item in enumerate(items):
            position = index if batch else None
            if not isinstance(item, dict):
                problems.append(_named(FieldProblem("body", "must be a JSON object"), position))
                continue
            try:
                event = model.model_validate(item)
            except ValidationError as error:
                errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
                problems.extend(_named(p, position) for p in validation_problems(errors))
                continue
            problems.extend(_named(p, position) for p in event.problems())
            parsed.append(event)
        if problems:
            raise Unprocessable("some fields are not valid", fields=tuple(problems))
        return parsed

    def ingest(self, source: EventSource, events: Sequence[BaseModel]) -> IngestResult:
        """Log each event once (one conditional write each); the stream projects it."""
        now = self._clock.now()
        received = int(now.timestamp() * 1000)
        arrival_us = int(now.timestamp() * 1_000_000)
        result = IngestResult()
        for position, model in enumerate(events):
            logged = to_logged(source, model, received, position, arrival_us=arrival_us)
            new = self._log.append(logged)
            result.outcomes.append(Outcome(logged.event_id, logged.event_type, logged.known, not new))
            if new and not logged.known:
                logger.warning(
                    "unknown event type stored",
                    extra={"source": source.value, "event_type": logged.event_type},
                )
        return result


def to_logged(
    source: EventSource,
    model: BaseModel,
    received_at: int,
    position: int = 0,
    *,
    arrival_us: int | None = None,
) -> LoggedEvent:
    """The normalised log entry of a validated event.

    A Webitel body without ``timestamp`` (the team hook ``agent_status`` never has one; the
    integration guide's body neither) is ordered by its arrival: ``occurred_at`` is the arrival
    time (plus its position in a batch, so a batch keeps its order), and the arrival (in
    microseconds, and the position) is part of its identity, so online -> pause -> online are
    three changes, never a "duplicate". Webitel's ``httpRequest`` does not retry
    (webitel/flow_manager ``flow/http.go``), so no redelivery is mistaken for a new event.
    """
    arrival: int | None = None
    if isinstance(model, WebitelEvent):
        event_type, known, parts = model.event, model.known, model.identity_parts()
        occurred = model.occurred_at()
        payload = canonical(model.model_dump(mode="json"))
        if not model.has_sender_time:
            arrival = received_at + position
            arrived = arrival_us if arrival_us is not None else received_at * 1000
            parts = {**parts, "ringback_arrival": f"{arrived}.{position}"}
    elif isinstance(model, WidgetEvent):
        event_type, known, parts = model.event, model.known, model.identity_parts()
        occurred = model.occurred_at
        payload = canonical(model.stored_payload())
    elif isinstance(model, SobotMessage):
        event_type, known, parts = model.messageID, model.known, model.identity_parts()
        occurred = model.occurred_at()
        payload = canonical(mask_phone_fields(model.model_dump(mode="json")))
    else:  # pragma: no cover - the models above are the only ones parse() produces
        raise TypeError(type(model).__name__)
    if arrival is not None and (occurred is None or occurred > received_at + _MAX_FUTURE_MS):
        occurred = arrival
    elif occurred is None or occurred > received_at + _MAX_FUTURE_MS:
        occurred = received_at
    return LoggedEvent(
        source=source,
        event_type=event_type,
        event_id=identity(source, parts),
        known=known,
        occurred_at=occurred,
        received_at=received_at,
        payload=payload,
    )


@dataclass(frozen=True)
class WidgetLimits:
    allowed_origins: tuple[str, ...]
    per_minute: int = 120


class WidgetGuard:
    """The public endpoint's protection: origin allow-list, per-IP rate limit, site keys."""

    def __init__(
        self,
        limiter: RateLimiter,
        config: OperatorConfigSource,
        clock: Clock,
        limits: WidgetLimits,
        *,
        ip_key: Callable[[], str],
    ) -> None:
        self._limiter = limiter
        self._config = config
        self._clock = clock
        self._limits = limits
        self._ip_key = ip_key  # the secret key of the stored addresses' keyed hashes

    def admit(self, *, origin: str | None, client_ip: str) -> None:
        if self._limits.allowed_origins and (origin or "") not in self._limits.allowed_origins:
            raise Forbidden("this origin may not post widget events")
        # A keyed hash: a plain SHA-256 of an IPv4 address is reversed by trying all 2^32.
        key = "RL#events-widget#" + keyed_hash(self._ip_key(), client_ip, purpose="widget-ip")[:24]
        decision = self._limiter.hit(key, limit=self._limits.per_minute, window_s=60, now=self._clock.now())
        if not decision.allowed:
            raise RateLimited(
                "too many widget events from this address", retry_after_s=decision.retry_after_s
            )

    def with_site_keys(self, events: list[BaseModel], header_key: str | None) -> list[WidgetEvent]:
        """Each event with its site key (body, else the X-Ringback-Site-Key header), all valid."""
        valid = set(self._config.load().site_keys)
        checked: list[WidgetEvent] = []
        for index, model in enumerate(events):
            assert isinstance(model, WidgetEvent)
            event = (
                model if model.site_key else model.model_copy(update={"site_key": (header_key or "").strip()})
            )
            if event.site_key not in valid:
                where = "site_key" if len(events) == 1 else f"[{index}].site_key"
                raise Forbidden(
                    "unknown site key", fields=(FieldProblem(where, "not a site key of this operator"),)
                )
            checked.append(event)
        return checked
