"""The operator console's projections: small items the console reads by key in one
BatchGetItem, and the partitions it Queries only when their counters say they changed.

Written by the projector only (the stream of the event log and the stream of the
CallbacksTable), rebuilt by ``ringback rebuild-projections``; every write is idempotent and
order-tolerant, and every write lands on one of several partitions (by a stable hash), so no
single item or partition is hot at 100x the load run (docs/scaling.md):

* ``CONSOLE#BOARDROW#<n>`` (:data:`BOARD_SHARDS` partitions, by request id) / ``<id>``: one
  **board row item** per open request (:class:`BoardWrite`: ``r`` its board row, the board's
  attributes only, the number masked, no names, no e-mails; ``o`` its order), deleted when the
  request ends; each change adds 1 to its partition's version counter
  ``CONSOLE#BOARDN#<n>`` / ``COUNT`` in the same transaction, and the page Queries a partition
  again only when that version moved (:data:`BOARD_MAX_ROWS` rows read at most);
* ``CONSOLE#DAYROW#<day>#<n>`` (:data:`DAY_SHARDS`, the operator's day): one small **row item**
  per request of that day (sk: its id; :class:`RowWrite`), holding what the service level
  needs of it (``r``, a register by ``o``) and its first attempt that day (``a``, a *min*); and
  ``CONSOLE#DAYSUM#<day>`` / ``SHARD#<n>``: the day's figures as counters, each row's
  contribution (:func:`request_counts`) moved from its old value to its new one in the same
  transaction as the row's conditional write, so the page reads a few counter items, never the
  rows;
* ``CONSOLE#FUNNEL#<day>#<n>`` / ``COUNTS`` (:data:`FUNNEL_SHARDS` partitions, by member): per
  ``<provider>#<stage>``, how many distinct members the stage has; each membership record is
  put only if absent, in the same transaction as the counter's new version
  (:class:`CountedRecord`), so a repeat counts nothing;
* ``CONSOLE#AGENTNOW`` / ``<source>#<agent>#<register>``: one register item per agent and
  register (status now), written over an older order only, counted on
  ``CONSOLE#AGENTNOWN#<n>`` (:class:`CountedRegister`): the page Queries the first
  :data:`AGENTS_SHOWN` agents only when a counter changed;
* ``CONSOLE#AGENTFACT#<day>`` / ``<source>#<agent>#<order>``: one small fact item per agent
  status change (put only if absent), counted on ``CONSOLE#AGENTLINEN#<day>``
  (:data:`AGENT_LINE_SHARDS`, :class:`CountedRecord`): the page reads the counters by key and
  Queries the facts (at most :data:`TIMELINE_AGENTS` agents, :data:`TIMELINE_MAX_FACTS` facts,
  in agent order) only when a counter changed; the day's timeline is a fold in time order.

Registers carry their ``o`` (order) and are written only over an older one (``row_order``:
reschedule generation, status rank, the earliest ``status_at``, the repeat count); a board row
is written only while the day row (the request's tombstone too: it is kept, its order the
newest seen) is not newer, and deleted (if not newer) when the request ends, so a late or
repeated image never brings a closed request back.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from ringback.domain.callback_status import OPEN, CallbackStatus, status_rank
from ringback.domain.console import (
    BOARD_ATTRIBUTES,
    OUTCOME_NAMES,
    OUTCOMES,
    WINDOW_BUCKETS,
    day_start,
    delay_bucket,
    parse_time,
    window_bucket,
)
from ringback.domain.events.projections import (
    FUNNEL_SHARDS,
    ProjectionRecord,
    RegisterUpdate,
    funnel_day,
    funnel_record,
    funnel_shard,
)
from ringback.domain.phones import mask_e164

BOARD_ROW_PREFIX: Final = "CONSOLE#BOARDROW#"
BOARD_COUNT_PREFIX: Final = "CONSOLE#BOARDN#"
AGENTS_NOW_PK: Final = "CONSOLE#AGENTNOW"
# The agents the page shows now (in agent order; a 50-agent center sees all of them), and the
# register items it reads at most.
AGENTS_SHOWN: Final = 200
AGENTS_MAX_REGISTERS: Final = 2000
# Shard counts: every key of the page fits one BatchGetItem (100 keys). The open requests'
# row items (~300 bytes: one write unit each) spread over BOARD_SHARDS partitions: at 100x the
# load run ~2,500 board writes/s put ~310 writes (~625 WCU/s in transactions) on each
# (docs/scaling.md). The page reads at
# most BOARD_MAX_ROWS of them (~3 MB, 0.4 s on DynamoDB when all changed at once); past that
# the board says so (``rows_unread``). docs/console.md has the bounds.
BOARD_SHARDS: Final = 8
BOARD_MAX_ROWS: Final = 10_000
# The day's rows and counters: every row change moves its counts on one counter shard (by the
# request's id), so the day's writes spread over this many items. At a sustained 100x the load
# run (~3,000 row changes/s) 16 keep each counter item and each day-row partition (with the
# board rows' ConditionChecks on it) under a partition's 1,000 WCU/s; 8 did not (~1,500 and
# ~1,375). Changing it moves a request's row: run the clean rebuild after deploying
# (docs/scaling.md, docs/console.md).
DAY_SHARDS: Final = 16
AGENT_SHARDS: Final = 2
# The day's timeline: its fact counters (one per shard, by agent), and what the page reads.
AGENT_LINE_SHARDS: Final = 4
TIMELINE_AGENTS: Final = 40
TIMELINE_MAX_FACTS: Final = 4000
# An item may hold 400 KB; past this the write is refused loudly (more shards are needed).
MAX_ENTRIES_BYTES: Final = 350_000
# The statuses that say a request's member reached Webitel (the funnel's "uploaded" stage).
UPLOADED_STATUSES: Final = frozenset(
    {CallbackStatus.QUEUED, CallbackStatus.DIALING, CallbackStatus.CONNECTED}
)
# The reason of a request an inbound call completed (services.projector writes it).
CLOSED_BY_CALL_IN: Final = "the customer called in and reached an agent"
_ROW_ATTRIBUTES: Final = tuple(a for a in BOARD_ATTRIBUTES if a != "phone")
_LAST: Final = "~"  # sorts after every order: a removal wins over any image
_MAX_MS: Final = 10**13


def day_row_pk(day: str, callback_id: str) -> str:
    """The partition of a request's row item among the day's :data:`DAY_SHARDS`."""
    return f"CONSOLE#DAYROW#{day}#{zlib.crc32(callback_id.encode()) % DAY_SHARDS}"


def day_counts_pk(day: str) -> str:
    return f"CONSOLE#DAYSUM#{day}"


def day_counter_keys(day: str) -> list[tuple[str, str]]:
    """The day's counter items: one partition each (``<pk>#<n>`` / ``COUNTS``)."""
    return [(f"{day_counts_pk(day)}#{n}", "COUNTS") for n in range(DAY_SHARDS)]


def board_row_pk(callback_id: str) -> str:
    """The partition of an open request's board row among the :data:`BOARD_SHARDS`."""
    return f"{BOARD_ROW_PREFIX}{zlib.crc32(callback_id.encode()) % BOARD_SHARDS}"


def board_count_key(row_pk: str) -> tuple[str, str]:
    """The version counter of a board partition (``ADD v 1`` with each change of its rows)."""
    return (BOARD_COUNT_PREFIX + row_pk.removeprefix(BOARD_ROW_PREFIX), "COUNT")


def board_count_keys() -> list[tuple[str, str]]:
    return [(f"{BOARD_COUNT_PREFIX}{n}", "COUNT") for n in range(BOARD_SHARDS)]


def board_row_pk_of_count(count_pk: str) -> str:
    return BOARD_ROW_PREFIX + count_pk.removeprefix(BOARD_COUNT_PREFIX)


def page_keys(today: str, funnel_days: Iterable[str]) -> list[tuple[str, str]]:
    """Every ProjectionsTable item the console page reads (one BatchGetItem with the others)."""
    return [
        *board_count_keys(),
        *day_counter_keys(today),
        *funnel_counter_keys(funnel_days),
        *agents_now_count_keys(),
        *agent_line_count_keys(today),
    ]


FUNNEL_COUNTER_PREFIX: Final = "CONSOLE#FUNNEL#"


def funnel_counter_pk(day: str, member: str) -> str:
    """The partition of ``member``'s count among the day's :data:`FUNNEL_SHARDS` (``<pk>#<n>``),
    the same shard as its membership record: a busy day's ~560 counts/s at 100x (uploaded and
    connected requests) put ~140 on each (docs/scaling.md)."""
    return f"{FUNNEL_COUNTER_PREFIX}{day}#{funnel_shard(member)}"


def funnel_counter_keys(days: Iterable[str]) -> list[tuple[str, str]]:
    """Every counter item of ``days`` (what the console reads in one BatchGetItem): one
    partition each."""
    return [(f"{FUNNEL_COUNTER_PREFIX}{day}#{n}", "COUNTS") for day in days for n in range(FUNNEL_SHARDS)]


def agent_line_pk(day: str) -> str:
    return f"CONSOLE#AGENTFACT#{day}"


def agent_line_count_pk(day: str) -> str:
    return f"CONSOLE#AGENTLINEN#{day}"


def agents_now_count_keys() -> list[tuple[str, str]]:
    """The agents' registers' write counters: one partition each (``<pk>#<n>`` / ``COUNT``)."""
    return [(f"CONSOLE#AGENTNOWN#{n}", "COUNT") for n in range(AGENT_SHARDS)]


def agent_line_count_keys(day: str) -> list[tuple[str, str]]:
    """The timeline's fact counters: one partition each (``<pk>#<n>`` / ``COUNT``)."""
    return [(f"{agent_line_count_pk(day)}#{n}", "COUNT") for n in range(AGENT_LINE_SHARDS)]


@dataclass(frozen=True)
class CountedRegister:
    """A register written only over an older order, with ``ADD 1`` on its counter's version in
    the same transaction (what the page's reads are kept by)."""

    update: RegisterUpdate
    counter: tuple[str, str]


@dataclass(frozen=True)
class CountedRecord:
    """A membership record put only if absent, with ``ADD field 1`` on its counter, atomically."""

    record: ProjectionRecord
    counter_pk: str
    counter_sk: str
    field: str


def counted_funnel(day: str, provider: str, stage: str, member: str) -> CountedRecord:
    """Membership of ``member`` in a day's funnel stage, and the counter it adds to."""
    record = funnel_record(day, provider, stage, member)
    return CountedRecord(record, funnel_counter_pk(day, member), "COUNTS", f"{provider}#{stage}")


# ---------------------------------------------------------------------- row items and counts


@dataclass(frozen=True)
class RowWrite:
    """One change of a row item (``pk``, ``sk``), by :func:`merge_row`:

    * ``register``: set the row's value ``r`` to ``value`` with order ``o`` = ``order``, unless
      the stored order is greater or equal;
    * ``remove``: drop ``r`` (keeping ``o`` = ``order``: a tombstone) unless the stored order is
      greater;
    * ``min``: set the first attempt ``a`` to ``value`` unless the stored one is smaller or equal.

    With ``counter`` (pk, sk), the row's counts (:func:`request_counts`) live on that item: the
    writer adds :func:`count_delta` of the old and new row to it in the same transaction as
    the row's write, which is conditional on the row being unchanged since it was read."""

    pk: str
    sk: str
    kind: Literal["register", "remove", "min"]
    value: Any = None
    order: str = ""
    counter: tuple[str, str] | None = None


def merge_row(row: Mapping[str, Any] | None, write: RowWrite) -> dict[str, Any] | None:
    """The row after ``write`` (``o``, ``r``, ``a``), or None if it does not change it.
    Commutative and idempotent: the greatest order's value, the least attempt."""
    current = dict(row or {})
    stored = str(current.get("o", ""))
    if write.kind == "register":
        if stored >= write.order:
            return None
        current.update(o=write.order, r=write.value)
    elif write.kind == "remove":
        if stored > write.order or (stored == write.order and "r" not in current):
            return None
        current.pop("r", None)
        current["o"] = write.order
    else:
        attempt = current.get("a")
        if attempt is not None and int(attempt) <= int(write.value):
            return None
        current["a"] = int(write.value)
    return current


def request_counts(row: Mapping[str, Any] | None) -> dict[str, int]:
    """What one row of the day adds to the day's counters (``domain.console``'s
    ``service_level_of_counts`` reads them): ``n``/``nHH`` requests (by the local hour of
    creation), ``o_<outcome>``, ``t``/``tHH`` attempted, ``k``/``kHH`` attempted within the
    window, ``d<bucket>`` the time to first attempt, ``w<bucket>`` a window not attempted,
    by the bucket it ends in. A row without its request (an attempt only, or removed) adds
    nothing."""
    value = (row or {}).get("r")
    if not isinstance(value, Mapping):
        return {}
    hour = int(value["h"])
    counts = {"n": 1, f"n{hour:02d}": 1}
    status = str(value.get("s"))
    outcome = OUTCOMES.get(status)
    if outcome is not None and status != CallbackStatus.CONNECTED.value:
        counts[f"o_{outcome}"] = 1
    attempt = (row or {}).get("a")
    window_end = value.get("w")
    if attempt is not None:
        counts.update({"t": 1, f"t{hour:02d}": 1})
        counts[f"d{delay_bucket(max(0.0, (int(attempt) - int(value['c'])) / 1000))}"] = 1
        if window_end is None or int(attempt) <= int(window_end):
            counts.update({"k": 1, f"k{hour:02d}": 1})
    elif window_end is not None:
        counts[f"w{int(value['b'])}"] = 1
    return counts


def count_delta(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, int]:
    """The change of the counters when a row goes from ``old`` to ``new`` (zeros left out)."""
    delta = dict(request_counts(new))
    for name, n in request_counts(old).items():
        delta[name] = delta.get(name, 0) - n
    return {name: n for name, n in sorted(delta.items()) if n}


# A counter item stores its counters packed, six to a number attribute (a slot of 6 decimal
# digits each, DynamoDB numbers holding 38): ``ADD`` of a packed delta moves each slot by its
# own count, and a day's item holds at most ~65 attributes, whatever the volume, up to 999,999
# per counter and shard (``DAY_SHARDS`` x that requests a day).
PACK_SLOTS: Final = 6
PACK_BASE: Final = 10**6
COUNTER_NAMES: Final = (
    "n",
    "t",
    "k",
    *(f"o_{name}" for name in OUTCOME_NAMES),
    *(f"{kind}{hour:02d}" for kind in "ntk" for hour in range(24)),
    *(f"d{index}" for index in range(delay_bucket(25 * 3600.0) + 1)),
    *(f"w{index}" for index in range(WINDOW_BUCKETS + 1)),
)
_COUNTER_INDEX: Final = {name: index for index, name in enumerate(COUNTER_NAMES)}


def pack_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """Counters (name -> count, or a delta) as packed attributes ``p<n>`` (their ``ADD``)."""
    packed: dict[str, int] = {}
    for name, n in counts.items():
        index = _COUNTER_INDEX[name]
        attribute = f"p{index // PACK_SLOTS}"
        packed[attribute] = packed.get(attribute, 0) + n * PACK_BASE ** (index % PACK_SLOTS)
    return {name: n for name, n in sorted(packed.items()) if n}


def unpack_counts(packed: Mapping[str, int]) -> dict[str, int]:
    """The counters of packed attributes (each slot's sum is a count in 0..999,999)."""
    counts: dict[str, int] = {}
    for attribute, value in packed.items():
        if not attribute.startswith("p") or not attribute[1:].isdigit():
            continue
        for slot in range(PACK_SLOTS):
            index = int(attribute[1:]) * PACK_SLOTS + slot
            n = (int(value) // PACK_BASE**slot) % PACK_BASE
            if n and index < len(COUNTER_NAMES):
                counts[COUNTER_NAMES[index]] = n
    return counts


def add_counts(counts: dict[str, Any], delta: Mapping[str, int]) -> None:
    for name, n in delta.items():
        counts[name] = int(counts.get(name, 0)) + n


def day_counts(items: Iterable[Mapping[str, Any]], day: str) -> dict[str, int]:
    """The day's counters summed over its shards (each item's ``e``: counter -> number)."""
    prefix = f"{day_counts_pk(day)}#"
    total: dict[str, int] = {}
    for item in items:
        if str(item.get("pk", "")).startswith(prefix):
            add_counts(total, {k: int(v) for k, v in (item.get("e") or {}).items() if isinstance(v, int)})
    return total


# ------------------------------------------------------------------------------ request rows


@dataclass(frozen=True)
class BoardWrite:
    """One change of an open request's board row item (``pk``, ``sk`` = its id), by
    :func:`merge_board`, with ``ADD v 1`` on ``counter`` in the same transaction when it
    changes the row:

    * ``register``: put ``value`` with order ``order`` unless the stored row's order is greater
      or equal, and only while the guarding row item ``guard`` (the request's day row: pk, sk)
      is not newer than ``order`` (checked in the same transaction);
    * ``remove``: delete the row unless its stored order is greater than ``order``.
    """

    pk: str
    sk: str
    kind: Literal["register", "remove"]
    value: Mapping[str, Any] | None = None
    order: str = ""
    guard: tuple[str, str] | None = None

    @property
    def counter(self) -> tuple[str, str]:
        return board_count_key(self.pk)


def merge_board(stored: str | None, write: BoardWrite, guard: str | None = None) -> bool:
    """Whether ``write`` changes a board row whose stored order is ``stored`` (None: no row),
    its guarding row's order being ``guard`` (None: no such row). Commutative and idempotent:
    the greatest order's row stays, and a removal only takes out a row not newer than itself."""
    if write.kind == "register":
        if guard is not None and guard > write.order:
            return False
        return stored is None or stored < write.order
    return stored is not None and stored <= write.order


def add_count(entries: dict[str, Any], field: str) -> None:
    """One more member on a counter (only with its membership record's first put)."""
    entries[field] = int(entries.get(field, 0)) + 1


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


def _day_row(item: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any] | None:
    """What the service level needs of a request: status, the local hour and time (ms) of
    creation, the window's end (ms) and its bucket of the day."""
    created = parse_time(item.get("created_at"))
    if created is None:
        return None
    start_ms = int(day_start(created, zone).timestamp() * 1000)
    value: dict[str, Any] = {
        "s": str(item.get("status")),
        "h": created.astimezone(zone).hour,
        "c": int(created.timestamp() * 1000),
    }
    window_end = parse_time(item.get("expected_call_by"))
    if window_end is not None:
        value["w"] = int(window_end.timestamp() * 1000)
        value["b"] = window_bucket(value["w"], start_ms)
    return value


def _day_counter(day: str, callback_id: str) -> tuple[str, str]:
    return day_counter_keys(day)[zlib.crc32(callback_id.encode()) % DAY_SHARDS]


def request_rows(
    item: Mapping[str, Any], zone: ZoneInfo
) -> tuple[list[BoardWrite | RowWrite], list[CountedRecord]]:
    """The console writes of a request image (plain values); none for any other item. The
    day's row first: it guards the board's."""
    callback_id = request_id(item)
    status = _status(item)
    day = created_day(item, zone)
    day_value = _day_row(item, zone)
    if callback_id is None or status is None or day is None or day_value is None:
        return [], []
    order = row_order(item)
    phone = str(item.get("phone") or "")
    board: dict[str, Any] = {
        **{name: item[name] for name in _ROW_ATTRIBUTES if item.get(name) not in (None, "")},
        "id": callback_id,
        "phone_masked": mask_e164(phone) if phone.startswith("+") else "***",
    }
    day_write = RowWrite(
        day_row_pk(day, callback_id),
        callback_id,
        "register",
        day_value,
        order,
        counter=_day_counter(day, callback_id),
    )
    writes: list[BoardWrite | RowWrite] = [day_write]
    board_pk = board_row_pk(callback_id)
    if status in OPEN:
        writes.append(
            BoardWrite(board_pk, callback_id, "register", board, order, guard=(day_write.pk, day_write.sk))
        )
    else:
        writes.append(BoardWrite(board_pk, callback_id, "remove", order=order))
    counted: list[CountedRecord] = []
    if was_uploaded(item):  # counted on the request's day: every image of it is one member
        counted.append(counted_funnel(day, str(item.get("source") or "web"), "uploaded", callback_id))
    return writes, counted


def removed_rows(old_item: Mapping[str, Any], zone: ZoneInfo) -> list[BoardWrite | RowWrite]:
    """A request that was deleted (TTL or erasure): its removal is its last image."""
    callback_id = request_id(old_item)
    if callback_id is None:
        return []
    writes: list[BoardWrite | RowWrite] = [
        BoardWrite(board_row_pk(callback_id), callback_id, "remove", order=_LAST)
    ]
    day = created_day(old_item, zone)
    if day:
        writes.append(
            RowWrite(
                day_row_pk(day, callback_id),
                callback_id,
                "remove",
                order=_LAST,
                counter=_day_counter(day, callback_id),
            )
        )
    return writes


def first_attempt(callback_id: str, at_ms: int, zone: ZoneInfo) -> RowWrite:
    """The attempt's day keeps each request's earliest attempt (a min on the request's row of
    that day: it counts as attempted when the request was created that day too)."""
    day = funnel_day(at_ms, zone)
    return RowWrite(
        day_row_pk(day, callback_id), callback_id, "min", at_ms, counter=_day_counter(day, callback_id)
    )


# ---------------------------------------------------------------------------- funnel counters


def fold_funnel_counters(items: Iterable[Mapping[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """Per day (``start``..``end``, days without counts too): per provider and stage, the sum
    of the counter shards; ``total`` per stage over the providers."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for item in items:
        pk = str(item.get("pk", ""))
        if not pk.startswith(FUNNEL_COUNTER_PREFIX) or item.get("sk") != "COUNTS":
            continue  # the old SHARD#<n> items (before the counters got partitions) are not read
        day = pk.removeprefix(FUNNEL_COUNTER_PREFIX).rsplit("#", 1)[0]
        for name, value in (item.get("e") or {}).items():
            if "#" not in name or not isinstance(value, int):
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


def agent_writes(
    updates: Iterable[RegisterUpdate], zone: ZoneInfo
) -> tuple[list[CountedRegister], list[CountedRecord]]:
    """Each agent register (status now) as an item of ``CONSOLE#AGENTNOW``, and each status
    change as a fact item of the day's timeline, both counted (activity is not on the
    timeline)."""
    writes: list[CountedRegister] = []
    facts: list[CountedRecord] = []
    for update in updates:
        data = update.data
        agent = f"{data.get('source')}#{data.get('agent_id')}"
        register = str(data.get("register"))
        writes.append(
            CountedRegister(
                RegisterUpdate(AGENTS_NOW_PK, f"{agent}#{register}", update.order, data),
                agents_now_count_keys()[zlib.crc32(agent.encode()) % AGENT_SHARDS],
            )
        )
        if register != "status" or not data.get("status"):
            continue
        at = int(data.get("at") or 0)
        fact = {
            "source": data.get("source"),
            "agent_id": data.get("agent_id"),
            "name": data.get("name"),
            "status": data.get("status"),
            "at": at,
        }
        day = funnel_day(at, zone)
        facts.append(
            CountedRecord(
                ProjectionRecord(
                    agent_line_pk(day),
                    f"{agent}#{update.order}",
                    {k: v for k, v in fact.items() if v not in ("", None)},
                ),
                *agent_line_count_keys(day)[zlib.crc32(agent.encode()) % AGENT_LINE_SHARDS],
                "n",
            )
        )
    return writes, facts


def first_agents(facts: Iterable[tuple[str, Mapping[str, Any]]], agents: int) -> tuple[dict[str, Any], bool]:
    """The facts (sk, fact; in sk order, that is agent order) of the first ``agents`` agents,
    and whether an agent after them was seen (the caller may stop reading)."""
    kept: dict[str, Any] = {}
    seen: set[tuple[str, str]] = set()
    for sk, fact in facts:
        agent = (str(fact.get("source")), str(fact.get("agent_id")))
        if agent not in seen:
            if len(seen) == agents:
                return kept, True
            seen.add(agent)
        kept[sk] = fact
    return kept, False


def fold_agent_lines(
    facts_by_key: Mapping[str, Mapping[str, Any]], start: datetime, now: datetime, *, limit: int = 40
) -> list[dict[str, Any]]:
    """Per agent, the day's segments ``[{status, from, to}]`` (epoch ms) from ``start`` to ``now``,
    in time order whatever order the facts came in (``facts_by_key``: ``<source>#<agent>#<order>``
    -> fact, so a repeat is the same entry). The status before an agent's first fact of the day
    is unknown (shown as a gap)."""
    start_ms, now_ms = int(start.timestamp() * 1000), int(now.timestamp() * 1000)
    facts: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for key, record in facts_by_key.items():
        if not isinstance(record, Mapping) or "status" not in record or "at" not in record:
            continue
        agent = (str(record.get("source")), str(record.get("agent_id")))
        facts.setdefault(agent, {})[key] = record
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
