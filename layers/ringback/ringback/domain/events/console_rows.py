"""The operator console's projections: small, bounded items the console reads in a few requests.

Written by the projector only (the stream of the event log and the stream of the
CallbacksTable), rebuilt by ``ringback rebuild-projections``; every write is idempotent and
order-tolerant:

* **request rows** (from the CallbacksTable's stream): ``CONSOLE#DAY#<day>`` / ``<id>`` holds
  every request created that day (the operator's day), ``CONSOLE#OPEN`` / ``<id>`` each open
  request while it is open. Both are registers guarded by :func:`row_order` (reschedule
  generation, then status rank, then the earliest ``status_at``), so a late or repeated image
  never replaces a newer one; the open row is written only while the day row's order is not
  newer, and deleted (if not newer) when the request ends. Only the board's attributes are
  kept, the number already masked: no names, no e-mails, no numbers.
* **funnel counters**: ``CONSOLE#FUNNEL#<day>`` / ``SHARD#<n>`` hold, per ``<provider>#<stage>``,
  how many distinct members the stage has; each membership record is put only if absent, in
  the same transaction as the ``ADD`` on its counter (:class:`CountedRecord`), so a repeat
  counts nothing and any order gives the same counts. Sharded by member, so a busy day is not
  one hot item.
* **agent lines**: ``AGENTLINE#<day>`` / ``<source>#<agent>#<order>``, one fact per agent status
  event (a fact set: the day's timeline is a fold in time order).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from ringback.domain.callback_status import OPEN, CallbackStatus, status_rank
from ringback.domain.console import BOARD_ATTRIBUTES, parse_time
from ringback.domain.events.projections import ProjectionRecord, RegisterUpdate, funnel_day, funnel_pk
from ringback.domain.phones import mask_e164

OPEN_PK: Final = "CONSOLE#OPEN"
FUNNEL_SHARDS: Final = 4
# The statuses that say a request's member reached Webitel (the funnel's "uploaded" stage).
UPLOADED_STATUSES: Final = frozenset(
    {CallbackStatus.QUEUED, CallbackStatus.DIALING, CallbackStatus.CONNECTED}
)
# The reason of a request an inbound call completed (services.projector writes it).
CLOSED_BY_CALL_IN: Final = "the customer called in and reached an agent"
_ROW_ATTRIBUTES: Final = tuple(a for a in BOARD_ATTRIBUTES if a != "phone")
_MAX_MS: Final = 10**13


def day_pk(day: str) -> str:
    return f"CONSOLE#DAY#{day}"


def funnel_counter_pk(day: str) -> str:
    return f"CONSOLE#FUNNEL#{day}"


def funnel_counter_sk(member: str) -> str:
    return f"SHARD#{zlib.crc32(member.encode()) % FUNNEL_SHARDS}"


def funnel_counter_keys(days: Iterable[str]) -> list[tuple[str, str]]:
    """Every counter item of ``days`` (what the console reads in one BatchGetItem)."""
    return [(funnel_counter_pk(day), f"SHARD#{n}") for day in days for n in range(FUNNEL_SHARDS)]


def agent_line_pk(day: str) -> str:
    return f"AGENTLINE#{day}"


@dataclass(frozen=True)
class CountedRecord:
    """A membership record put only if absent, with ``ADD field 1`` on its counter, atomically."""

    record: ProjectionRecord
    counter_pk: str
    counter_sk: str
    field: str


def counted_funnel(day: str, provider: str, stage: str, member: str) -> CountedRecord:
    """Membership of ``member`` in a day's funnel stage, and the counter it adds to."""
    record = ProjectionRecord(
        funnel_pk(day),
        f"{provider}#{stage}#{member}",
        {"kind": "funnel", "day": day, "provider": provider, "stage": stage},
    )
    return CountedRecord(record, funnel_counter_pk(day), funnel_counter_sk(member), f"{provider}#{stage}")


# ------------------------------------------------------------------------------ request rows


@dataclass(frozen=True)
class RowDelete:
    """Delete ``pk``/``sk`` unless the stored row is newer than ``order`` (or gone already)."""

    pk: str
    sk: str
    order: str


@dataclass(frozen=True)
class RequestRows:
    """What one stored image of a request changes in the console's projections."""

    day_row: RegisterUpdate
    open_row: RegisterUpdate | None = None  # written only while the day row is not newer
    close: RowDelete | None = None
    counted: tuple[CountedRecord, ...] = ()


def _status(item: Mapping[str, Any]) -> CallbackStatus | None:
    try:
        return CallbackStatus(str(item.get("status", "")))
    except ValueError:
        return None


def row_order(item: Mapping[str, Any]) -> str:
    """Total order of a request's images: reschedule generation, status rank, the earliest
    ``status_at`` (at the same status the earliest fact wins, as on the CallbacksTable), then
    the repeat count (a repeated submit of an open request only ever adds one)."""
    status = _status(item)
    generation = int(item.get("reschedule_count") or 0)
    at = _MAX_MS - min(max(int(item.get("status_at") or 0), 0), _MAX_MS - 1)
    repeats = int(item.get("repeat_count") or 0)
    return f"{generation:06d}#{status_rank(status) if status else 0}#{at:013d}#{repeats:06d}"


def request_id(item: Mapping[str, Any]) -> str | None:
    pk = str(item.get("pk", ""))
    if item.get("sk") != "REQUEST" or not pk.startswith("CB#"):
        return None
    return pk.removeprefix("CB#")


def created_day(item: Mapping[str, Any], zone: ZoneInfo) -> str | None:
    created = parse_time(item.get("created_at"))
    return created.astimezone(zone).date().isoformat() if created else None


def was_uploaded(item: Mapping[str, Any]) -> bool:
    """Whether a request image shows its member reached Webitel: queued, dialing or connected,
    or completed by a call (not by the customer calling in)."""
    status = _status(item)
    if status in UPLOADED_STATUSES:
        return True
    return status is CallbackStatus.COMPLETED and item.get("status_reason") != CLOSED_BY_CALL_IN


def request_rows(item: Mapping[str, Any], zone: ZoneInfo) -> RequestRows | None:
    """The console rows of a request image (plain values), or None for any other item."""
    callback_id = request_id(item)
    status = _status(item)
    day = created_day(item, zone)
    if callback_id is None or status is None or day is None:
        return None
    order = row_order(item)
    phone = str(item.get("phone") or "")
    data: dict[str, Any] = {
        "kind": "console_request",
        **{name: item[name] for name in _ROW_ATTRIBUTES if item.get(name) not in (None, "")},
        "id": callback_id,
        "phone_masked": mask_e164(phone) if phone.startswith("+") else "***",
    }
    day_row = RegisterUpdate(day_pk(day), callback_id, order, data)
    counted: tuple[CountedRecord, ...] = ()
    if was_uploaded(item):  # counted on the request's day: every image of it is one member
        counted = (counted_funnel(day, str(item.get("source") or "web"), "uploaded", callback_id),)
    if status in OPEN:
        return RequestRows(
            day_row, open_row=RegisterUpdate(OPEN_PK, callback_id, order, data), counted=counted
        )
    return RequestRows(day_row, close=RowDelete(OPEN_PK, callback_id, order), counted=counted)


def removed_rows(old_item: Mapping[str, Any], zone: ZoneInfo) -> list[tuple[str, str]]:
    """The rows of a request that was deleted (TTL or erasure): its removal is its last image."""
    callback_id = request_id(old_item)
    if callback_id is None:
        return []
    day = created_day(old_item, zone)
    return [(OPEN_PK, callback_id), *([(day_pk(day), callback_id)] if day else [])]


# ---------------------------------------------------------------------------- funnel counters


def fold_funnel_counters(items: Iterable[Mapping[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """Per day (``start``..``end``, days without counts too): per provider and stage, the sum
    of the counter shards; ``total`` per stage over the providers."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for item in items:
        pk = str(item.get("pk", ""))
        if not pk.startswith("CONSOLE#FUNNEL#"):
            continue
        day = pk.removeprefix("CONSOLE#FUNNEL#")
        for name, value in item.items():
            if name in ("pk", "sk") or "#" not in name or not isinstance(value, int):
                continue
            provider, stage = name.rsplit("#", 1)
            stages = counts.setdefault(day, {}).setdefault(provider, {})
            stages[stage] = stages.get(stage, 0) + value
    days: list[dict[str, Any]] = []
    current = start
    while current <= end:
        providers = dict(sorted(counts.get(current.isoformat(), {}).items()))
        total: dict[str, int] = {}
        for stages in providers.values():
            for stage, n in stages.items():
                total[stage] = total.get(stage, 0) + n
        days.append({"day": current.isoformat(), "providers": providers, "total": total})
        current += timedelta(days=1)
    return days


# -------------------------------------------------------------------------------- agent lines


def agent_line_records(updates: Iterable[RegisterUpdate], zone: ZoneInfo) -> list[ProjectionRecord]:
    """One timeline fact per agent *status* register update (activity is not on the timeline)."""
    records: list[ProjectionRecord] = []
    for update in updates:
        data = update.data
        if data.get("register") != "status" or not data.get("status"):
            continue
        at = int(data.get("at") or 0)
        day = funnel_day(at, zone)
        body = {
            "kind": "agent_line",
            "source": data.get("source"),
            "agent_id": data.get("agent_id"),
            "name": data.get("name"),
            "status": data.get("status"),
            "at": at,
        }
        records.append(
            ProjectionRecord(
                agent_line_pk(day),
                f"{data.get('source')}#{data.get('agent_id')}#{update.order}",
                {k: v for k, v in body.items() if v not in ("", None)},
            )
        )
    return records


def fold_agent_lines(
    records: Iterable[Mapping[str, Any]], start: datetime, now: datetime, *, limit: int = 40
) -> list[dict[str, Any]]:
    """Per agent, the day's segments ``[{status, from, to}]`` (epoch ms) from ``start`` to ``now``,
    in time order whatever order the facts came in (duplicates ignored). The status before an
    agent's first fact of the day is unknown (shown as a gap)."""
    start_ms, now_ms = int(start.timestamp() * 1000), int(now.timestamp() * 1000)
    facts: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for record in records:
        if record.get("kind") != "agent_line":
            continue
        key = (str(record.get("source")), str(record.get("agent_id")))
        facts.setdefault(key, {})[str(record.get("sk", record.get("at")))] = record
    lines: list[dict[str, Any]] = []
    for (source, agent_id), by_sk in sorted(facts.items())[:limit]:
        ordered = [by_sk[sk] for sk in sorted(by_sk)]  # the sk ends with the order: time, then event id
        segments: list[dict[str, Any]] = []
        for index, fact in enumerate(ordered):
            begin = max(start_ms, int(fact["at"]))
            end = int(ordered[index + 1]["at"]) if index + 1 < len(ordered) else now_ms
            end = min(max(end, begin), now_ms)
            if segments and segments[-1]["status"] == fact["status"]:
                segments[-1]["to"] = end
            elif end > begin or index + 1 == len(ordered):
                segments.append({"status": str(fact["status"]), "from": begin, "to": end})
        name = next((str(f["name"]) for f in reversed(ordered) if f.get("name")), None)
        lines.append({"source": source, "agent_id": agent_id, "name": name, "segments": segments})
    return lines


def line_segments_iso(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lines with ISO times (what the page's table shows)."""

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return [
        {
            **line,
            "segments": [
                {"status": s["status"], "from": iso(s["from"]), "to": iso(s["to"])} for s in line["segments"]
            ],
        }
        for line in lines
    ]
