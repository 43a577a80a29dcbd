"""Pure projections of logged events: what people query, built so that any order and any
duplication of the same events gives the same result.

Every projection is one of three commutative, idempotent shapes:

* **fact sets**: one record per event id (calls, callback timelines); the view is a fold over
  the set, in which each field is the *latest by (occurred_at, rank, event_id)* non-empty value
  and times are min/max: a set does not remember the order it was filled in;
* **last-writer registers** (agents): a register keeps the update with the greatest
  ``order`` = ``"<occurred_at:013d>#<event_id>"``; "max" is commutative and idempotent;
* **membership counts** (the widget funnel): one record per (day, provider, stage, member) and
  a count of distinct members: counting a member twice is impossible.

Storage keys live here too (ProjectionsTable ``pk``/``sk``), so the in-memory fake and the
DynamoDB adapter cannot disagree about what is "the same record".
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final, Literal
from zoneinfo import ZoneInfo

from ringback.domain.callback_status import CallbackStatus, may_advance, status_rank
from ringback.domain.events import agent as sobot
from ringback.domain.events.envelope import EventSource, LoggedEvent
from ringback.domain.events.webitel import AGENT_STATUS, CALL_EVENTS, WebitelEvent
from ringback.domain.events.widget import FUNNEL_STAGES, WidgetEvent
from ringback.domain.phones import mask_e164

if TYPE_CHECKING:
    from ringback.domain.events.console_rows import CountedRecord, CountedRegister, RowWrite

# Lifecycle rank of call events: breaks ties between events of the same millisecond.
CALL_RANK: Final = {
    "joined": 1,
    "wait_agent": 2,
    "offering": 3,
    "missed": 4,
    "active": 5,
    "bridged": 6,
    "processing": 7,
    "leaving": 8,
}
# Agent registers are spread over AGENT_SHARDS partitions (``AGENTS#00`` .. ``AGENTS#15``, by a
# stable hash of the agent) instead of one: at a 10,000-agent contact center every status and
# activity change of every agent would otherwise be a write to the same partition key, past
# DynamoDB's 1,000 writes/s per partition at a shift change (docs/scaling.md). Projections
# written before the sharding live under ``AGENTS_PK``; the read still includes it.
AGENTS_PK: Final = "AGENTS"
AGENT_SHARDS: Final = 16


def agents_pk(source: str, agent_id: str) -> str:
    """The partition of one agent's registers."""
    shard = zlib.crc32(f"{source}#{agent_id}".encode()) % AGENT_SHARDS
    return f"{AGENTS_PK}#{shard:02d}"


def agents_pks() -> list[str]:
    """Every partition the agents view reads (the shards, then the pre-sharding one)."""
    return [f"{AGENTS_PK}#{shard:02d}" for shard in range(AGENT_SHARDS)] + [AGENTS_PK]


@dataclass(frozen=True)
class ProjectionRecord:
    """An idempotent put: the same key always gets the same data, whichever event wrote it."""

    pk: str
    sk: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class RegisterUpdate:
    """A last-writer-wins register write, kept only if ``order`` is greater than the stored one."""

    pk: str
    sk: str
    order: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CallbackAdvance:
    """Move a callback request forward (``may_advance``) on the CallbacksTable."""

    callback_id: str
    status: CallbackStatus
    at: int
    reason: str
    event_id: str


@dataclass(frozen=True)
class InboundClosure:
    """A customer with a pending callback request reached us: close their open requests."""

    e164: str
    at: int
    call_uuid: str
    event_id: str


@dataclass(frozen=True)
class ClosingRequest:
    """A request an inbound call closes, with every outbox entry it has had."""

    callback_id: str
    entry_ids: tuple[str, ...]


@dataclass(frozen=True)
class ProjectionPlan:
    """Everything one logged event changes, as data (the projector service executes it)."""

    records: tuple[ProjectionRecord, ...] = ()
    registers: tuple[RegisterUpdate, ...] = ()
    advances: tuple[CallbackAdvance, ...] = ()
    closures: tuple[InboundClosure, ...] = ()
    counted: tuple[CountedRecord, ...] = ()  # membership records with their counters (funnel)
    row_writes: tuple[RowWrite, ...] = ()  # the console's row items and their counters
    counted_registers: tuple[CountedRegister, ...] = ()  # the console's agents' registers


def order_of(at: int, event_id: str) -> str:
    return f"{at:013d}#{event_id}"


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------- calls


def call_pk(uuid: str) -> str:
    return f"CALL#{uuid}"


def attempt_pk(attempt: str) -> str:
    return f"ATTEMPT#{attempt}"


def call_fact(event: LoggedEvent, hook: WebitelEvent) -> ProjectionRecord | None:
    """The fact a call event adds to its call (None for agent_status and unknown events)."""
    if hook.event not in CALL_EVENTS:
        return None
    pk = call_pk(hook.call_uuid) if hook.call_uuid else attempt_pk(hook.attempt_key)
    number = hook.customer_number
    digits = "".join(ch for ch in number if ch.isdigit())
    data: dict[str, Any] = {
        "kind": "call_fact",
        "event_id": event.event_id,
        "event": hook.event,
        "at": event.occurred_at,
        "uuid": hook.call_uuid,
        "direction": hook.direction,
        "queue": hook.queue_key,
        "member": hook.member_key,
        "member_name": hook.member_name,
        "attempt": hook.attempt_key,
        "agent": hook.agent_key,
        "agent_name": hook.agent_name,
        "cid": mask_e164("+" + digits) if len(digits) >= 7 else ("***" if number else ""),
        "cause": hook.call_cause,
        "sip_code": hook.call_sip_code,
        "cc_result": hook.cc_result,
        "member_stop_cause": hook.member_stop_cause,
        "amd_result": hook.amd_result,
        "bill_sec": hook.call_bill_sec,
        "duration": hook.call_duration,
        "joined_at": hook.joined_at,
        "bridged_at": hook.bridged_at,
        "callback_id": hook.callback_id,
    }
    return ProjectionRecord(
        pk, f"EV#{event.event_id}", {k: v for k, v in data.items() if v not in ("", None)}
    )


_CALL_FIELDS: Final = (
    "direction",
    "queue",
    "member",
    "member_name",
    "attempt",
    "agent",
    "agent_name",
    "cid",
    "cause",
    "sip_code",
    "cc_result",
    "member_stop_cause",
    "amd_result",
    "bill_sec",
    "duration",
    "callback_id",
)


def fold_call(uuid: str, facts: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The call as people see it, from the set of its facts (any order, duplicates ignored)."""
    unique = {f["event_id"]: f for f in facts if f.get("kind") == "call_fact"}
    if not unique:
        return None
    ordered = sorted(unique.values(), key=lambda f: (f["at"], CALL_RANK.get(f["event"], 0), f["event_id"]))
    view: dict[str, Any] = {"uuid": uuid}
    for fact in ordered:
        for name in _CALL_FIELDS:
            if fact.get(name) not in (None, ""):
                view[name] = fact[name]
    view["state"] = ordered[-1]["event"]

    def first(events: set[str], extra: str | None = None) -> int | None:
        times = [f["at"] for f in ordered if f["event"] in events]
        if extra:
            times += [f[extra] for f in ordered if f.get(extra)]
        return min(times) if times else None

    joined = first({"joined"}, "joined_at")
    offered = first({"offering"})
    bridged = first({"bridged"}, "bridged_at")
    ended = first({"processing", "leaving"})
    view.update(
        {
            "joined_at": iso(joined),
            "offered_at": iso(offered),
            "bridged_at": iso(bridged),
            "ended_at": iso(ended),
            "wait_s": round(((bridged or offered or 0) - joined) / 1000, 3)
            if joined and (bridged or offered) and (bridged or offered or 0) >= joined
            else None,
            "talk_s": round((ended - bridged) / 1000, 3) if bridged and ended and ended >= bridged else None,
            "attempts": sorted({f["attempt"] for f in ordered if f.get("attempt")}),
            "events": [{"event": f["event"], "at": iso(f["at"]), "event_id": f["event_id"]} for f in ordered],
        }
    )
    return view


# --------------------------------------------------------------------------------------- agents

AgentRegister = Literal["status", "activity"]


def agent_sk(source: str, agent_id: str, register: AgentRegister) -> str:
    return f"{source}#{agent_id}#{register}"


def agent_updates(event: LoggedEvent) -> list[RegisterUpdate]:
    """Register writes of an agent event (Webitel agent_status or a Sobot message)."""
    order = order_of(event.occurred_at, event.event_id)
    updates: list[RegisterUpdate] = []

    def put(source: str, agent_id: str, register: AgentRegister, data: dict[str, Any]) -> None:
        body = {
            "kind": "agent",
            "source": source,
            "agent_id": agent_id,
            "register": register,
            "order": order,
            "at": event.occurred_at,
            "event": event.event_type,
            **data,
        }
        updates.append(
            RegisterUpdate(
                agents_pk(source, agent_id),
                agent_sk(source, agent_id, register),
                order,
                {k: v for k, v in body.items() if v not in ("", None)},
            )
        )

    if event.source is EventSource.WEBITEL and event.event_type == AGENT_STATUS:
        hook = WebitelEvent.model_validate(event.payload)
        put(
            "webitel",
            hook.agent_key,
            "status",
            {
                "status": hook.status.lower(),
                "reason": hook.status_payload,
                "name": hook.agent_name,
                "extension": hook.extension_key,
                "since": event.occurred_at,
            },
        )
    elif event.source is EventSource.AGENT and event.known:
        msg = sobot.SobotMessage.model_validate(event.payload)
        agent_id = msg.agent_key
        if msg.messageID == sobot.AGENT_READY:
            put("sobot", agent_id, "status", {"status": "ready", "since": event.occurred_at})
        elif msg.messageID == sobot.AGENT_NOT_READY:
            code = msg.effective_reason_code
            put(
                "sobot",
                agent_id,
                "status",
                {
                    "status": "not_ready",
                    "reason_code": code,
                    "reason": sobot.REASONS.get(code or -1, ""),
                    "since": msg.reasonCodeTimestamp or event.occurred_at,
                },
            )
        elif msg.messageID == sobot.CONNECTION_CHANGED:
            put(
                "sobot",
                agent_id,
                "status",
                {"status": "offline", "reason": "connection changed", "since": event.occurred_at},
            )
        elif msg.messageID == sobot.REGAIN_STATUS and msg.agentStateInfo is not None:
            info = msg.agentStateInfo
            online = info.agentState == "1"
            code = info.reasonCode if not online else None
            put(
                "sobot",
                agent_id,
                "status",
                {
                    "status": "ready" if online else "not_ready",
                    "reason_code": code if code is not None else (None if online else 2),
                    "reason": sobot.REASONS.get(code if code is not None else 2, "") if not online else "",
                    "since": (
                        info.agentStateTimestamp
                        if online
                        else info.reasonCodeTimestamp or info.agentStateTimestamp
                    )
                    or event.occurred_at,
                    "phone_type": info.phoneType,
                    "extension": info.thisDN,
                },
            )
            work = msg.workStatusInfo
            put(
                "sobot",
                agent_id,
                "activity",
                {
                    "activity": "on_call" if work else "idle",
                    "work_status": info.workStatus,
                    "call_id": work.callID if work else "",
                    "call_type": work.callType if work else "",
                    "other": _mask(work.otherDN) if work else "",
                    "since": info.workStatusTimestamp or event.occurred_at,
                },
            )
        elif msg.messageID in (sobot.DIALING, sobot.RINGING):
            work = msg.workStatusInfo
            put(
                "sobot",
                agent_id,
                "activity",
                {
                    "activity": "dialing" if msg.messageID == sobot.DIALING else "ringing",
                    "call_id": msg.callID or (work.callID if work else ""),
                    "call_type": msg.callType or (work.callType if work else ""),
                    "other": _mask(msg.otherDN or (work.otherDN if work else "")),
                    "since": event.occurred_at,
                },
            )
    return updates


def _mask(number: str) -> str:
    if "*" in number:
        return number  # masked when it was logged
    digits = "".join(ch for ch in number if ch.isdigit())
    return mask_e164("+" + digits) if len(digits) >= 7 else ("***" if number else "")


def merge_register(current: Mapping[str, Any] | None, update: RegisterUpdate) -> Mapping[str, Any]:
    """Last writer by ``order`` wins; commutative, associative and idempotent."""
    if current is None or str(current.get("order", "")) < update.order:
        return update.data
    return current


def fold_agents(registers: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (source, agent): current status, reason, since, and what they are doing."""
    agents: dict[tuple[str, str], dict[str, Any]] = {}
    # One register may come from two partitions (before and after the sharding): the greatest
    # order wins, as in storage.
    latest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for reg in registers:
        if reg.get("kind") != "agent":
            continue
        slot = (str(reg["source"]), str(reg["agent_id"]), str(reg["register"]))
        if slot not in latest or str(reg.get("order", "")) > str(latest[slot].get("order", "")):
            latest[slot] = reg
    for reg in latest.values():
        key = (str(reg["source"]), str(reg["agent_id"]))
        view = agents.setdefault(
            key,
            {
                "source": key[0],
                "agent_id": key[1],
                "status": None,
                "reason": None,
                "reason_code": None,
                "since": None,
                "activity": None,
            },
        )
        if reg["register"] == "status":
            view.update(
                {
                    "status": reg.get("status"),
                    "reason": reg.get("reason") or None,
                    "reason_code": reg.get("reason_code"),
                    "since": iso(reg.get("since")),
                    "updated_at": iso(reg.get("at")),
                }
            )
            for extra in ("name", "extension", "phone_type"):
                if reg.get(extra):
                    view[extra] = reg[extra]
        else:
            view["activity"] = {
                "state": reg.get("activity"),
                "call_id": reg.get("call_id") or None,
                "call_type": reg.get("call_type") or None,
                "other": reg.get("other") or None,
                "since": iso(reg.get("since")),
            }
    return [agents[k] for k in sorted(agents)]


# ------------------------------------------------------------------------------------ callbacks


def callback_status_of(hook: WebitelEvent) -> tuple[CallbackStatus | None, str]:
    """How a Webitel event moves a callback request (see docs/events.md for the reasons).

    A missed or failed *attempt* is not a failed *request*: Webitel tries the member again, so
    only an attempt that ends the member (``member_stop_cause`` set) makes the request terminal.
    """
    success = hook.cc_result.lower() == "success"
    stop = hook.member_stop_cause.lower()
    if hook.event in ("joined", "wait_agent"):
        return CallbackStatus.QUEUED, "in the Webitel queue"
    if hook.event in ("offering", "active"):
        return CallbackStatus.DIALING, f"webitel {hook.event}"
    if hook.event == "bridged":
        return CallbackStatus.CONNECTED, "agent and customer connected"
    if hook.event == "processing" and (success or hook.bridged_at):
        return CallbackStatus.COMPLETED, "call ended, agent in post-processing"
    if hook.event == "leaving" and success:
        return CallbackStatus.COMPLETED, "attempt succeeded"
    if hook.event in ("leaving", "missed", "processing") and stop and not success:
        if stop in ("expired", "expire"):
            return CallbackStatus.EXPIRED, f"member stopped: {stop}"
        if stop in ("cancel", "canceled", "cancelled"):
            return CallbackStatus.CANCELLED, f"member stopped: {stop}"
        return CallbackStatus.FAILED, f"member stopped: {stop}"
    return None, ""


def timeline_pk(callback_id: str) -> str:
    return f"CBTL#{callback_id}"


def timeline_record(
    callback_id: str,
    event: LoggedEvent,
    *,
    kind: str,
    status: CallbackStatus | None,
    reason: str,
    call_uuid: str = "",
    agent: str = "",
) -> ProjectionRecord:
    data = {
        "kind": "timeline",
        "callback_id": callback_id,
        "event_id": event.event_id,
        "source": event.source.value,
        "event": kind,
        "at": event.occurred_at,
        "status": status.value if status else "",
        "reason": reason,
        "call_uuid": call_uuid,
        "agent": agent,
    }
    return ProjectionRecord(
        timeline_pk(callback_id),
        f"{order_of(event.occurred_at, event.event_id)}#{kind}",
        {k: v for k, v in data.items() if v not in ("", None)},
    )


_TERMINAL_PREFERENCE: Final = {
    CallbackStatus.COMPLETED: 4,
    CallbackStatus.CANCELLED: 3,
    CallbackStatus.EXPIRED: 2,
    CallbackStatus.FAILED: 1,
}


def fold_callback_status(initial: CallbackStatus, statuses: Iterable[CallbackStatus]) -> CallbackStatus:
    """The status a set of advances leads to, from ``initial``, independent of their order.

    Applies ``may_advance`` in a canonical order (rank, then a fixed preference among terminal
    statuses): the same result the CallbacksTable's conditional writes reach in any arrival
    order whenever the events agree on the outcome (at most one terminal status).
    """
    current = initial
    for status in sorted(set(statuses), key=lambda s: (status_rank(s), -_TERMINAL_PREFERENCE.get(s, 0))):
        if may_advance(current, status):
            current = status
    return current


def fold_timeline(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    unique = {(e["event_id"], e["event"]): e for e in entries if e.get("kind") == "timeline"}
    ordered = sorted(unique.values(), key=lambda e: (e["at"], e["event_id"], e["event"]))
    return [
        {
            "at": iso(e["at"]),
            "source": e["source"],
            "event": e["event"],
            "status": e.get("status"),
            "reason": e.get("reason"),
            "call_uuid": e.get("call_uuid"),
            "agent": e.get("agent"),
            "event_id": e["event_id"],
        }
        for e in ordered
    ]


def open_statuses_below(status: CallbackStatus) -> list[CallbackStatus]:
    """The statuses ``status`` may replace (the condition of the CallbacksTable update)."""
    return sorted((s for s in CallbackStatus if may_advance(s, status)), key=status_rank)


# --------------------------------------------------------------------------------------- funnel


def funnel_day(at_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at_ms / 1000, zone).date().isoformat()


# A day's funnel membership records spread over this many partitions (by member), the way its
# console counters do: a sustained 100x day puts ~560 records/s (~1,100 WCU/s in their
# transactions) on them, over one partition's 1,000 (docs/scaling.md).
FUNNEL_SHARDS: Final = 4


def funnel_shard(member: str) -> int:
    """The partition of ``member`` among a day's :data:`FUNNEL_SHARDS` (its records and counts)."""
    return zlib.crc32(member.encode()) % FUNNEL_SHARDS


def funnel_pk(day: str, member: str) -> str:
    """Where ``member``'s funnel records of ``day`` live: ``FUNNEL#<day>#<n>``."""
    return f"FUNNEL#{day}#{funnel_shard(member)}"


def funnel_pks(day: str) -> list[str]:
    """Every partition of ``day``'s funnel records, the unsharded ``FUNNEL#<day>`` of the
    versions before first (still read, so an upgrade loses no day; fold_funnel counts a member
    found in two of them once)."""
    return [f"FUNNEL#{day}"] + [f"FUNNEL#{day}#{n}" for n in range(FUNNEL_SHARDS)]


def funnel_record(day: str, provider: str, stage: str, member: str) -> ProjectionRecord:
    """Membership of one event (or one callback, for ``connected``) in a day's funnel stage."""
    return ProjectionRecord(
        funnel_pk(day, member),
        f"{provider}#{stage}#{member}",
        {"kind": "funnel", "day": day, "provider": provider, "stage": stage},
    )


def widget_funnel_record(event: LoggedEvent, widget: WidgetEvent, zone: ZoneInfo) -> ProjectionRecord | None:
    stage = widget.funnel_stage
    if stage is None:
        return None
    return funnel_record(funnel_day(event.occurred_at, zone), widget.provider, stage, event.event_id)


def fold_funnel(records: Iterable[Mapping[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """Per day and provider, how many distinct members each stage has (days without any too)."""
    counts: dict[str, dict[str, dict[str, set[str]]]] = {}
    for rec in records:
        if rec.get("kind") != "funnel":
            continue
        member = str(rec["sk"]).split("#", 2)[2] if "sk" in rec else str(rec.get("member", ""))
        counts.setdefault(rec["day"], {}).setdefault(rec["provider"], {}).setdefault(rec["stage"], set()).add(
            member
        )
    days: list[dict[str, Any]] = []
    current = start
    while current <= end:
        day = current.isoformat()
        providers = {
            provider: {stage: len(stages.get(stage, set())) for stage in FUNNEL_STAGES}
            for provider, stages in sorted(counts.get(day, {}).items())
        }
        totals = {stage: sum(p[stage] for p in providers.values()) for stage in FUNNEL_STAGES}
        days.append({"day": day, "providers": providers, "total": totals})
        current = date.fromordinal(current.toordinal() + 1)
    return days
