"""The uploader with in-memory fakes: exactly once through faults, bisection, leases, backoff."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.operator_config import OperatorConfig
from ringback.domain.outbox import ID_TAG, OutboxEntry, OutboxState
from ringback.domain.webitel import Lookup, MemberCommunication, MemberItem
from ringback.services.dialer_upload import (
    UploadFailed,
    UploadSettings,
    backoff_delay,
    deliver_now,
    redrive,
    run_upload,
)
from tests.unit.dialer_fakes import (
    Crash,
    FakeClock,
    FakeWebitel,
    MemoryCallbackStatus,
    MemoryDnc,
    MemoryOutbox,
    MemoryReceipts,
)

pytestmark = pytest.mark.unit

CONFIG = OperatorConfig(callback_queue_id="1", debtor_queue_id="2")


def entry(
    n: int,
    *,
    queue: str = "1",
    source: str = "callback",
    clock: FakeClock | None = None,
    expires_in: float | None = None,
    variables: dict[str, str] | None = None,
    file_name: str = "",
) -> OutboxEntry:
    now = (clock or FakeClock()).now()
    entry_id = f"entry-{n:06d}"
    phone = f"+420777{n:06d}"
    return OutboxEntry(
        entry_id=entry_id,
        source=source,
        source_id=f"cb-{n}",
        queue_id=queue,
        file_name=file_name,
        member=MemberItem(
            name=f"Member {n}",
            variables={ID_TAG: entry_id, **(variables or {})},
            communications=[MemberCommunication(destination=phone, type=Lookup(id="1"))],
        ),
        due_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in is not None else None,
        line=n,
    )


def fill(outbox: MemoryOutbox, count: int, **kwargs: object) -> list[OutboxEntry]:
    entries = [entry(n, **kwargs) for n in range(count)]  # type: ignore[arg-type]
    for item in entries:
        assert outbox.add(item)
    return entries


def phone_of(n: int) -> str:
    return f"+420777{n:06d}"


def assert_exactly_once(outbox: MemoryOutbox, webitel: FakeWebitel) -> None:
    tags = Counter(webitel.tags())
    for entry_id, stored in outbox.entries.items():
        if stored.state == OutboxState.DELIVERED:
            assert tags[entry_id] == 1, f"{entry_id} is in Webitel {tags[entry_id]} times"
            assert stored.webitel_member_id is not None
        elif stored.state == OutboxState.REJECTED:
            assert tags[entry_id] == 0
            assert stored.last_error
        else:
            assert tags[entry_id] <= 1


def test_delivers_due_entries_in_batches_and_writes_a_receipt() -> None:
    clock, outbox, webitel, receipts = FakeClock(), MemoryOutbox(), FakeWebitel(), MemoryReceipts()
    fill(outbox, 250)
    receipt = run_upload(
        "callbacks",
        outbox,
        webitel,
        clock,
        CONFIG,
        "run-a",
        settings=UploadSettings(batch_size=100),
        receipts=receipts,
    )
    assert receipt.total("delivered") == 250
    assert [n for kind, n in webitel.calls if kind == "bulk"] == [100, 100, 50]
    assert all(e.state == OutboxState.DELIVERED for e in outbox.entries.values())
    assert receipts.get(receipt.run_id) is not None
    assert receipt.oldest_pending_age_s == 0
    assert_exactly_once(outbox, webitel)


def test_idle_run_stores_no_receipt() -> None:
    receipts = MemoryReceipts()
    receipt = run_upload(
        "callbacks", MemoryOutbox(), FakeWebitel(), FakeClock(), CONFIG, "a", receipts=receipts
    )
    assert receipt.totals() == {}
    assert receipts.saved == {}


def test_job_picks_its_queue() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    outbox.add(entry(1, queue="1"))
    outbox.add(entry(2, queue="2", source="campaign"))
    run_upload("campaigns", outbox, webitel, clock, CONFIG, "a")
    assert outbox.entries["entry-000002"].state == OutboxState.DELIVERED
    assert outbox.entries["entry-000001"].state == OutboxState.PENDING


def test_not_yet_due_entries_wait() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    later = entry(1).model_copy(update={"due_at": clock.now() + timedelta(minutes=5)})
    outbox.add(later)
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert outbox.entries[later.entry_id].state == OutboxState.PENDING
    clock.advance(301)
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert outbox.entries[later.entry_id].state == OutboxState.DELIVERED


def test_bisection_isolates_the_one_bad_item_and_delivers_the_rest() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 100)
    webitel.invalid = {phone_of(37)}
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("delivered") == 99
    assert receipt.total("rejected") == 1
    bad = outbox.entries["entry-000037"]
    assert bad.state == OutboxState.REJECTED
    assert "app.member.valid" in (bad.last_error or "") and "request_id=req-1" in (bad.last_error or "")
    (problem,) = receipt.groups[0].problems
    assert problem.entry_id == "entry-000037" and problem.line == 37
    # 1 full + about 2*log2(100) bisection requests, not 100.
    assert len([c for c in webitel.calls if c[0] == "bulk"]) <= 1 + 2 * 7 + 1
    assert_exactly_once(outbox, webitel)


def test_bisection_with_several_bad_items() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 64)
    bad = {0, 13, 14, 63}
    webitel.invalid = {phone_of(n) for n in bad}
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("rejected") == 4 and receipt.total("delivered") == 60
    assert {e.entry_id for e in outbox.entries.values() if e.state == OutboxState.REJECTED} == {
        f"entry-{n:06d}" for n in bad
    }
    assert_exactly_once(outbox, webitel)


def test_outage_releases_everything_with_backoff_and_keeps_it() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 150)
    webitel.faults = ["down"]
    receipt = run_upload(
        "callbacks",
        outbox,
        webitel,
        clock,
        CONFIG,
        "a",
        settings=UploadSettings(batch_size=100, backoff_base_s=30),
    )
    assert receipt.stopped and "unavailable" in receipt.stopped
    assert receipt.total("deferred") == 100
    first = outbox.entries["entry-000000"]
    assert first.state == OutboxState.PENDING and first.attempts == 1
    assert first.due_at == clock.now() + timedelta(seconds=30)
    assert first.outcome_unknown is False  # connection refused: provably not sent
    # The second batch was never claimed: it is still pending and due.
    assert outbox.entries["entry-000149"].attempts == 0
    clock.advance(31)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("delivered") == 150
    assert_exactly_once(outbox, webitel)


def test_pending_age_grows_through_an_outage() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 3)
    for _ in range(5):
        webitel.faults = ["5xx"]
        clock.advance(600)
        receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.oldest_pending_age_s == 3000


def test_backoff_is_exponential_and_capped() -> None:
    settings_ = UploadSettings(backoff_base_s=30, backoff_max_s=600)
    assert [backoff_delay(n, settings_).total_seconds() for n in (1, 2, 3, 4, 5, 6, 30)] == [
        30,
        60,
        120,
        240,
        480,
        600,
        600,
    ]


def test_timeout_after_commit_is_reconciled_not_resent() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 10)
    webitel.faults = ["lost"]
    first = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert first.total("deferred") == 10
    assert all(e.outcome_unknown for e in outbox.entries.values())
    assert len(webitel.members) == 10  # committed, answer lost
    clock.advance(3600)
    second = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert second.total("reconciled") == 10 and second.total("delivered") == 0
    assert len(webitel.members) == 10
    assert_exactly_once(outbox, webitel)


def test_5xx_without_commit_is_searched_then_sent() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 5)
    webitel.faults = ["5xx"]
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    clock.advance(3600)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("delivered") == 5
    assert len([c for c in webitel.calls if c[0] == "search"]) == 5
    assert_exactly_once(outbox, webitel)


def test_search_failure_during_reconcile_keeps_the_doubt() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 2)
    webitel.faults = ["lost"]
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    clock.advance(3600)
    webitel.search_faults = ["down"]
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert all(e.outcome_unknown and e.state == OutboxState.PENDING for e in outbox.entries.values())
    clock.advance(3600)
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert_exactly_once(outbox, webitel)
    assert all(e.state == OutboxState.DELIVERED for e in outbox.entries.values())


def test_a_run_that_died_mid_push_is_finished_by_the_next_after_the_lease() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 20)
    # Run A claims 12, sends them, and dies before recording anything.
    webitel.faults = ["crash_after"]
    with pytest.raises(Crash):
        run_upload(
            "callbacks", outbox, webitel, clock, CONFIG, "dead", settings=UploadSettings(batch_size=12)
        )
    assert len(webitel.members) == 12
    # Within the lease nobody touches the dead run's 12; the 8 it never claimed go out.
    clock.advance(120)
    assert run_upload("callbacks", outbox, webitel, clock, CONFIG, "b").totals() == {"delivered": 8}
    assert sum(e.state == OutboxState.CLAIMED for e in outbox.entries.values()) == 12
    clock.advance(200)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "b")
    assert receipt.total("reconciled") == 12 and receipt.total("delivered") == 0
    assert_exactly_once(outbox, webitel)


def test_expired_entries_are_not_sent() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    outbox.add(entry(1, clock=clock, expires_in=60))
    outbox.add(entry(2, clock=clock, expires_in=3600))
    clock.advance(120)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("expired") == 1 and receipt.total("delivered") == 1
    assert outbox.entries["entry-000001"].state == OutboxState.EXPIRED
    assert "entry-000001" not in webitel.tags()


def test_expired_in_doubt_entry_is_reconciled_before_expiring() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    outbox.add(entry(1, clock=clock, expires_in=60))
    webitel.faults = ["lost"]
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    clock.advance(3600)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("reconciled") == 1
    assert outbox.entries["entry-000001"].state == OutboxState.DELIVERED


def test_do_not_call_cancels_campaign_members_but_never_callbacks() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    outbox.add(entry(1, queue="2", source="campaign"))
    outbox.add(entry(2, queue="2", source="campaign"))
    outbox.add(entry(3, queue="1", source="callback"))
    dnc = MemoryDnc([phone_of(1), phone_of(3)])
    receipt = run_upload("campaigns", outbox, webitel, clock, CONFIG, "a", dnc=dnc)
    assert receipt.total("dnc_suppressed") == 1 and receipt.total("delivered") == 1
    assert outbox.entries["entry-000001"].state == OutboxState.CANCELLED
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", dnc=dnc)
    assert outbox.entries["entry-000003"].state == OutboxState.DELIVERED


def test_outside_calling_window_is_deferred_to_the_next_opening() -> None:
    # 2026-11-18 10:00 UTC = 05:00 in New York: closed; opens 08:00 local = 13:00 UTC.
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    variables = {"ringback_tz": "America/New_York", "ringback_window": "mon-sat 08:00-20:00"}
    outbox.add(entry(1, queue="2", source="campaign", variables=variables))
    outbox.add(
        entry(
            2,
            queue="2",
            source="campaign",
            variables={"ringback_tz": "Europe/Prague", "ringback_window": "mon-sat 08:00-20:00"},
        )
    )
    receipt = run_upload("campaigns", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("outside_window") == 1 and receipt.total("delivered") == 1
    deferred = outbox.entries["entry-000001"]
    assert deferred.state == OutboxState.PENDING
    assert deferred.due_at == clock.now() + timedelta(hours=3)
    assert deferred.attempts == 0
    clock.advance(3 * 3600)
    assert run_upload("campaigns", outbox, webitel, clock, CONFIG, "a").total("delivered") == 1


def test_cancelled_while_on_the_wire_is_stopped_in_webitel() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 1)
    original = webitel.create_members_bulk

    def cancel_then_create(queue_id, items, file_name):  # type: ignore[no-untyped-def]
        outbox.cancel("entry-000000")
        return original(queue_id, items, file_name)

    webitel.create_members_bulk = cancel_then_create  # type: ignore[method-assign]
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("cancelled_after_send") == 1
    stored = outbox.entries["entry-000000"]
    assert stored.state == OutboxState.CANCELLED and stored.webitel_member_id in webitel.stopped


def test_auth_error_gives_back_and_fails_loudly() -> None:
    clock, outbox, webitel, receipts = FakeClock(), MemoryOutbox(), FakeWebitel(), MemoryReceipts()
    fill(outbox, 3)
    webitel.faults = ["auth"]
    with pytest.raises(UploadFailed) as failed:
        run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", receipts=receipts)
    assert failed.value.receipt.run_id in receipts.saved
    assert all(e.state == OutboxState.PENDING and not e.outcome_unknown for e in outbox.entries.values())


def test_contract_mismatch_on_search_is_an_error_not_a_guess() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 1)
    webitel.faults = ["lost"]
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    # A server that ignores the variables filter answers with somebody else's member.
    webitel.members["9999"] = webitel.members[next(iter(webitel.members))].model_copy(
        update={"id": "9999", "variables": {ID_TAG: "someone-else"}}
    )
    original = webitel.search_members
    webitel.search_members = lambda q, v, page=1, size=100: original(q, {}, page, size)  # type: ignore[method-assign]
    clock.advance(3600)
    with pytest.raises(UploadFailed):
        run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    stored = outbox.entries["entry-000000"]
    assert stored.state == OutboxState.PENDING and stored.outcome_unknown


def test_time_budget_stops_before_claiming() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 5)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", time_left_s=lambda: 5.0)
    assert receipt.stopped and "time budget" in receipt.stopped
    assert all(e.state == OutboxState.PENDING for e in outbox.entries.values())


def test_on_delivered_hook_sees_every_delivery_and_cannot_undo_it() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 3)
    seen: list[tuple[str, str]] = []

    def hook(delivered: OutboxEntry, member_id: str) -> None:
        seen.append((delivered.entry_id, member_id))
        raise RuntimeError("status table down")

    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", on_delivered=hook)
    assert len(seen) == 3
    assert all(e.state == OutboxState.DELIVERED for e in outbox.entries.values())


def test_deliver_now_pushes_only_the_given_entries() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 3)
    outcomes = deliver_now(outbox, webitel, ["entry-000001", "missing-entry"], clock, "cb-fn")
    assert outcomes["entry-000001"].state == OutboxState.DELIVERED
    assert outcomes["entry-000001"].webitel_member_id
    assert outcomes["missing-entry"].state == "not_claimed"
    assert outbox.entries["entry-000000"].state == OutboxState.PENDING


def test_deliver_now_during_an_outage_leaves_it_for_the_schedule() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 1)
    webitel.faults = ["lost"]
    outcomes = deliver_now(outbox, webitel, ["entry-000000"], clock, "cb-fn")
    assert outcomes["entry-000000"].state == OutboxState.PENDING
    clock.advance(60)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("reconciled") == 1
    assert_exactly_once(outbox, webitel)


def test_redrive_with_a_fix() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 2)
    webitel.invalid = {phone_of(1)}
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert outbox.entries["entry-000001"].state == OutboxState.REJECTED
    fixed_comm = [{"destination": "+420777999999", "type": {"id": "1"}}]
    results = redrive(
        outbox,
        ["entry-000001", "entry-000000", "nope-0000"],
        clock,
        member_fixes={"entry-000001": {"communications": fixed_comm}},
    )
    assert results == {
        "entry-000001": "re-driven",
        "entry-000000": "not rejected (state delivered)",
        "nope-0000": "not found",
    }
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a")
    assert receipt.total("delivered") == 1
    assert outbox.entries["entry-000001"].member.variables[ID_TAG] == "entry-000001"
    assert_exactly_once(outbox, webitel)


def test_two_uploaders_at_once_never_send_the_same_member() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 500)
    barrier = threading.Barrier(2)

    def run(owner: str) -> None:
        barrier.wait()
        run_upload("callbacks", outbox, webitel, clock, CONFIG, owner, settings=UploadSettings(batch_size=7))

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(webitel.members) == 500
    assert_exactly_once(outbox, webitel)


# -- property: any interleaving of two uploaders and faults -> exactly once or rejected ----

step = st.one_of(
    st.tuples(
        st.sampled_from(["a", "b"]), st.sampled_from(["run"]), st.sampled_from([None, "down", "5xx", "lost"])
    ),
    st.tuples(st.sampled_from(["a", "b"]), st.just("die"), st.sampled_from(["crash_before", "crash_after"])),
    st.tuples(st.just("-"), st.just("tick"), st.sampled_from([30, 200, 400, 2000])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, min_size=1, max_size=14),
    bad=st.sets(st.integers(0, 11), max_size=3),
    batch=st.integers(1, 5),
)
def test_any_interleaving_delivers_each_member_exactly_once_or_rejects_it(
    steps: list[tuple[str, str, object]], bad: set[int], batch: int
) -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    fill(outbox, 12)
    webitel.invalid = {phone_of(n) for n in bad}
    conf = UploadSettings(batch_size=batch, lease_s=300, backoff_base_s=10, backoff_max_s=100)
    for who, action, arg in steps:
        if action == "tick":
            clock.advance(int(arg))  # type: ignore[call-overload]
        elif action == "die":
            # An uploader dies mid-push (before sending, or after its bulk committed) and
            # records nothing more; its claims stay until their lease expires.
            webitel.faults = [str(arg)]
            with contextlib.suppress(Crash):
                run_upload("callbacks", outbox, webitel, clock, CONFIG, who, settings=conf)
            webitel.faults = []
        else:
            if arg is not None:
                webitel.faults = [str(arg)]
            run_upload("callbacks", outbox, webitel, clock, CONFIG, who, settings=conf)
            webitel.faults = []
        assert_exactly_once(outbox, webitel)
    # Afterwards, with Webitel healthy and leases expired, everything settles.
    for _ in range(12):
        clock.advance(1000)
        run_upload("callbacks", outbox, webitel, clock, CONFIG, "final", settings=conf)
    assert_exactly_once(outbox, webitel)
    for n in range(12):
        stored = outbox.entries[f"entry-{n:06d}"]
        expected = OutboxState.REJECTED if n in bad else OutboxState.DELIVERED
        assert stored.state == expected, (n, stored.state)


# -- callback requests follow their entries (queued / failed / expired) -------------------------


def callback_requests(entries: list[OutboxEntry]) -> MemoryCallbackStatus:
    """Each entry's request (``cb-<n>``), received, holding its number's lock."""
    store = MemoryCallbackStatus()
    for item in entries:
        store.add(item.source_id, item.member.communications[0].destination)
    return store


def ms(clock: FakeClock) -> int:
    return int(clock.now().timestamp() * 1000)


def test_a_rejected_callback_entry_fails_its_request_and_releases_the_lock() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    entries = fill(outbox, 4)
    store = callback_requests(entries)
    webitel.invalid = {phone_of(2)}
    clock.advance(90)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", callback_status=store)
    assert receipt.total("rejected") == 1 and receipt.total("delivered") == 3
    failed = store.requests["cb-2"]
    assert failed["status"] == CallbackStatus.FAILED
    assert failed["status_at"] == ms(clock)  # the time of the decision
    assert "rejected by Webitel" in failed["status_reason"]
    assert "app.member.valid" in failed["status_reason"]
    assert failed["status_reason"].endswith(outbox.entries["entry-000002"].last_error or "?")
    assert store.pending_callback(phone_of(2)) is None
    for n in (0, 1, 3):
        assert store.requests[f"cb-{n}"]["status"] == CallbackStatus.QUEUED
        assert store.pending_callback(phone_of(n)) == f"cb-{n}"  # still open: Webitel will call


def test_an_expired_callback_entry_expires_its_request_and_releases_the_lock() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    (late,) = fill(outbox, 1, expires_in=30)
    store = callback_requests([late])
    clock.advance(60)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", callback_status=store)
    assert receipt.total("expired") == 1
    assert outbox.entries[late.entry_id].state == OutboxState.EXPIRED
    request = store.requests[late.source_id]
    assert (request["status"], request["status_at"]) == (CallbackStatus.EXPIRED, ms(clock))
    assert store.pending_callback(phone_of(0)) is None
    assert webitel.members == {}


def test_delivered_and_reconciled_callback_entries_queue_their_requests() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    entries = fill(outbox, 2)
    store = callback_requests(entries)
    webitel.faults = ["lost"]  # committed, answer lost: the next run finds them by tag
    first = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", callback_status=store)
    assert first.total("deferred") == 2
    assert all(r["status"] == CallbackStatus.RECEIVED for r in store.requests.values())
    clock.advance(3600)
    second = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", callback_status=store)
    assert second.total("reconciled") == 2
    for item in entries:
        request = store.requests[item.source_id]
        assert (request["status"], request["status_at"]) == (CallbackStatus.QUEUED, ms(clock))
        assert outbox.entries[item.entry_id].webitel_member_id in request["status_reason"]
        assert store.pending_callback(item.member.communications[0].destination) == item.source_id


def test_campaign_entries_never_touch_callback_requests() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    # Campaign members whose source ids collide with request ids: still not the request's business.
    campaigns = [entry(n, source="campaign", queue="2") for n in range(3)]
    campaigns.append(entry(3, source="campaign", queue="2", expires_in=1))
    for item in campaigns:
        outbox.add(item)
    store = callback_requests(campaigns)
    webitel.invalid = {phone_of(1)}
    clock.advance(5)
    receipt = run_upload("campaigns", outbox, webitel, clock, CONFIG, "a", callback_status=store)
    assert (receipt.total("delivered"), receipt.total("rejected"), receipt.total("expired")) == (2, 1, 1)
    assert store.calls == []
    assert all(r["status"] == CallbackStatus.RECEIVED for r in store.requests.values())


def test_a_failing_status_write_does_not_fail_the_run_and_a_rerun_repeats_it() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    entries = fill(outbox, 3)
    entries.append(entry(3, expires_in=1))
    outbox.add(entries[-1])
    store = callback_requests(entries)
    store.fail = True
    webitel.invalid = {phone_of(1)}
    clock.advance(5)
    receipt = run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", callback_status=store)
    # Every outbox decision stands, and every request was attempted.
    assert (receipt.total("delivered"), receipt.total("rejected"), receipt.total("expired")) == (2, 1, 1)
    assert receipt.stopped is None
    assert sorted(a.callback_id for a in store.calls) == ["cb-0", "cb-1", "cb-2", "cb-3"]
    assert all(r["status"] == CallbackStatus.RECEIVED for r in store.requests.values())
    assert_exactly_once(outbox, webitel)
    # The store is back; the same decision applied again (a later event, a re-run) lands once.
    store.fail = False
    for advance in list(store.calls):
        store.advance(advance)
        assert not store.advance(advance)  # idempotent
    statuses = {cid: r["status"] for cid, r in store.requests.items()}
    assert statuses == {
        "cb-0": CallbackStatus.QUEUED,
        "cb-1": CallbackStatus.FAILED,
        "cb-2": CallbackStatus.QUEUED,
        "cb-3": CallbackStatus.EXPIRED,
    }
    assert store.pending_callback(phone_of(1)) is None and store.pending_callback(phone_of(3)) is None


def test_the_uploader_never_moves_a_request_back() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    entries = fill(outbox, 2)
    store = callback_requests(entries)
    # The events got there first: one request is already being dialled, one was cancelled.
    store.requests["cb-0"]["status"] = CallbackStatus.DIALING
    store.requests["cb-1"]["status"] = CallbackStatus.CANCELLED
    run_upload("callbacks", outbox, webitel, clock, CONFIG, "a", callback_status=store)
    assert store.requests["cb-0"]["status"] == CallbackStatus.DIALING
    assert store.requests["cb-1"]["status"] == CallbackStatus.CANCELLED


def test_deliver_now_moves_the_request_on_the_same_path() -> None:
    clock, outbox, webitel = FakeClock(), MemoryOutbox(), FakeWebitel()
    entries = fill(outbox, 2)
    store = callback_requests(entries)
    webitel.invalid = {phone_of(1)}
    ids = [e.entry_id for e in entries]
    for entry_id in ids:
        deliver_now(outbox, webitel, [entry_id], clock, "cb-fn", callback_status=store)
    assert store.requests["cb-0"]["status"] == CallbackStatus.QUEUED
    assert store.requests["cb-1"]["status"] == CallbackStatus.FAILED
    assert store.pending_callback(phone_of(1)) is None
