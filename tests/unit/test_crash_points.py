"""Crash-point safety, proven (issue 13 point 3): every use case is stopped after each one of
its writes (``crash_points.CrashPoint``), then the caller retries and the schedules run, and the
invariants hold: an accepted request is dialled exactly once, a cancelled or erased one never,
no lock or slot place is left behind, and the visitor's retry gets the original answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from ringback.adapters.callbacks_dynamo import holder
from ringback.domain.callback_status import TERMINAL, CallbackStatus
from ringback.domain.callbacks import CallbackAccepted, CallbackRequest, RescheduleRequest
from ringback.domain.outbox import CALLBACK_TAG
from ringback.domain.schedule import slot_day, slot_key
from ringback.ports.projections import CallbackState
from ringback.services.callbacks import CallbackService, Caller
from ringback.services.dialer_upload import run_upload
from tests.unit.callbacks_fakes import (
    ORIGIN,
    CallbacksWebitel,
    MemoryCallbacks,
    RepoStatusSink,
    StaticConfig,
    at,
    callback_service,
    make_config,
)
from tests.unit.crash_points import CrashPoint, crashed, walk
from tests.unit.dialer_fakes import FakeClock, MemoryErasures, MemoryOutbox

pytestmark = pytest.mark.unit

OPEN_NOW = at("2026-11-18T10:00:00+00:00")  # Wednesday 11:00 in Prague, open
SLOT = "2026-11-19T15:00:00+01:00"
LATER_SLOT = "2026-11-20T10:00:00+01:00"
PHONE = "+420777666555"


class RepoStates:
    """``ports.projections.CallbackStates`` over the in-memory repository."""

    def __init__(self, repo: MemoryCallbacks) -> None:
        self._repo = repo

    def open_states(self, callback_ids: Any) -> dict[str, CallbackState]:
        found = {}
        for callback_id in callback_ids:
            record = self._repo.records.get(callback_id)
            if record is not None:
                state = "closed" if record.status in TERMINAL else "open"
                found[callback_id] = CallbackState(state, record.outbox_entry_id)  # type: ignore[arg-type]
        return found


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(OPEN_NOW)
        self.repo = MemoryCallbacks()
        self.outbox = MemoryOutbox(self.clock)
        self.webitel = CallbacksWebitel()
        self.erasures = MemoryErasures()
        self.config = StaticConfig(make_config())
        self.answers: dict[str, CallbackAccepted] = {}  # Powertools Idempotency's records

    def service(self, point: CrashPoint | None = None) -> CallbackService:
        wrap: Callable[[Any, str], Any] = point.wrap if point else (lambda port, kind: port)
        repo, outbox = wrap(self.repo, "repo"), wrap(self.outbox, "outbox")
        webitel, erasures = wrap(self.webitel, "webitel"), wrap(self.erasures, "erasures")
        return callback_service(
            repo=repo,
            outbox=outbox,
            config=self.config,
            clock=self.clock,
            webitel=lambda: webitel,
            erasures=erasures,
        )

    def submit(self, key: str, point: CrashPoint | None = None, **body: Any) -> CallbackAccepted:
        """The handler with an Idempotency-Key: a completed submit's answer is replayed; one
        that died left no record, so its retry runs again with the same key."""
        if key in self.answers:
            return self.answers[key]
        body.setdefault("phone", "777 666 555")
        caller = Caller(client_ip="198.51.100.7", origin=ORIGIN, submit_key=f"key-{key}")
        answer = self.service(point).submit(CallbackRequest.model_validate(body), caller)
        if point is None or not point.dead:
            self.answers[key] = answer
        return answer

    def schedules(self, until: datetime | None = None) -> None:
        """Time passes (past every grace and lease) and the callbacks schedule fires."""
        self.clock.advance(400)
        if until is not None and self.clock.now() < until:
            self.clock.current = until
        for _ in range(2):
            run_upload(
                "callbacks",
                self.outbox,
                self.webitel,
                self.clock,
                self.config.config,
                "dialer",
                callback_status=RepoStatusSink(self.repo),
                callback_states=RepoStates(self.repo),
                erasures=self.erasures,
                slot_holds=self.repo,
            )
            self.clock.advance(400)

    # -- what the invariants look at -----------------------------------------------------------

    def dialled(self) -> dict[str, int]:
        """Per request: its members in Webitel that may still ring (not stopped)."""
        counts: dict[str, int] = {}
        for member_id, member in self.webitel.members.items():
            if member_id not in self.webitel.stopped:
                callback_id = member.variables.get(CALLBACK_TAG, "")
                counts[callback_id] = counts.get(callback_id, 0) + 1
        return counts

    def open_requests(self) -> list[str]:
        return [r.id for r in self.repo.records.values() if r.phone == PHONE and r.status not in TERMINAL]

    def assert_dialled_once_and_nothing_left(self, callback_id: str) -> None:
        assert self.open_requests() == [callback_id]
        assert self.dialled() == {callback_id: 1}, self.dialled()
        assert self.repo.open_lock(PHONE, self.clock.now()) == callback_id
        record = self.repo.records[callback_id]
        booked = {k: v for k, v in self.repo.slots.items() if v}
        if record.slot_start is not None:
            place = (slot_day(self.config.config, record.slot_start), slot_key(record.slot_start))
            assert booked == {place: 1} and self.repo.holders[place] == {holder(record)}
        else:
            assert booked == {}

    def assert_never_dialled(self) -> None:
        assert self.dialled() == {}, self.dialled()
        assert self.repo.open_lock(PHONE, self.clock.now()) is None
        assert {k: v for k, v in self.repo.slots.items() if v} == {}


MODES: list[dict[str, Any]] = [
    {"mode": "now"},
    {"mode": "later"},
    {"mode": "scheduled", "scheduled_at": SLOT},
]


def slot_time(body: dict[str, Any]) -> datetime | None:
    return (
        datetime.fromisoformat(body["scheduled_at"]) + timedelta(minutes=1)
        if "scheduled_at" in body
        else None
    )


@pytest.mark.parametrize("body", MODES, ids=lambda b: b["mode"])
def test_submit_survives_a_crash_after_any_write(body: dict[str, Any]) -> None:
    points = walk(lambda point: World().submit("k1", point, **body))
    assert points >= 3  # entry, reservations, request (and the push for "now")
    for index in range(1, points + 1):
        world = World()
        crashed(lambda point: world.submit("k1", point, **body), index)  # noqa: B023
        stored = [r for r in world.repo.records.values() if r.submit_key == "key-k1"]
        answer = world.submit("k1", **body)  # the visitor retries: same key, same body
        assert not answer.repeat, f"crash after write {index}"
        if stored:  # the dead attempt stored its request: the retry answers that request
            assert answer.id == stored[0].id
        assert world.submit("k1", **body) == answer  # and the answer stays the same
        world.schedules(until=slot_time(body))
        world.assert_dialled_once_and_nothing_left(answer.id)


@pytest.mark.parametrize("body", MODES, ids=lambda b: b["mode"])
def test_a_submit_that_dies_and_is_never_retried_leaves_nothing_behind(body: dict[str, Any]) -> None:
    points = walk(lambda point: World().submit("k1", point, **body))
    for index in range(1, points + 1):
        world = World()
        crashed(lambda point: world.submit("k1", point, **body), index)  # noqa: B023
        world.schedules(until=slot_time(body))
        stored = world.open_requests()
        if stored:  # its request was stored: it is called, once (it never got a 202, but asked)
            world.assert_dialled_once_and_nothing_left(stored[0])
        else:
            world.assert_never_dialled()


def test_repeat_survives_a_crash_after_any_write() -> None:
    def setup() -> tuple[World, CallbackAccepted]:
        world = World()
        return world, world.submit("first", mode="later")

    points = walk(lambda point: setup()[0].submit("second", point, mode="later"))
    assert points >= 2
    for index in range(1, points + 1):
        world, first = setup()
        crashed(lambda point: world.submit("second", point, mode="later"), index)  # noqa: B023
        again = world.submit("second", mode="later")
        assert again.id == first.id and again.repeat
        world.schedules()
        world.assert_dialled_once_and_nothing_left(first.id)


def delivered_world() -> tuple[World, CallbackAccepted]:
    """A request whose member is already in Webitel."""
    world = World()
    answer = world.submit("k1", mode="later")
    world.schedules()
    assert world.dialled() == {answer.id: 1}
    return world, answer


@pytest.mark.parametrize("uploaded", [False, True], ids=["before_upload", "after_upload"])
def test_cancel_survives_a_crash_after_any_write(uploaded: bool) -> None:
    def setup() -> tuple[World, CallbackAccepted]:
        if uploaded:
            return delivered_world()
        world = World()
        return world, world.submit("k1", mode="later")

    world0, answer0 = setup()
    points = walk(lambda point: world0.service(point).cancel(answer0.id))
    assert points >= 2
    for index in range(1, points + 1):
        world, answer = setup()
        crashed(lambda point: world.service(point).cancel(answer.id), index)  # noqa: B023
        result = world.service().cancel(answer.id)  # the visitor repeats the DELETE
        assert result.status == CallbackStatus.CANCELLED
        world.schedules()
        world.assert_never_dialled()
        assert world.open_requests() == []


@pytest.mark.parametrize("uploaded", [False, True], ids=["before_upload", "after_upload"])
def test_a_cancel_that_dies_and_is_never_repeated_is_all_or_nothing(uploaded: bool) -> None:
    """Cancelled (the request says so): never dialled, its member stopped by the schedule.
    Not cancelled (the crash came before the request's write): the call still comes, once."""

    def setup() -> tuple[World, CallbackAccepted]:
        if uploaded:
            return delivered_world()
        world = World()
        return world, world.submit("k1", mode="later")

    world0, answer0 = setup()
    points = walk(lambda point: world0.service(point).cancel(answer0.id))
    for index in range(1, points + 1):
        world, answer = setup()
        crashed(lambda point: world.service(point).cancel(answer.id), index)  # noqa: B023
        world.schedules()
        if world.repo.records[answer.id].status == CallbackStatus.CANCELLED:
            world.assert_never_dialled()
        else:
            world.assert_dialled_once_and_nothing_left(answer.id)


@pytest.mark.parametrize("uploaded", [False, True], ids=["before_upload", "after_upload"])
def test_reschedule_survives_a_crash_after_any_write(uploaded: bool) -> None:
    move = RescheduleRequest.model_validate({"scheduled_at": LATER_SLOT})

    def setup() -> tuple[World, CallbackAccepted]:
        if uploaded:
            return delivered_world()
        world = World()
        return world, world.submit("k1", mode="scheduled", scheduled_at=SLOT)

    world0, answer0 = setup()
    caller = Caller(client_ip="198.51.100.7", origin=ORIGIN)
    points = walk(lambda point: world0.service(point).reschedule(answer0.id, move, caller))
    assert points >= 3
    for index in range(1, points + 1):
        world, answer = setup()
        crashed(lambda point: world.service(point).reschedule(answer.id, move, caller), index)  # noqa: B023
        moved = world.service().reschedule(answer.id, move, caller)  # the visitor repeats it
        assert moved.expected_call_at == datetime.fromisoformat(LATER_SLOT)
        world.schedules(until=datetime.fromisoformat(LATER_SLOT) + timedelta(minutes=1))
        world.assert_dialled_once_and_nothing_left(answer.id)
        assert world.repo.records[answer.id].slot_start == datetime.fromisoformat(LATER_SLOT)


def test_erasure_survives_a_crash_after_any_write() -> None:
    world0, _ = delivered_world()
    points = walk(lambda point: world0.service(point).erase_phone(PHONE, None))
    assert points >= 3
    for index in range(1, points + 1):
        world, _answer = delivered_world()
        crashed(lambda point: world.service(point).erase_phone(PHONE, None), index)  # noqa: B023
        report = world.service().erase_phone(PHONE, None)  # the agent runs it again
        world.schedules()
        assert report.complete and world.erasures.tombstones == {}
        assert world.webitel.members == {}
        world.assert_never_dialled()
        assert PHONE not in repr(vars(world.repo)) + repr(
            [e.model_dump_json() for e in world.outbox.entries.values()]
        )


def test_the_dialer_upload_survives_a_crash_after_any_write() -> None:
    def setup() -> tuple[World, CallbackAccepted]:
        world = World()
        return world, world.submit("k1", mode="later")

    def upload(world: World, point: CrashPoint) -> None:
        world.clock.advance(1)
        run_upload(
            "callbacks",
            point.wrap(world.outbox, "outbox"),
            point.wrap(world.webitel, "webitel"),
            world.clock,
            world.config.config,
            "dialer-a",
            callback_status=RepoStatusSink(point.wrap(world.repo, "repo")),
            callback_states=RepoStates(world.repo),
        )

    world0, _ = setup()
    points = walk(lambda point: upload(world0, point))
    assert points >= 3  # claim, bulk, mark delivered (and the request's status)
    for index in range(1, points + 1):
        world, answer = setup()
        crashed(lambda point: upload(world, point), index)  # noqa: B023
        world.schedules()  # the next runs, after the dead run's lease
        world.assert_dialled_once_and_nothing_left(answer.id)
