"""In-memory fakes of the dialer's ports, with the same rules as the DynamoDB adapter
(the shared contract test in tests/integration/test_outbox_dynamo.py runs against both)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ringback.domain.callback_status import TERMINAL, CallbackStatus, may_advance
from ringback.domain.events.projections import CallbackAdvance
from ringback.domain.outbox import ID_TAG, OutboxEntry, OutboxState, callback_entry_id, cancelled
from ringback.domain.receipts import Receipt
from ringback.domain.webitel import (
    MemberInQueue,
    MemberItem,
    MemberPage,
    WebitelAuthError,
    WebitelRejected,
    WebitelUnavailable,
)
from ringback.ports.erasures import Tombstone
from ringback.ports.projections import CallbackState

_OPEN = (OutboxState.PENDING, OutboxState.CLAIMED)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 18, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class MemoryOutbox:
    """``ports.outbox.DialerOutbox`` in memory, thread-safe."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.entries: dict[str, OutboxEntry] = {}
        self.ready_since: dict[str, datetime] = {}
        self.reasons: dict[str, str] = {}
        self.clock = clock
        self._lock = threading.RLock()

    def add(self, entry: OutboxEntry) -> bool:
        with self._lock:
            if entry.entry_id in self.entries:
                return False
            self.entries[entry.entry_id] = entry
            self.ready_since[entry.entry_id] = entry.due_at
            return True

    def add_many(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        return [self.add(entry) for entry in entries]

    def get(self, entry_id: str) -> OutboxEntry | None:
        with self._lock:
            return self.entries.get(entry_id)

    def _claimable(self, entry: OutboxEntry, now: datetime, *, due_only: bool) -> bool:
        if entry.state == OutboxState.PENDING:
            return not due_only or entry.due_at <= now
        return (
            entry.state == OutboxState.CLAIMED and entry.claim_until is not None and entry.claim_until < now
        )

    def _take(self, entry: OutboxEntry, now: datetime, lease_s: int, owner: str) -> OutboxEntry:
        taken = entry.model_copy(
            update={
                "state": OutboxState.CLAIMED,
                "claim_owner": owner,
                "claim_until": now + timedelta(seconds=lease_s),
                "outcome_unknown": entry.outcome_unknown or entry.state == OutboxState.CLAIMED,
            }
        )
        self.entries[entry.entry_id] = taken
        return taken

    def claim_due(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        with self._lock:
            due = sorted(
                (
                    e
                    for e in self.entries.values()
                    if e.queue_id == queue_id and self._claimable(e, now, due_only=True)
                ),
                key=lambda e: (e.claim_until if e.state == OutboxState.CLAIMED else e.due_at, e.entry_id),
            )
            return [self._take(e, now, lease_s, owner) for e in due[:limit]]

    def claim(
        self, entry_ids: Sequence[str], now: datetime, *, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        with self._lock:
            taken = []
            for entry_id in entry_ids:
                entry = self.entries.get(entry_id)
                if entry is not None and self._claimable(entry, now, due_only=False):
                    taken.append(self._take(entry, now, lease_s, owner))
            return taken

    def _held(self, entry_id: str, owner: str) -> OutboxEntry | None:
        entry = self.entries.get(entry_id)
        if entry is None or entry.state != OutboxState.CLAIMED or entry.claim_owner != owner:
            return None
        return entry

    def _closed(self, entry: OutboxEntry, **changes: Any) -> None:
        self.entries[entry.entry_id] = entry.model_copy(
            update={"claim_owner": None, "claim_until": None, **changes}
        )

    def mark_delivered(self, entry_id: str, webitel_member_id: str, *, owner: str) -> OutboxState | None:
        with self._lock:
            entry = self.entries.get(entry_id)
            if entry is None:
                return None
            before = entry.state
            if before in _OPEN:
                self._closed(
                    entry,
                    state=OutboxState.DELIVERED,
                    webitel_member_id=webitel_member_id,
                    outcome_unknown=False,
                )
            elif before == OutboxState.CANCELLED:
                self.entries[entry_id] = entry.model_copy(
                    update={
                        "webitel_member_id": entry.webitel_member_id or webitel_member_id,
                        "member_stop": "pending",
                        "stop_due_at": self.now(),
                    }
                )
            return before

    def mark_rejected(self, entry_id: str, reason: str, *, owner: str) -> None:
        with self._lock:
            entry = self._held(entry_id, owner)
            if entry is not None:
                self._closed(entry, state=OutboxState.REJECTED, last_error=reason, outcome_unknown=False)

    def mark_expired(self, entry_id: str, *, owner: str) -> None:
        with self._lock:
            entry = self._held(entry_id, owner)
            if entry is not None:
                self._closed(entry, state=OutboxState.EXPIRED)

    def release(
        self, entry_id: str, *, owner: str, error: str, retry_at: datetime, outcome_unknown: bool = False
    ) -> None:
        with self._lock:
            entry = self._held(entry_id, owner)
            if entry is not None:
                self._closed(
                    entry,
                    state=OutboxState.PENDING,
                    due_at=retry_at,
                    last_error=error,
                    attempts=entry.attempts + 1,
                    outcome_unknown=entry.outcome_unknown or outcome_unknown,
                )

    def defer(self, entry_id: str, *, owner: str, until: datetime, reason: str) -> None:
        with self._lock:
            entry = self._held(entry_id, owner)
            if entry is not None:
                self._closed(entry, state=OutboxState.PENDING, due_at=until, last_error=reason)
                self.ready_since[entry_id] = until

    def replace(self, entry: OutboxEntry, *, expected: OutboxState) -> bool:
        with self._lock:
            stored = self.entries.get(entry.entry_id)
            if stored is None or stored.state != expected:
                return False
            self.entries[entry.entry_id] = entry.model_copy(update={"state": expected})
            return True

    def oldest_due(self, queue_id: str, now: datetime) -> datetime | None:
        with self._lock:
            waiting = [
                self.ready_since[e.entry_id]
                for e in self.entries.values()
                if e.queue_id == queue_id and e.state in _OPEN and self.ready_since[e.entry_id] <= now
            ]
            return min(waiting) if waiting else None

    def cancel(
        self, entry_id: str, *, reason: str = "cancelled", owner: str | None = None, erase: bool = False
    ) -> OutboxEntry | None:
        with self._lock:
            entry = self.entries.get(entry_id)
            if entry is None:
                return None
            after = cancelled(entry, reason=reason, now=self.now(), owner=owner, erase=erase)
            if after is not None:
                self.entries[entry_id] = after
            return entry

    def now(self) -> datetime:
        """The time stop orders are armed at: the test's clock when one is attached."""
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    def claim_stops(
        self, queue_id: str, now: datetime, *, limit: int, lease_s: int, owner: str
    ) -> list[OutboxEntry]:
        with self._lock:
            due = sorted(
                (
                    e
                    for e in self.entries.values()
                    if e.queue_id == queue_id
                    and e.member_stop == "pending"
                    and e.stop_due_at is not None
                    and e.stop_due_at <= now
                ),
                key=lambda e: (e.stop_due_at, e.entry_id),
            )[:limit]
            taken = []
            for entry in due:
                claimed = entry.model_copy(update={"stop_due_at": now + timedelta(seconds=lease_s)})
                self.entries[entry.entry_id] = claimed
                taken.append(claimed)
            return taken

    def _same_order(self, entry: OutboxEntry) -> OutboxEntry | None:
        stored = self.entries.get(entry.entry_id)
        if stored is None or stored.member_stop != "pending" or stored.stop_due_at != entry.stop_due_at:
            return None
        return stored

    def arm_stop(self, entry_id: str, *, due: datetime) -> bool:
        with self._lock:
            entry = self.entries.get(entry_id)
            if entry is None or entry.state != OutboxState.DELIVERED or entry.member_stop == "pending":
                return False
            self.entries[entry_id] = entry.model_copy(update={"member_stop": "pending", "stop_due_at": due})
            return True

    def stop_void(self, entry: OutboxEntry) -> None:
        with self._lock:
            stored = self._same_order(entry)
            if stored is not None and stored.state == OutboxState.DELIVERED:
                self.entries[entry.entry_id] = stored.model_copy(
                    update={"member_stop": None, "stop_due_at": None}
                )

    def stop_done(self, entry: OutboxEntry) -> None:
        with self._lock:
            stored = self._same_order(entry)
            if stored is not None:
                self.entries[entry.entry_id] = stored.model_copy(
                    update={"member_stop": "done", "stop_due_at": None}
                )

    def stop_failed(self, entry: OutboxEntry, *, error: str, retry_at: datetime) -> None:
        with self._lock:
            stored = self._same_order(entry)
            if stored is not None:
                self.entries[entry.entry_id] = stored.model_copy(
                    update={"stop_due_at": retry_at, "stop_attempts": stored.stop_attempts + 1}
                )

    def requeue(self, entry_ids: Sequence[str], now: datetime) -> int:
        with self._lock:
            count = 0
            for entry_id in entry_ids:
                entry = self.entries.get(entry_id)
                if entry is not None and entry.state == OutboxState.REJECTED:
                    self.entries[entry_id] = entry.model_copy(
                        update={"state": OutboxState.PENDING, "due_at": now, "outcome_unknown": False}
                    )
                    self.ready_since[entry_id] = now
                    count += 1
            return count


class MemoryReceipts:
    def __init__(self) -> None:
        self.saved: dict[str, Receipt] = {}

    def save(self, receipt: Receipt) -> None:
        self.saved[receipt.run_id] = receipt.model_copy(deep=True)

    def get(self, run_id: str) -> Receipt | None:
        return self.saved.get(run_id)

    def recent(self, limit: int = 20) -> list[Receipt]:
        return sorted(self.saved.values(), key=lambda r: r.started_at, reverse=True)[:limit]


class MemoryDnc:
    def __init__(self, numbers: Iterable[str] = ()) -> None:
        self.numbers: dict[str, str] = dict.fromkeys(numbers, "test")

    def blocked(self, numbers: Iterable[str]) -> set[str]:
        return {n for n in numbers if n in self.numbers}

    def add(self, number: str, *, reason: str, source: str) -> None:
        self.numbers[number] = reason

    def remove(self, number: str) -> None:
        self.numbers.pop(number, None)


class MemoryCallbackStatus:
    """``ports.projections.CallbackStatusSink`` in memory, with DynamoCallbackStatus's rules:
    only forward (``may_advance``), at the same status the earliest fact wins, and a terminal
    status releases the number's open-request pointer while it names the request.

    ``fail``: every advance raises (the CallbacksTable is unavailable)."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Any]] = {}
        self.locks: dict[str, str] = {}  # e164 -> callback id (the OPEN#<e164> pointer)
        self.calls: list[CallbackAdvance] = []
        self.fail = False
        self._lock = threading.RLock()

    def add(self, callback_id: str, e164: str, status: CallbackStatus = CallbackStatus.RECEIVED) -> None:
        with self._lock:
            self.requests[callback_id] = {
                "status": status,
                "status_at": 0,
                "status_reason": "",
                "phone": e164,
            }
            self.locks[e164] = callback_id

    def open_states(self, callback_ids: Sequence[str]) -> dict[str, CallbackState]:
        with self._lock:
            return {
                cid: CallbackState(
                    "closed" if self.requests[cid]["status"] in TERMINAL else "open",
                    self.requests[cid].get("entry_id") or callback_entry_id(cid),
                )
                for cid in callback_ids
                if cid in self.requests
            }

    def pending_callback(self, e164: str) -> str | None:
        """What the routing lookup answers for the number."""
        return self.locks.get(e164)

    def advance(self, advance: CallbackAdvance) -> bool:
        with self._lock:
            self.calls.append(advance)
            if self.fail:
                raise ConnectionError("CallbacksTable unavailable")
            item = self.requests.get(advance.callback_id)
            if item is None:
                return False
            current = item["status"]
            earlier = current is advance.status and (advance.at, advance.event_id) < (
                item["status_at"],
                item.get("status_event", ""),
            )
            moved = may_advance(current, advance.status) or earlier
            if moved:
                item.update(
                    status=advance.status,
                    status_at=advance.at,
                    status_reason=advance.reason,
                    status_event=advance.event_id,
                )
            terminal = item["status"] in TERMINAL and advance.status in TERMINAL
            if terminal and self.locks.get(item["phone"]) == advance.callback_id:
                del self.locks[item["phone"]]
            return moved


class Crash(BaseException):
    """The process dies (Lambda timeout, out of memory): nothing after it runs."""


class FakeWebitel:
    """Members in memory with Webitel's bulk rules, and scripted faults.

    ``invalid``: destinations whose items make any bulk containing them fail with 400.
    ``faults``: a list consumed one per call: "down" (not sent), "5xx" (not committed),
    "lost" (committed, answer lost), "auth", "crash_before" / "crash_after" (the calling
    process dies before sending / after the bulk committed).
    """

    def __init__(self) -> None:
        self.members: dict[str, MemberInQueue] = {}
        self.invalid: set[str] = set()
        self.faults: list[str] = []
        self.search_faults: list[str] = []
        self.calls: list[tuple[str, int]] = []
        self.stopped: list[str] = []
        self.stop_causes: dict[str, str] = {}
        # Consumed one per stop/delete call: "down" (Webitel unreachable).
        self.stop_faults: list[str] = []
        self.deleted: list[dict[str, str]] = []
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()

    def _fault(self, queue: list[str]) -> str | None:
        with self._lock:
            return queue.pop(0) if queue else None

    def create_members_bulk(self, queue_id: str, items: Sequence[MemberItem], file_name: str) -> list[str]:
        fault = self._fault(self.faults)
        with self._lock:
            self.calls.append(("bulk", len(items)))
        if fault == "down":
            raise WebitelUnavailable("down", may_have_committed=False)
        if fault == "5xx":
            raise WebitelUnavailable("503", status=503)
        if fault == "auth":
            raise WebitelAuthError("401", status=401)
        if fault == "crash_before":
            raise Crash
        with self._lock:
            for index, item in enumerate(items):
                if any(c.destination in self.invalid for c in item.communications):
                    raise WebitelRejected(
                        "bad item",
                        status=400,
                        error_id="app.member.valid",
                        detail=f"items[{index}]: invalid destination",
                        request_id="req-1",
                    )
            ids = []
            for item in items:
                member_id = str(next(self._ids))
                self.members[member_id] = MemberInQueue(
                    id=member_id,
                    name=item.name,
                    variables=dict(item.variables),
                    queue={"id": queue_id},  # type: ignore[arg-type]
                )
                ids.append(member_id)
        if fault == "lost":
            raise WebitelUnavailable("timeout after commit")
        if fault == "crash_after":
            raise Crash
        return ids

    def create_member(self, queue_id: str, item: MemberItem) -> str:
        return self.create_members_bulk(queue_id, [item], "")[0]

    def search_members(
        self, queue_id: str, variables: Mapping[str, str], page: int = 1, size: int = 100
    ) -> MemberPage:
        fault = self._fault(self.search_faults)
        with self._lock:
            self.calls.append(("search", 0))
        if fault == "down":
            raise WebitelUnavailable("down", may_have_committed=False)
        with self._lock:
            found = [
                m
                for m in self.members.values()
                if m.queue_id == queue_id and all(m.variables.get(k) == v for k, v in variables.items())
            ]
        start = (page - 1) * size
        return MemberPage(next=len(found) > start + size, items=found[start : start + size])

    def stop_member(self, queue_id: str, member_id: str, cause: str = "cancel") -> None:
        """Webitel's PatchMember: 404 for a member not in the queue (engine
        store/sqlstore/pg_dialect.go extractCodeFromErr: no row -> 404)."""
        fault = self._fault(self.stop_faults)
        with self._lock:
            self.calls.append(("stop", 1))
        if fault == "down":
            raise WebitelUnavailable("down", may_have_committed=False)
        with self._lock:
            member = self.members.get(member_id)
            if member is None or member.queue_id != queue_id:
                raise WebitelRejected(
                    "not found", status=404, error_id="store.sql_member.get.app_error", detail="no rows"
                )
            self.stopped.append(member_id)
            self.stop_causes[member_id] = cause

    def delete_members(
        self, queue_id: str, *, ids: Sequence[str] = (), variables: Mapping[str, str] | None = None
    ) -> None:
        fault = self._fault(self.stop_faults)
        with self._lock:
            self.calls.append(("delete", 1))
        if fault == "down":
            raise WebitelUnavailable("down", may_have_committed=False)
        with self._lock:
            self.deleted.append(dict(variables or {}))
            for member_id, member in list(self.members.items()):
                if member.queue_id != queue_id:
                    continue
                if (ids and member_id in ids) or (
                    variables and all(member.variables.get(k) == v for k, v in variables.items())
                ):
                    del self.members[member_id]

    def create_call(self, request: Any) -> str:
        raise NotImplementedError

    def list_agents(self, queue_id: str | None = None) -> list[Any]:
        raise NotImplementedError

    def queue_agent_counts(self, queue_id: str) -> Any:
        raise NotImplementedError

    def tags(self) -> list[str]:
        with self._lock:
            return [m.variables.get(ID_TAG, "") for m in self.members.values()]


class MemoryErasures:
    """``ports.erasures.ErasureTombstones`` in memory."""

    def __init__(self) -> None:
        self.tombstones: dict[str, Tombstone] = {}

    def open(self, key: str, *, phone_masked: str, targets: Sequence[str], now: datetime) -> Tombstone:
        current = self.tombstones.get(key)
        merged = set(targets) | set(current.targets if current else ())
        self.tombstones[key] = Tombstone(
            key=key,
            phone_masked=phone_masked,
            targets=tuple(sorted(merged)),
            local_done=False,
            requested_at=current.requested_at if current else now,
            due_at=now,
            attempts=current.attempts if current else 0,
        )
        return self.tombstones[key]

    def get(self, key: str) -> Tombstone | None:
        return self.tombstones.get(key)

    def settle(
        self, key: str, *, pending: Sequence[str], local_done: bool, due_at: datetime, failed: bool
    ) -> None:
        current = self.tombstones.get(key)
        if current is None:
            return
        if not pending and local_done:
            del self.tombstones[key]
            return
        self.tombstones[key] = replace(
            current,
            targets=tuple(sorted(set(pending))),
            local_done=local_done,
            due_at=due_at,
            attempts=current.attempts + (1 if failed else 0),
        )

    def claim_due(self, now: datetime, *, limit: int, lease_s: int) -> list[Tombstone]:
        due = sorted((t for t in self.tombstones.values() if t.due_at <= now), key=lambda t: t.due_at)[:limit]
        for tombstone in due:
            self.tombstones[tombstone.key] = replace(tombstone, due_at=now + timedelta(seconds=lease_s))
        return [self.tombstones[t.key] for t in due]
