"""A closed request is never dialled (issue 11 point 3), with in-memory ports.

The customer's inbound call that reaches an agent closes their open requests in the projector:
an entry not yet uploaded is cancelled (the dialer never sends it), a member already in Webitel
gets a stop order the dialer schedule carries out, exactly once, until Webitel confirms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.events.envelope import EventSource
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import (
    CALLBACK_TAG,
    ID_TAG,
    OutboxEntry,
    OutboxState,
    callback_entry_id,
    cancelled,
)
from ringback.domain.webitel import Lookup, MemberCommunication, MemberItem
from ringback.services.dialer_upload import UploadSettings, run_upload
from ringback.services.ingest import Ingest
from ringback.services.member_stops import run_stops
from ringback.services.projector import Projector
from tests.unit.dialer_fakes import FakeClock, FakeWebitel, MemoryOutbox
from tests.unit.events_fakes import FakeCallbacks, FakeEventLog, FakeProjections, FixedClock

pytestmark = pytest.mark.unit

CONFIG = OperatorConfig(callback_queue_id="1", debtor_queue_id="2")
PHONE = "+420777666111"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.outbox = MemoryOutbox(self.clock)
        self.webitel = FakeWebitel()
        self.callbacks = FakeCallbacks()
        self.projections = FakeProjections()
        self.projector = Projector(
            self.projections,
            self.callbacks,
            zone=ZoneInfo("Europe/Prague"),
            default_region="CZ",
            outbox=self.outbox,
        )

    @property
    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def request(self, callback_id: str, phone: str = PHONE) -> OutboxEntry:
        self.callbacks.add(callback_id, CallbackStatus.RECEIVED, phone=phone, created_ms=self.now_ms - 60_000)
        entry_id = callback_entry_id(callback_id)
        entry = OutboxEntry(
            entry_id=entry_id,
            source="callback",
            source_id=callback_id,
            queue_id="1",
            member=MemberItem(
                name="Jana",
                variables={
                    ID_TAG: entry_id,
                    CALLBACK_TAG: callback_id,
                    "callback_created_at": (self.clock.now() - timedelta(minutes=1)).isoformat(),
                },
                communications=[MemberCommunication(destination=phone, type=Lookup(id="1"))],
            ),
            due_at=self.clock.now(),
        )
        assert self.outbox.add(entry)
        return entry

    def fire(self) -> Any:
        """The CallbacksSchedule fires one upload run."""
        return run_upload(
            "callbacks",
            self.outbox,
            self.webitel,
            self.clock,
            CONFIG,
            "dialer-1",
            callback_states=self.callbacks,
        )

    def inbound_bridged(self, phone: str = "777 666 111", uuid: str = "in-1", *, outbox: bool = True) -> None:
        """Webitel's queue hook for an inbound call bridged to an agent, through ingest and the
        stream projector (``outbox=False``: a projector without the outbox, as a rebuild)."""
        projector = (
            self.projector
            if outbox
            else Projector(
                self.projections, self.callbacks, zone=ZoneInfo("Europe/Prague"), default_region="CZ"
            )
        )
        log = FakeEventLog()
        ingest = Ingest(log, FixedClock(self.clock.now()))
        body = {
            "event": "bridged",
            "direction": "inbound",
            "uuid": uuid,
            "cid": phone,
            "timestamp": str(self.now_ms),
        }
        ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, body))
        # The handler writes the log alone; the stream projector applies what it wrote.
        projector.apply_all(log.drain())


def test_inbound_bridged_before_upload_means_no_member_in_webitel() -> None:
    world = World()
    entry = world.request("cbreq01")
    world.inbound_bridged()
    assert world.callbacks.requests["cbreq01"]["status"] == "completed"
    stored = world.outbox.get(entry.entry_id)
    assert stored is not None and stored.state == OutboxState.CANCELLED and stored.member_stop is None
    receipt = world.fire()
    assert world.webitel.members == {} and world.webitel.calls == []
    assert receipt.totals().get("delivered", 0) == 0


def test_inbound_bridged_after_upload_stops_the_member_exactly_once() -> None:
    world = World()
    entry = world.request("cbreq01")
    world.fire()
    delivered = world.outbox.get(entry.entry_id)
    assert delivered is not None and delivered.state == OutboxState.DELIVERED
    member_id = delivered.webitel_member_id
    world.inbound_bridged()
    armed = world.outbox.get(entry.entry_id)
    assert armed is not None and armed.state == OutboxState.CANCELLED and armed.member_stop == "pending"
    receipt = world.fire()
    assert world.webitel.stopped == [member_id] and world.webitel.stop_causes[member_id] == "cancel"
    assert receipt.totals()["members_stopped"] == 1
    settled = world.outbox.get(entry.entry_id)
    assert settled is not None and settled.member_stop == "done"
    world.inbound_bridged(uuid="in-2")  # another call, another run: nothing more
    world.clock.advance(3600)
    world.fire()
    assert world.webitel.stopped == [member_id]


def test_a_stop_webitel_does_not_confirm_is_retried_by_the_schedule_until_it_does() -> None:
    world = World()
    entry = world.request("cbreq01")
    world.fire()
    world.inbound_bridged()
    world.webitel.stop_faults = ["down", "down"]
    first = world.fire()
    assert first.totals()["stops_deferred"] == 1 and world.webitel.stopped == []
    world.fire()  # not due yet: the backoff holds it
    assert world.webitel.stop_faults == ["down"]
    world.clock.advance(31)
    world.fire()
    assert world.webitel.stopped == []
    world.clock.advance(61)
    world.fire()
    stored = world.outbox.get(entry.entry_id)
    assert stored is not None and stored.member_stop == "done" and len(world.webitel.stopped) == 1
    assert stored.stop_attempts == 2


def test_a_member_already_gone_from_webitel_settles_the_order() -> None:
    world = World()
    entry = world.request("cbreq01")
    world.fire()
    world.webitel.members.clear()  # an admin deleted it: Webitel answers 404
    world.inbound_bridged()
    world.fire()
    stored = world.outbox.get(entry.entry_id)
    assert stored is not None and stored.member_stop == "done" and world.webitel.stopped == []


def test_the_stream_finishes_a_closure_the_inline_path_could_not() -> None:
    """A projector without the outbox (a rebuild) closes the request; the stream projector's
    application of the same event still cancels its entry: no half-closed request is dialled."""
    world = World()
    entry = world.request("cbreq01")
    world.inbound_bridged(outbox=False)
    assert world.callbacks.requests["cbreq01"]["status"] == "completed"
    pending = world.outbox.get(entry.entry_id)
    assert pending is not None and pending.state == OutboxState.PENDING
    world.inbound_bridged()  # the stream re-applies the same event (same identity)
    stored = world.outbox.get(entry.entry_id)
    assert stored is not None and stored.state == OutboxState.CANCELLED


def test_the_dialer_rechecks_the_request_before_each_send() -> None:
    world = World()
    closed = world.request("cbreq01")
    open_ = world.request("cbreq02", phone="+420777666222")
    world.callbacks.requests["cbreq01"]["status"] = "cancelled"  # closed by a path that left the entry
    receipt = world.fire()
    assert world.webitel.tags() == [open_.entry_id]
    stored = world.outbox.get(closed.entry_id)
    assert stored is not None and stored.state == OutboxState.CANCELLED and stored.member_stop is None
    assert receipt.totals()["closed_before_send"] == 1


def test_an_entry_without_its_request_waits_out_the_grace_then_is_cancelled() -> None:
    world = World()
    orphan = world.request("cbreq01")
    del world.callbacks.requests["cbreq01"]  # the submit died before writing the request
    world.outbox.entries[orphan.entry_id] = orphan.model_copy(
        update={
            "member": orphan.member.model_copy(
                update={
                    "variables": {
                        **orphan.member.variables,
                        "callback_created_at": world.clock.now().isoformat(),
                    }
                }
            )
        }
    )
    world.fire()
    waiting = world.outbox.get(orphan.entry_id)
    assert waiting is not None and waiting.state == OutboxState.PENDING
    world.clock.advance(UploadSettings().missing_request_grace_s + 1)
    world.fire()
    gone = world.outbox.get(orphan.entry_id)
    assert gone is not None and gone.state == OutboxState.CANCELLED and world.webitel.members == {}


def test_cancelled_while_on_the_wire_arms_the_stop_again_and_the_schedule_finishes_it() -> None:
    world = World()
    entry = world.request("cbreq01")
    original = world.webitel.create_members_bulk

    def close_then_create(queue_id: str, items: Any, file_name: str) -> list[str]:
        world.inbound_bridged()  # the customer's call is bridged while the bulk is on the wire
        world.webitel.stop_faults = ["down"]  # and the uploader's immediate stop fails
        return original(queue_id, items, file_name)

    world.webitel.create_members_bulk = close_then_create  # type: ignore[method-assign]
    world.fire()
    armed = world.outbox.get(entry.entry_id)
    assert armed is not None and armed.member_stop == "pending" and armed.webitel_member_id is not None
    world.webitel.create_members_bulk = original  # type: ignore[method-assign]
    world.clock.advance(31)
    world.fire()
    done = world.outbox.get(entry.entry_id)
    assert done is not None and done.member_stop == "done"
    assert world.webitel.stopped == [armed.webitel_member_id]


def test_cancel_rule_arms_a_stop_only_when_a_member_may_exist() -> None:
    world = World()
    now = world.clock.now()
    pending = world.request("cbreq01")
    assert cancelled(pending, reason="x", now=now).member_stop is None  # type: ignore[union-attr]
    claimed = pending.model_copy(
        update={
            "state": OutboxState.CLAIMED,
            "claim_owner": "other",
            "claim_until": now + timedelta(seconds=300),
        }
    )
    by_other = cancelled(claimed, reason="x", now=now)
    assert by_other is not None and by_other.member_stop == "pending"
    assert by_other.stop_due_at == now + timedelta(seconds=300)  # after the holder's lease
    by_holder = cancelled(claimed, reason="x", now=now, owner="other")
    assert by_holder is not None and by_holder.member_stop is None
    erased = cancelled(
        pending.model_copy(update={"state": OutboxState.CANCELLED}), reason="x", now=now, erase=True
    )
    assert erased is not None and erased.erased and erased.member.communications[0].destination == "erased"
    assert PHONE not in erased.model_dump_json() and erased.member_stop is None
    assert cancelled(erased, reason="x", now=now, erase=True) is None


def test_two_overlapping_runs_never_work_on_the_same_stop_order() -> None:
    world = World()
    world.request("cbreq01")
    world.fire()
    world.inbound_bridged()
    first = world.outbox.claim_stops("1", world.clock.now(), limit=10, lease_s=300, owner="a")
    second = run_stops(world.outbox, world.webitel, world.clock, "1", "b")
    assert len(first) == 1 and second.stopped == 0
    world.clock.advance(301)  # the first run died: its lease ends and the next run finishes it
    third = run_stops(world.outbox, world.webitel, world.clock, "1", "c")
    assert third.stopped == 1 and len(world.webitel.stopped) == 1
