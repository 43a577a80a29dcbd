"""Dialer attempts of callback requests, per operator day: the console's service-level input.

One fact record per call event that rings a callback request's customer (``offering`` or
``active``, the events that move a request to ``dialing``): ``pk = "ATTEMPTS#<day>"``,
``sk = "<callback_id>#<order>"``. A fact set (see ``projections``): idempotent, commutative,
and a day's first attempts are one query and a min per request (``domain.console.first_attempts``).
Rebuilt with every other projection by ``ringback rebuild-projections``.
"""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

from ringback.domain.events.envelope import LoggedEvent
from ringback.domain.events.projections import ProjectionRecord, funnel_day, order_of

ATTEMPT_EVENTS: Final = frozenset({"offering", "active"})


def attempts_pk(day: str) -> str:
    return f"ATTEMPTS#{day}"


def attempt_records(
    callback_id: str, hook_event: str, event: LoggedEvent, zone: ZoneInfo
) -> tuple[ProjectionRecord, ...]:
    """The attempt fact of one call event of a callback request (none for other events)."""
    if not callback_id or hook_event not in ATTEMPT_EVENTS:
        return ()
    day = funnel_day(event.occurred_at, zone)
    return (
        ProjectionRecord(
            attempts_pk(day),
            f"{callback_id}#{order_of(event.occurred_at, event.event_id)}",
            {"kind": "attempt", "callback_id": callback_id, "at": event.occurred_at, "day": day},
        ),
    )
