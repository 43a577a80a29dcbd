"""The finished ``GET /v1/status`` answer, shared by every container until it may change.

A container that computes the status (``services.availability``) also stores the answer it
computed, with two instants: ``fresh_until``, when it stops being true (the counts behind it
expire, or business hours open or close: ``schedule.next_change``), and ``serve_until``, no
later, and earlier when the operator configuration it was computed from expires (so a config
change still applies within its max age). A container whose first request finds a snapshot
with ``serve_until`` ahead answers it as it is, with no configuration, schedule or pydantic
loaded (``adapters.status_snapshot``); the answer is then the one a container holding the same
counts and configuration would compute: ``checked_at`` is now and ``cache_seconds`` (the
Cache-Control max-age) is what is left of ``fresh_until``, at most ``status_cache_seconds``.

Pure and lean on purpose: only the standard library, no pydantic (it is the point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VERSION = 1
# Availability's fields, in its order (``services.availability.Availability``; a unit test holds
# this to the model): a snapshot missing one is not served.
FIELDS = (
    "status",
    "code",
    "open",
    "reason",
    "estimated_wait_s",
    "next_opening_at",
    "modes",
    "degraded",
    "health",
    "checked_at",
    "cache_seconds",
)


def seconds_left(until: datetime, now: datetime, cap_s: int) -> int:
    """The max-age of an answer true until ``until``: whole seconds left, 1 to ``cap_s``."""
    return max(1, min(cap_s, math.floor((until - now).total_seconds())))


def instant_text(moment: datetime) -> str:
    """``moment`` as pydantic writes a datetime in JSON (ISO 8601, ``Z`` for UTC)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch, rounded down (a stored instant never moves later)."""
    return math.floor(moment.timestamp() * 1000)


def _instant(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    answer: dict[str, Any]  # the Availability's JSON form (``model_dump(mode="json")``)
    fresh_until: datetime  # the answer may change from here: counts expire, hours open or close
    serve_until: datetime  # <= fresh_until; also <= when the configuration behind it expires
    cap_s: int  # status_cache_seconds: the longest max-age an answer carries

    def served(self, now: datetime) -> tuple[dict[str, Any], int] | None:
        """The answer to give at ``now`` and its max-age, or None when it may no longer be served."""
        if not now < self.serve_until:
            return None
        max_age = seconds_left(self.fresh_until, now, self.cap_s)
        body = dict(self.answer)
        body["checked_at"] = instant_text(now)
        body["cache_seconds"] = max_age
        return body, max_age

    def same_answer(self, other: StatusSnapshot) -> bool:
        """The same answer with the same validity (``checked_at`` and ``cache_seconds`` aside)."""
        return (
            self.fresh_until == other.fresh_until
            and self.serve_until == other.serve_until
            and self.cap_s == other.cap_s
            and _core(self.answer) == _core(other.answer)
        )

    def to_value(self) -> dict[str, Any]:
        """The JSON value stored in the shared cache item."""
        return {
            "v": VERSION,
            "answer": self.answer,
            "fresh_until_ms": _ms(self.fresh_until),
            "serve_until_ms": _ms(self.serve_until),
            "cap_s": self.cap_s,
        }

    @classmethod
    def from_value(cls, value: object) -> StatusSnapshot | None:
        """A stored value read back; None for anything not written by ``to_value`` of this version."""
        if not isinstance(value, dict) or value.get("v") != VERSION:
            return None
        answer = value.get("answer")
        fresh_until = _instant(value.get("fresh_until_ms"))
        serve_until = _instant(value.get("serve_until_ms"))
        cap = value.get("cap_s")
        if (
            not isinstance(answer, dict)
            or list(answer) != list(FIELDS)
            or fresh_until is None
            or serve_until is None
            or serve_until > fresh_until
            or isinstance(cap, bool)
            or not isinstance(cap, int)
            or cap < 1
        ):
            return None
        return cls(answer, fresh_until, serve_until, cap)


def _core(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("checked_at", "cache_seconds")}
