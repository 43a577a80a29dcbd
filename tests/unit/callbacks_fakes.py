"""In-memory fakes of the callbacks ports, with the same rules as the DynamoDB adapters
(tests/integration/test_callbacks_handler.py runs the real ones)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ringback.adapters.callbacks_dynamo import PENDING_LOCK_S, holder
from ringback.domain.abuse import Guard, GuardItem, fold_guards
from ringback.domain.callback_status import CallbackStatus, may_advance
from ringback.domain.callbacks import CallbackRecord, RepeatRecord
from ringback.domain.consent import ConsentEvidence
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.schedule import slot_key
from ringback.domain.selfservice import KeyRing
from ringback.domain.webitel import CreateCallRequest, QueueAgentCounts, WebitelUnavailable
from ringback.ports.callbacks import Reservation, SlotBooking, WriteRefused
from ringback.ports.captcha import CaptchaOutcome
from ringback.ports.rate_limits import CachedValue
from ringback.services.callbacks import CallbackService
from ringback.services.dialer_upload import deliver_now
from tests.unit.dialer_fakes import FakeWebitel

KEYS = KeyRing(current="k" * 40, accepted=["k" * 40])
ORIGIN = "https://www.example.com"

BUSINESS_HOURS = {
    "mon": ["08:00-18:00"],
    "tue": ["08:00-18:00"],
    "wed": ["08:00-18:00"],
    "thu": ["08:00-18:00"],
    "fri": ["08:00-16:00"],
    "sat": [],
    "sun": [],
}


def make_config(**overrides: Any) -> OperatorConfig:
    data: dict[str, Any] = {
        "timezone": "Europe/Prague",
        "business_hours": BUSINESS_HOURS,
        "holidays": ["2026-12-24", "2026-12-25"],
        "callback_queue_id": "1",
        "allowed_countries": ["CZ", "SK", "AT", "DE", "PL"],
        "slot_minutes": 30,
        "slot_capacity": 2,
    }
    callbacks = overrides.pop("callbacks", {})
    data.update(overrides)
    data["callbacks"] = callbacks
    return OperatorConfig.model_validate(data)


class StaticConfig:
    def __init__(self, config: OperatorConfig) -> None:
        self.config = config

    def load(self) -> OperatorConfig:
        return self.config


class MemoryCallbacks:
    """``ports.callbacks.CallbackRepository`` in memory."""

    def __init__(self) -> None:
        self.records: dict[str, CallbackRecord] = {}
        self.repeats: dict[str, list[RepeatRecord]] = {}
        self.consents: dict[str, ConsentEvidence] = {}
        self.locks: dict[str, tuple[str, int]] = {}
        self.slots: dict[tuple[str, str], int] = {}
        self.holders: dict[tuple[str, str], set[str]] = {}  # who holds each slot's places
        self.pending: dict[str, int] = {}  # e164 -> pending_until of a lock not yet committed
        self.items: dict[str, dict[str, Any]] = {}  # folded guard items, as in the GuardTable
        self.fail_create = False
        self.fail_store = False
        self._lock = threading.RLock()

    def reserve(
        self,
        record: CallbackRecord,
        *,
        lock_until: datetime,
        guards: Sequence[Guard],
        slot: SlotBooking | None,
        now: datetime,
        replace_lock_of: str | None = None,
    ) -> Reservation:
        with self._lock:
            if self.fail_create:
                raise RuntimeError("DynamoDB is down")
            taken: list[tuple[GuardItem, bool]] = []
            refused: Guard | None = None
            for item in fold_guards(guards):  # each item: every window or none
                stored = self.items.setdefault(item.storage_key, {})
                exhausted = item.exhausted(stored)
                if exhausted is not None:
                    refused = refused or exhausted
                    continue
                taken.append((item, self._take(item, stored)))
            lock = self.locks.get(record.phone)
            pending_until = self.pending.get(record.phone)
            lock_free = (
                lock is None
                or lock[1] < now.timestamp()
                or lock[0] == replace_lock_of
                or (pending_until is not None and pending_until < now.timestamp())
            )
            slot_free = slot is None or self.slots.get((slot.day, slot.key), 0) < slot.capacity
            if refused is not None or not slot_free:
                for item, added in taken:  # a refused submit consumes nothing
                    self._give(item, added)
                if refused is not None:
                    raise WriteRefused("guard", guard=refused)
                raise WriteRefused("slot_full")
            if not lock_free:
                assert lock is not None
                raise WriteRefused("phone_open", open_id=lock[0], kept=Reservation(counters=tuple(taken)))
            self.locks[record.phone] = (record.id, int(lock_until.timestamp()))
            self.pending[record.phone] = int(now.timestamp()) + PENDING_LOCK_S
            if slot is not None:
                self._take_slot(slot.day, slot.key, record)
            return Reservation(counters=tuple(taken), lock=True, slot=slot)

    def _take_slot(self, day: str, key: str, record: CallbackRecord) -> None:
        self.slots[(day, key)] = self.slots.get((day, key), 0) + 1
        self.holders.setdefault((day, key), set()).add(holder(record))

    def _give_slot(self, day: str, key: str, held: str) -> bool:
        holders = self.holders.get((day, key), set())
        if held not in holders or self.slots.get((day, key), 0) <= 0:
            return False  # given back already
        holders.discard(held)
        self.slots[(day, key)] -= 1
        return True

    def open_lock(self, e164: str, now: datetime) -> str | None:
        """What the routing lookup reads for ``pending_callback`` (``routing_dynamo``)."""
        lock = self.locks.get(e164)
        pending_until = self.pending.get(e164)
        if lock is None or lock[1] <= now.timestamp():
            return None
        if pending_until is not None and pending_until <= now.timestamp():
            return None
        return lock[0]

    def sweep_slot_holds(self, days: Sequence[str], *, older_than: datetime) -> int:
        with self._lock:
            given = 0
            for (day, key), holders in list(self.holders.items()):
                if day not in days:
                    continue
                for held in sorted(holders):
                    taken_at, _, callback_id = held.partition("#")
                    if int(taken_at) >= older_than.timestamp():
                        continue
                    record = self.records.get(callback_id)
                    if (
                        record is None
                        or record.status == CallbackStatus.CANCELLED
                        or record.slot_start is None
                        or slot_key(record.slot_start) != key
                    ):
                        given += self._give_slot(day, key, held)
            return given

    @staticmethod
    def _take(item: GuardItem, stored: dict[str, Any]) -> bool:
        added = False
        for guard in item.guards:
            name = item.attribute(guard)
            if guard.kind == "counter":
                stored[name] = stored.get(name, 0) + 1
            else:
                members = stored.setdefault(name, set())
                added = guard.member not in members
                members.add(guard.member or "")
        return added

    def _give(self, item: GuardItem, added: bool) -> None:
        stored = self.items.get(item.storage_key, {})
        for guard in item.guards:
            name = item.attribute(guard)
            if guard.kind == "counter":
                stored[name] = stored.get(name, 0) - 1
            elif added:
                stored.get(name, set()).discard(guard.member or "")

    def count(self, guard: Guard) -> int:
        """How much of ``guard`` is used (a counter's hits, a distinct set's members)."""
        (item,) = fold_guards([guard])
        value = self.items.get(item.storage_key, {}).get(item.attribute(guard), 0)
        return len(value) if isinstance(value, set) else int(value)

    def store(
        self, record: CallbackRecord, consent: ConsentEvidence | None, *, lock_until: datetime | None = None
    ) -> None:
        with self._lock:
            if self.fail_store:
                raise RuntimeError("DynamoDB is down")
            if record.id in self.records:
                raise WriteRefused("exists")
            self.records[record.id] = record
            if consent is not None:
                self.consents[record.id] = consent
            if lock_until is not None:
                self.locks[record.phone] = (record.id, int(lock_until.timestamp()))
                self.pending.pop(record.phone, None)

    def release(self, record: CallbackRecord, reservation: Reservation) -> None:
        with self._lock:
            if reservation.lock and self.locks.get(record.phone, ("",))[0] == record.id:
                del self.locks[record.phone]
            slot = reservation.slot
            if slot is not None:
                self._give_slot(slot.day, slot.key, holder(record))
            for item, added in reservation.counters:
                self._give(item, added)

    def add_repeat(
        self, primary: CallbackRecord, repeat: RepeatRecord, *, priority: int, now: datetime
    ) -> CallbackRecord:
        with self._lock:
            stored = self.records.get(primary.id)
            if stored is None or stored.status != primary.status:
                raise WriteRefused("changed")
            updated = stored.model_copy(
                update={"repeat_count": stored.repeat_count + 1, "priority": priority, "last_repeat_at": now}
            )
            self.records[primary.id] = updated
            self.repeats.setdefault(primary.id, []).append(repeat)
            return updated

    def get(self, callback_id: str) -> CallbackRecord | None:
        return self.records.get(callback_id)

    def delete_new(self, record: CallbackRecord, reservation: Reservation) -> None:
        with self._lock:
            self.records.pop(record.id, None)
            self.consents.pop(record.id, None)
        self.release(record, reservation)

    def cancel(self, record: CallbackRecord, *, now: datetime, slot: SlotBooking | None) -> CallbackRecord:
        with self._lock:
            stored = self.records.get(record.id)
            if stored is None or stored.status != record.status:
                raise WriteRefused("changed")
            cancelled = stored.model_copy(
                update={
                    "status": CallbackStatus.CANCELLED,
                    "status_at": int(now.timestamp() * 1000),
                    "cancelled_at": now,
                }
            )
            self.records[record.id] = cancelled
            if self.locks.get(record.phone, ("",))[0] == record.id:
                del self.locks[record.phone]
            if slot is not None:
                self._give_slot(slot.day, slot.key, holder(record))
            return cancelled

    def update(self, callback_id: str, **fields: object) -> None:
        with self._lock:
            self.records[callback_id] = self.records[callback_id].model_copy(update=fields)

    def advance_status(self, callback_id: str, status: CallbackStatus, at_ms: int) -> bool:
        with self._lock:
            stored = self.records.get(callback_id)
            if stored is None or not may_advance(stored.status, status):
                return False
            self.records[callback_id] = stored.model_copy(update={"status": status, "status_at": at_ms})
            return True

    def reschedule(
        self,
        before: CallbackRecord,
        after: CallbackRecord,
        *,
        old_slot: SlotBooking | None,
        new_slot: SlotBooking,
        lock_until: datetime,
    ) -> None:
        with self._lock:
            stored = self.records.get(before.id)
            if (
                stored is None
                or stored.status != before.status
                or stored.reschedule_count != before.reschedule_count
            ):
                raise WriteRefused("changed")
            if self.slots.get((new_slot.day, new_slot.key), 0) >= new_slot.capacity:
                raise WriteRefused("slot_full")
            self.records[before.id] = after
            self._take_slot(new_slot.day, new_slot.key, after)
            if old_slot is not None:
                self._give_slot(old_slot.day, old_slot.key, holder(before))
            self.locks[after.phone] = (after.id, int(lock_until.timestamp()))

    def slot_counts(self, days: Sequence[str]) -> dict[str, int]:
        return {key: count for (day, key), count in self.slots.items() if day in days}

    def ids_for_phone(self, e164: str) -> list[str]:
        ids = [r.id for r in self.records.values() if r.phone == e164]
        return ids

    def erase(self, callback_ids: Sequence[str], e164: str) -> int:
        with self._lock:
            count = 0
            for callback_id in callback_ids:
                count += 1 if self.records.pop(callback_id, None) else 0
                count += 1 if self.consents.pop(callback_id, None) else 0
                count += len(self.repeats.pop(callback_id, []))
            self.locks.pop(e164, None)
            return count


class CallbacksWebitel(FakeWebitel):
    """The dialer's fake Webitel plus what the callbacks use: calls, agent counts, deletes."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = QueueAgentCounts(online=2, free=1, busy=1, total=3)
        self.count_requests = 0
        self.down = False
        self.placed: list[CreateCallRequest] = []
        self.call_fault: str | None = None
        # The call went out but its answer was lost (read timeout after Webitel committed).
        self.call_answer_lost = False

    def queue_agent_counts(self, queue_id: str) -> QueueAgentCounts:
        self.count_requests += 1
        if self.down:
            raise WebitelUnavailable("down", may_have_committed=False)
        return self.counts

    def create_call(self, request: Any) -> str:
        if self.call_fault:
            raise WebitelUnavailable(self.call_fault, may_have_committed=False)
        self.placed.append(request)
        if self.call_answer_lost:
            raise WebitelUnavailable("read timeout", may_have_committed=True)
        return f"call-{len(self.placed)}"

    def stop_member(self, queue_id: str, member_id: str, cause: str = "cancel") -> None:
        if self.down:
            raise WebitelUnavailable("down", may_have_committed=False)
        super().stop_member(queue_id, member_id, cause)

    def delete_members(
        self, queue_id: str, *, ids: Sequence[str] = (), variables: Mapping[str, str] | None = None
    ) -> None:
        if self.down:
            raise WebitelUnavailable("down", may_have_committed=False)
        super().delete_members(queue_id, ids=ids, variables=variables)


class FakeCaptcha:
    def __init__(self, ok_token: str = "good") -> None:  # noqa: S107 - a test value
        self.ok_token = ok_token
        self.calls = 0

    def verify(self, token: str, remote_ip: str | None) -> CaptchaOutcome:
        self.calls += 1
        return CaptchaOutcome(token == self.ok_token, () if token == self.ok_token else ("bad",))


class MemoryCache:
    """``ports.rate_limits.SharedCache`` in memory (shared by several services in a test)."""

    def __init__(self) -> None:
        self.values: dict[str, CachedValue] = {}
        self.leases: dict[str, datetime] = {}

    def read(self, key: str) -> CachedValue | None:
        return self.values.get(key)

    def claim_refresh(self, key: str, *, now: datetime, lease_s: int) -> bool:
        until = self.leases.get(key)
        if until is not None and until >= now:
            return False
        from datetime import timedelta

        self.leases[key] = now + timedelta(seconds=lease_s)
        return True

    def write(self, key: str, value: dict[str, Any], *, now: datetime, ttl_s: int) -> None:
        self.values[key] = CachedValue(value, now)


def at(text: str) -> datetime:
    """An aware UTC datetime from ISO text (with offset)."""
    return datetime.fromisoformat(text).astimezone(UTC)


class RepoStatusSink:
    """``ports.projections.CallbackStatusSink`` over the in-memory repository (what
    ``DynamoCallbackStatus`` is over the CallbacksTable)."""

    def __init__(self, repo: MemoryCallbacks) -> None:
        self._repo = repo

    def advance(self, advance: Any) -> bool:
        return self._repo.advance_status(advance.callback_id, advance.status, advance.at)


def delivering(repo: Any, delivered: list[str] | None = None) -> Callable[..., Any]:
    """The dialer's real ``deliver_now``, writing the request's status to ``repo`` (what the
    handler's wiring does); the entry ids it is given are added to ``delivered``."""

    def deliver(outbox: Any, webitel: Any, entry_ids: Any, clock: Any, owner: str, **kwargs: Any) -> Any:
        if delivered is not None:
            delivered.extend(entry_ids)
        kwargs.setdefault("callback_status", RepoStatusSink(repo))
        return deliver_now(outbox, webitel, entry_ids, clock, owner, **kwargs)

    return deliver


def callback_service(
    *,
    repo: Any,
    outbox: Any,
    config: Any,
    clock: Any,
    webitel: Callable[[], Any],
    captcha: Callable[[], Any] = FakeCaptcha,
    erasures: Any = None,
    delivered: list[str] | None = None,
) -> CallbackService:
    """The callbacks service over in-memory ports, as the unit tests wire it (region CZ, the
    one allowed origin :data:`ORIGIN`, the real ``deliver_now`` through :func:`delivering`)."""
    return CallbackService(
        repo=repo,
        outbox=outbox,
        config=config,
        clock=clock,
        keys=lambda: KEYS,
        captcha=captcha,
        webitel=webitel,
        deliver=delivering(repo, delivered),
        default_region="CZ",
        allowed_origins=[ORIGIN],
        erasures=erasures,
    )
