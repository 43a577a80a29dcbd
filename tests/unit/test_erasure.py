"""Erasure completes or stays pending (issue 11 point 4), with in-memory ports: a Webitel
delete that fails keeps a tombstone (a keyed hash of the number and what is left, no number),
the dialer schedule retries it until Webitel confirms, and a re-run reports what is pending."""

from __future__ import annotations

import pytest

from ringback.domain.operator_config import OperatorConfig
from ringback.services.dialer_upload import run_upload
from tests.unit import test_callbacks_service as base

pytestmark = pytest.mark.unit

RAW = ("+420777666555", "777666555")


def local_text(world: base.World) -> str:
    """Everything ringback keeps locally, as text (requests, locks, counters, outbox, tombstones)."""
    parts = [repr(vars(world.repo)), repr(world.erasures.tombstones)]
    parts += [entry.model_dump_json() for entry in world.outbox.entries.values()]
    return "\n".join(parts)


def fire(world: base.World) -> None:
    run_upload(
        "callbacks",
        world.outbox,
        world.webitel,
        world.clock,
        OperatorConfig(callback_queue_id="1", debtor_queue_id="2"),
        "dialer-1",
        erasures=world.erasures,
    )


def test_a_failed_webitel_delete_stays_pending_until_the_schedule_finishes_it() -> None:
    world = base.World()
    answer = world.submit(mode="now", consent=True)  # pushed at once: a member in Webitel
    assert world.webitel.members
    world.webitel.down = True
    report = world.service.erase_phone("777 666 555", "CZ")
    assert not report.complete and report.requests == 1
    assert sorted(report.pending) == [f"entry:cb_{answer.id}", f"request:1:{answer.id}"]
    assert world.repo.get(answer.id) is None and world.webitel.members  # local gone, Webitel not yet
    (tombstone,) = world.erasures.tombstones.values()
    assert tombstone.local_done and tombstone.phone_masked == "+420*******55"
    for raw in RAW:
        assert raw not in local_text(world)

    again = world.service.erase_phone("+420777666555", None)  # Webitel still down: still pending
    assert not again.complete and again.requests == 0 and sorted(again.pending) == sorted(report.pending)

    world.webitel.down = True
    world.clock.advance(60)
    fire(world)  # the schedule retries; Webitel still down: the backoff grows
    assert world.webitel.members and world.erasures.tombstones
    (retried,) = world.erasures.tombstones.values()
    assert retried.attempts == 1 and retried.due_at > world.clock.now()
    world.webitel.down = False
    fire(world)  # not due yet
    assert world.webitel.members
    world.clock.advance(60)
    fire(world)
    assert world.webitel.members == {} and world.erasures.tombstones == {}
    final = world.service.erase_phone("777 666 555", "CZ")
    assert final.complete and final.pending == [] and world.erasures.tombstones == {}
    for raw in RAW:
        assert raw not in local_text(world)


def test_an_erasure_that_succeeds_leaves_no_tombstone_and_no_number() -> None:
    world = base.World()
    world.submit(mode="later")
    world.submit(mode="later", phone="+420 602 000 009")
    report = world.service.erase_phone("777 666 555", "CZ")
    assert report.complete and report.pending == [] and report.outbox_entries_cancelled == 1
    assert world.erasures.tombstones == {}
    for raw in RAW:
        assert raw not in local_text(world)
    assert "+420602000009" in local_text(world)  # another number's request is untouched


def test_a_send_that_commits_after_the_erasure_is_deleted_by_the_schedule() -> None:
    """The uploader held the entry when the erasure ran: its late ``mark_delivered`` arms a
    delete order on the scrubbed entry, and the next run deletes that member too."""
    world = base.World()
    answer = world.submit(mode="later")
    record = world.repo.get(answer.id)
    assert record is not None
    claimed = world.outbox.claim([record.outbox_entry_id], world.clock.now(), lease_s=300, owner="up")
    world.service.erase_phone("777 666 555", "CZ")
    member_id = world.webitel.create_member("1", claimed[0].member)  # the in-flight send commits
    world.outbox.mark_delivered(record.outbox_entry_id, member_id, owner="up")
    assert member_id in world.webitel.members
    fire(world)
    assert member_id not in world.webitel.members
    entry = world.outbox.get(record.outbox_entry_id)
    assert entry is not None and entry.erased and entry.member_stop == "done"
