"""What the read endpoints answer: the projections folded into views."""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from ringback.domain.errors import FieldProblem, NotFound, Unprocessable
from ringback.domain.events import projections as p
from ringback.domain.events.widget import FUNNEL_STAGES
from ringback.ports.projections import CallbackStatusStore, Projections

MAX_FUNNEL_DAYS: Final = 92
# Days the funnel can hold: a wider range is a field error, never date arithmetic overflowing
# (9999-12-31 + 1 day is a 500) or a lookup of centuries of empty days.
FIRST_DAY: Final = date(2000, 1, 1)
LAST_DAY: Final = date(2999, 12, 31)


class ReadModels:
    def __init__(self, projections: Projections, callbacks: CallbackStatusStore) -> None:
        self._projections = projections
        self._callbacks = callbacks

    def call(self, uuid: str) -> dict[str, Any]:
        facts = self._projections.records(p.call_pk(uuid))
        attempts = {str(f["attempt"]) for f in facts if f.get("attempt")}
        for attempt in sorted(attempts):
            # Facts sent before the call had a channel (joined, wait_agent) live under the attempt.
            facts += [f for f in self._projections.records(p.attempt_pk(attempt)) if not f.get("uuid")]
        view = p.fold_call(uuid, facts)
        if view is None:
            raise NotFound("no events for this call")
        return view

    def agents(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for pk in p.agents_pks():
            records += self._projections.records(pk)
        return p.fold_agents(records)

    def callback_timeline(self, callback_id: str) -> dict[str, Any]:
        status = self._callbacks.status(callback_id)
        entries = p.fold_timeline(self._projections.records(p.timeline_pk(callback_id)))
        if status is None and not entries:
            raise NotFound("no such callback request")
        current = status or {}
        return {
            "callback_id": callback_id,
            "status": current.get("status"),
            "status_at": p.iso(current["status_at"]) if current.get("status_at") else None,
            "status_reason": current.get("status_reason"),
            "timeline": entries,
        }

    def funnel(self, start: str, end: str) -> dict[str, Any]:
        first, last = _day("from", start), _day("to", end)
        if last < first:
            raise Unprocessable(
                "the range ends before it starts", fields=(FieldProblem("to", "must not be before from"),)
            )
        if (last - first).days >= MAX_FUNNEL_DAYS:
            raise Unprocessable(
                "the range is too long",
                fields=(FieldProblem("to", f"at most {MAX_FUNNEL_DAYS} days from 'from'"),),
            )
        records: list[dict[str, Any]] = []
        for ordinal in range(first.toordinal(), last.toordinal() + 1):
            for pk in p.funnel_pks(date.fromordinal(ordinal).isoformat()):
                records += self._projections.records(pk)
        days = p.fold_funnel(records, first, last)
        totals = {stage: sum(d["total"][stage] for d in days) for stage in FUNNEL_STAGES}
        return {"from": first.isoformat(), "to": last.isoformat(), "days": days, "total": totals}


def _day(name: str, text: str) -> date:
    try:
        if len(text) != 10 or not text.isascii():
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError as error:
        raise Unprocessable(
            f"'{name}' is not a date", fields=(FieldProblem(name, "must be YYYY-MM-DD"),)
        ) from error
    if not FIRST_DAY <= day <= LAST_DAY:
        raise Unprocessable(
            f"'{name}' is out of range",
            fields=(FieldProblem(name, f"must be between {FIRST_DAY} and {LAST_DAY}"),),
        )
    return day
