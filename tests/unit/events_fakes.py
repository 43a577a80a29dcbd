"""In-memory fakes of the event fan-out's ports, with the same semantics as the DynamoDB adapters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ringback.domain.callback_status import OPEN, CallbackStatus, may_advance
from ringback.domain.events.console_rows import (
    BoardWrite,
    CountedRecord,
    CountedRegister,
    RowWrite,
    add_count,
    add_counts,
    count_delta,
    first_agents,
    merge_board,
    merge_row,
)
from ringback.domain.events.envelope import LoggedEvent
from ringback.domain.events.projections import (
    CallbackAdvance,
    ClosingRequest,
    ProjectionRecord,
    RegisterUpdate,
)
from ringback.domain.outbox import callback_entry_id, callback_entry_ids
from ringback.ports.event_guard import RateDecision
from ringback.ports.projections import CallbackState


@dataclass
class FakeProjections:
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fail_registers: bool = False

    def put_records(self, records: Sequence[ProjectionRecord]) -> None:
        for r in records:
            self.items[(r.pk, r.sk)] = {**r.data, "pk": r.pk, "sk": r.sk}

    def update_register(self, update: RegisterUpdate) -> bool:
        if self.fail_registers:
            raise RuntimeError("injected projection failure")
        current = self.items.get((update.pk, update.sk))
        if current is not None and str(current["order"]) >= update.order:
            return False
        self.items[(update.pk, update.sk)] = {
            **update.data,
            "order": update.order,
            "pk": update.pk,
            "sk": update.sk,
        }
        return True

    def records(self, pk: str) -> list[dict[str, Any]]:
        return [dict(v) for (p, _), v in sorted(self.items.items()) if p == pk]

    def _entries(self, pk: str, sk: str) -> dict[str, Any]:
        item = self.items.setdefault((pk, sk), {"pk": pk, "sk": sk, "e": {}})
        entries: dict[str, Any] = item["e"]
        return entries

    def put_counted(self, counted: CountedRecord) -> bool:
        record = counted.record
        if (record.pk, record.sk) in self.items:
            return False
        self.items[(record.pk, record.sk)] = {**record.data, "pk": record.pk, "sk": record.sk}
        add_count(self._entries(counted.counter_pk, counted.counter_sk), counted.field)
        return True

    def write_board(self, write: BoardWrite) -> bool:
        """The rule of ``DynamoProjections.write_board`` (``console_rows.merge_board``, and one
        more on the partition's counter when the row changes)."""
        key = (write.pk, write.sk)
        stored = self.items.get(key)
        guard = self.items.get(write.guard, {}).get("o") if write.guard else None
        if not merge_board(None if stored is None else str(stored["o"]), write, guard):
            return False
        if write.kind == "register":
            self.items[key] = {"pk": write.pk, "sk": write.sk, "o": write.order, "r": dict(write.value or {})}
        else:
            del self.items[key]
        counter = self.items.setdefault(write.counter, {"pk": write.counter[0], "sk": write.counter[1]})
        counter["v"] = int(counter.get("v", 0)) + 1
        return True

    def write_row(self, write: RowWrite) -> bool:
        """The rule of ``DynamoProjections.write_row`` (``console_rows.merge_row`` and
        ``count_delta`` on the counter item, at once)."""
        key = (write.pk, write.sk)
        old = self.items.get(key)
        new = merge_row(old, write)
        if new is None:
            return False
        self.items[key] = {**new, "pk": write.pk, "sk": write.sk}
        if write.counter is not None:
            counter = self.items.setdefault(
                write.counter, {"pk": write.counter[0], "sk": write.counter[1], "e": {}}
            )
            add_counts(counter["e"], count_delta(old, new))
            # DynamoDB keeps a counter ADDed back to 0; it reads as an absent one.
            counter["e"] = {name: n for name, n in counter["e"].items() if n}
        return True

    def first_agents(self, pk: str, agents: int, max_items: int) -> dict[str, dict[str, Any]]:
        """``ports.console.ConsoleAggregates.first_agents`` over these items (the adapter's Query)."""
        found = [(str(r["sk"]), r) for r in self.records(pk)][:max_items]
        return first_agents(found, agents)[0]

    def board_rows(self, pk: str, max_rows: int) -> tuple[list[dict[str, Any]], bool]:
        """``ports.console.ConsoleAggregates.board_rows`` over these items (the adapter's Query)."""
        found = [{"sk": r["sk"], "o": r["o"], "r": r["r"]} for r in self.records(pk) if "r" in r]
        return found[:max_rows], len(found) > max_rows

    def update_register_counted(self, counted: CountedRegister) -> bool:
        """The rule of ``DynamoProjections.update_register_counted``: the register, and one more
        on its counter item, at once."""
        if not self.update_register(counted.update):
            return False
        # The counter is a write version (what the page's reads are kept by), not projected data.
        counter = self.items.setdefault(counted.counter, {"pk": counted.counter[0], "sk": counted.counter[1]})
        counter["v"] = int(counter.get("v", 0)) + 1
        return True

    def clear(self) -> int:
        count = len(self.items)
        self.items.clear()
        return count

    def snapshot(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The projected data (without write versions ``v``: an older register applied first
        takes one write more, and a board row put then deleted leaves its partition's counter
        where the other order wrote nothing)."""
        return {
            k: {a: x for a, x in v.items() if a != "v"}
            for k, v in self.items.items()
            if not set(v) <= {"pk", "sk", "v"}
        }


@dataclass
class FakeEventLog:
    events: dict[str, LoggedEvent] = field(default_factory=dict)
    fail: bool = False
    # What the table's stream would carry: each new log entry once, in write order.
    stream: list[LoggedEvent] = field(default_factory=list)

    def append(self, event: LoggedEvent) -> bool:
        if self.fail:
            raise RuntimeError("injected log failure")
        if event.event_id in self.events:
            return False
        self.events[event.event_id] = event
        self.stream.append(event)
        return True

    def drain(self) -> list[LoggedEvent]:
        """The stream records written since the last drain (as the projector receives them)."""
        records, self.stream = self.stream, []
        return records

    def get(self, event_id: str) -> LoggedEvent | None:
        return self.events.get(event_id)

    def scan(self) -> Iterator[LoggedEvent]:
        return iter(list(self.events.values()))


@dataclass
class FakeCallbacks:
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(
        self,
        callback_id: str,
        status: CallbackStatus = CallbackStatus.QUEUED,
        *,
        phone: str = "",
        created_ms: int = 0,
    ) -> None:
        self.requests[callback_id] = {
            "status": status.value,
            "status_at": created_ms,
            "status_reason": "",
            "phone": phone,
            "created_ms": created_ms,
        }

    def advance(self, advance: CallbackAdvance) -> bool:
        item = self.requests.get(advance.callback_id)
        if item is None:
            return False
        current = CallbackStatus(item["status"])
        same_but_earlier = current is advance.status and (advance.at, advance.event_id) < (
            item["status_at"],
            item.get("status_event", ""),
        )
        if not (may_advance(current, advance.status) or same_but_earlier):
            return False
        item.update(
            status=advance.status.value,
            status_at=advance.at,
            status_reason=advance.reason,
            status_event=advance.event_id,
        )
        return True

    def requests_to_close(self, e164: str, created_before_ms: int, event_id: str) -> list[ClosingRequest]:
        return [
            ClosingRequest(cid, callback_entry_ids(cid, item.get("reschedule_count", 0)))
            for cid, item in sorted(self.requests.items())
            if item["phone"] == e164
            and item["created_ms"] <= created_before_ms
            and (CallbackStatus(item["status"]) in OPEN or item.get("status_event") == event_id)
        ]

    def open_states(self, callback_ids: Sequence[str]) -> dict[str, CallbackState]:
        """``ports.projections.CallbackStates`` (the dialer's re-check) over the same requests."""
        return {
            cid: CallbackState(
                "open" if CallbackStatus(self.requests[cid]["status"]) in OPEN else "closed",
                callback_entry_id(cid, self.requests[cid].get("reschedule_count", 0)),
            )
            for cid in callback_ids
            if cid in self.requests
        }

    def status(self, callback_id: str) -> dict[str, Any] | None:
        item = self.requests.get(callback_id)
        return None if item is None else {k: item[k] for k in ("status", "status_at", "status_reason")}


@dataclass
class FixedClock:
    moment: datetime = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@dataclass
class FakeLimiter:
    limit_hits: int = 10**9
    hits: dict[str, int] = field(default_factory=dict)

    def hit(self, key: str, *, limit: int, window_s: int, now: datetime) -> RateDecision:
        self.hits[key] = self.hits.get(key, 0) + 1
        if self.hits[key] > min(limit, self.limit_hits):
            return RateDecision(False, 30)
        return RateDecision(True)
