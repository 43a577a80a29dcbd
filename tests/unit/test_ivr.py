"""IVR callbacks (issue 17): the offer rule, the request's fields, the dialer order that keeps
the caller's place, and the accept/cancel use cases over in-memory ports."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain.callbacks import CallbackRequest
from ringback.domain.ivr import (
    OfferSnapshot,
    QueueWait,
    dial_order_key,
    estimate_wait_s,
    minutes_text,
    parse_ivr_request,
    routing_offer,
    say_text,
    snapshot_from_json,
)
from ringback.domain.outbox import OutboxState
from ringback.services.callbacks import Caller
from ringback.services.callbacks.core import entry_for
from ringback.services.callbacks.ivr import IvrCallbacks
from ringback.services.ivr_offer import build_snapshot
from tests.unit.callbacks_fakes import (
    CallbacksWebitel,
    MemoryCallbacks,
    StaticConfig,
    at,
    callback_service,
    make_config,
)
from tests.unit.dialer_fakes import FakeClock, MemoryOutbox

pytestmark = pytest.mark.unit

# Wednesday 18 Nov 2026, 11:00 in Prague (open 08:00-18:00).
OPEN_NOW = at("2026-11-18T10:00:00+00:00")
NOW_MS = int(OPEN_NOW.timestamp() * 1000)
IVR = {"enabled": True, "offer_after_s": 120, "max_open": 5}


def snapshot(**changes: Any) -> OfferSnapshot:
    base: dict[str, Any] = {
        "fetched_at_ms": NOW_MS - 30_000,
        "enabled": True,
        "offer_after_s": 120,
        "queues": {"3": QueueWait(waiting=4, wait_s=300), "1": QueueWait(waiting=2, wait_s=0)},
        "branch_queues": {"found": "3", "debt": "3", "unknown": "3"},
        "open_windows": ((NOW_MS - 3_600_000, NOW_MS + 3_600_000),),
        "capacity_left": 3,
    }
    base.update(changes)
    return OfferSnapshot(**base)


def offer(snap: OfferSnapshot | None, *, pending: bool = False, found: bool = True) -> Any:
    return routing_offer(snap, found=found, debt=False, pending_callback=pending, now_ms=NOW_MS)


# ------------------------------------------------------------------ the offer rule


def test_offer_when_enabled_over_threshold_in_hours_with_capacity() -> None:
    answer = offer(snapshot())
    assert (answer.estimated_wait_s, answer.offer_callback, answer.wait_queue_id) == ("300", True, "3")


@pytest.mark.parametrize(
    ("changes", "pending"),
    [
        ({"enabled": False}, False),
        ({"offer_after_s": 300}, False),  # the wait must exceed the threshold
        ({"open_windows": ((NOW_MS + 60_000, NOW_MS + 3_600_000),)}, False),  # closed now
        ({"capacity_left": 0}, False),
        ({"capacity_left": None}, False),  # the callback queue's count unknown
        ({}, True),  # the caller has an open callback already
    ],
)
def test_no_offer_when_one_condition_fails(changes: dict[str, Any], pending: bool) -> None:
    answer = offer(snapshot(**changes), pending=pending)
    assert answer.offer_callback is False
    assert answer.estimated_wait_s == "300"  # the wait is still told


def test_a_stale_or_missing_snapshot_says_nothing() -> None:
    for snap in (None, snapshot(fetched_at_ms=NOW_MS - 10 * 60_000)):
        answer = offer(snap)
        assert (answer.estimated_wait_s, answer.offer_callback, answer.wait_queue_id) == (None, False, None)


def test_the_estimate_is_for_the_branch_queue() -> None:
    snap = snapshot(
        queues={"3": QueueWait(4, 300), "7": QueueWait(0, 0)},
        branch_queues={"found": "7", "debt": "3", "unknown": "3"},
    )
    assert offer(snap, found=True).wait_queue_id == "7"
    assert offer(snap, found=True).estimated_wait_s == "0"
    assert offer(snap, found=False).wait_queue_id == "3"


def test_estimate_from_the_report() -> None:
    assert estimate_wait_s(0, 0.0) == 0
    assert estimate_wait_s(3, 95.2) == 96
    assert estimate_wait_s(3, 0.0) is None
    assert estimate_wait_s(3, float("nan")) is None


def test_snapshot_round_trips_and_a_broken_one_is_none() -> None:
    for snap in (
        snapshot(),
        snapshot(default_language="cs", say={"cs": {"offer": "Čekejte {minutes_text}."}}),
    ):
        again = snapshot_from_json(snap.to_json(), snap.fetched_at_ms)
        assert again == snap
    assert snapshot_from_json({"queues": "nonsense"}, 0) is None
    # A snapshot written before the prompts were carried reads as English defaults.
    older = {k: v for k, v in snapshot().to_json().items() if k not in ("default_language", "say")}
    assert snapshot_from_json(older, NOW_MS) == snapshot(fetched_at_ms=NOW_MS)


def test_the_offer_comes_with_its_prompt_in_the_callers_language() -> None:
    snap = snapshot(default_language="cs")
    czech = routing_offer(
        snap, found=True, debt=False, pending_callback=False, now_ms=NOW_MS, language="cs-CZ"
    )
    assert czech.offer_say is not None and czech.offer_say.startswith("Budete čekat přibližně 5 minut.")
    english = routing_offer(
        snap, found=True, debt=False, pending_callback=False, now_ms=NOW_MS, language="en"
    )
    assert english.offer_say is not None and english.offer_say.startswith(
        "Your expected wait is about 5 minutes."
    )
    # No language known: the operator's default; no offer: no prompt.
    default = routing_offer(snap, found=False, debt=False, pending_callback=False, now_ms=NOW_MS)
    assert default.offer_say == czech.offer_say
    assert offer(snapshot(capacity_left=0)).offer_say is None
    assert (english.pending_say, english.kept_say) == (None, None)


def test_a_caller_with_an_open_request_gets_the_keep_or_cancel_prompts() -> None:
    overrides = {"en": {"pending": "Press 2 to cancel your callback."}}
    for snap in (snapshot(say=overrides), None, snapshot(fetched_at_ms=0, say=overrides)):
        answer = routing_offer(
            snap, found=True, debt=False, pending_callback=True, now_ms=NOW_MS, language="en"
        )
        assert answer.offer_callback is False and answer.offer_say is None
        fresh = snap is not None and snap.fetched_at_ms
        assert answer.pending_say == (
            "Press 2 to cancel your callback." if fresh else say_text("pending", "en", "en")
        )
        assert answer.kept_say == say_text("kept", "en", "en")


def test_the_snapshot_carries_the_operators_prompt_texts_only() -> None:
    say = {"cs": {"offer": "Čekáte {minutes_text}.", "accepted": "Díky."}, "en": {"accepted": "Thanks."}}
    config = make_config(ivr_callback={**IVR, "default_language": "cs", "say": say}, inbound_queue_id="3")
    snap = build_snapshot(config, {"3": (4, 250.5), "1": (2, 0.0)}, OPEN_NOW)
    assert snap.default_language == "cs"
    assert snap.say == {"cs": {"offer": "Čekáte {minutes_text}."}}
    answer = routing_offer(snap, found=True, debt=False, pending_callback=False, now_ms=NOW_MS)
    assert answer.offer_say == "Čekáte 5 minut."


@pytest.mark.parametrize(
    ("count", "czech", "english"),
    [
        (1, "1 minutu", "1 minute"),
        (2, "2 minuty", "2 minutes"),
        (4, "4 minuty", "4 minutes"),
        (5, "5 minut", "5 minutes"),
        (12, "12 minut", "12 minutes"),
        (22, "22 minut", "22 minutes"),
    ],
)
def test_minutes_are_said_in_their_plural_form(count: int, czech: str, english: str) -> None:
    assert minutes_text(count, "cs") == czech
    assert minutes_text(count, "en") == english
    assert minutes_text(count, "de") == f"{count} min"
    assert say_text("accepted", "cs", "cs", minutes=count) == (
        f"Děkujeme. Zavoláme vám zpět přibližně za {czech} a vaše pořadí zůstává."
    )


def test_build_snapshot_from_the_report_and_the_config() -> None:
    config = make_config(ivr_callback=IVR, inbound_queue_id="3")
    snap = build_snapshot(config, {"3": (4, 250.5), "1": (2, 0.0)}, OPEN_NOW)
    assert snap.queues["3"] == QueueWait(4, 251)
    assert snap.capacity_left == 3  # max_open 5 - 2 waiting in the callback queue
    assert snap.in_hours(NOW_MS)
    assert not snap.in_hours(int(at("2026-11-18T20:00:00+00:00").timestamp() * 1000))
    assert build_snapshot(config, None, OPEN_NOW).capacity_left is None


# ------------------------------------------------------------------ the request's fields


GOOD = {"cid": "+420777666555", "queue_id": "3", "joined_at": str(NOW_MS - 60_000), "call_id": "c-1"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cid": ""}, "cid"),
        ({"queue_id": "abc"}, "queue_id"),
        ({"queue_id": None}, "queue_id"),
        ({"joined_at": "yesterday"}, "joined_at"),
        ({"joined_at": str(NOW_MS + 3_600_000)}, "joined_at"),
        ({"joined_at": "1764"}, "joined_at"),
        ({"call_id": "not a uuid!"}, "call_id"),
        ({"language": "czech language"}, "language"),
        ({"call_id": {"nested": 1}}, "call_id"),
    ],
)
def test_bad_fields_are_named(changes: dict[str, Any], field: str) -> None:
    from ringback.domain.ivr import IvrFieldError

    with pytest.raises(IvrFieldError) as raised:
        parse_ivr_request({**GOOD, **changes}, NOW_MS)
    assert raised.value.field == field


def test_values_may_arrive_as_strings_or_numbers() -> None:
    request = parse_ivr_request({**GOOD, "queue_id": 3, "joined_at": NOW_MS - 1000}, NOW_MS)
    assert (request.queue_id, request.joined_at_ms) == ("3", NOW_MS - 1000)


def test_say_in_the_callers_language_else_the_default() -> None:
    assert "Děkujeme" in say_text("accepted", "cs-CZ", "en", minutes=3)
    assert "3 minutes" in say_text("accepted", "en", "cs", minutes=3)
    assert "Děkujeme" in say_text("accepted", "de", "cs")
    assert (
        say_text("accepted", "de", "de", {"de": {"accepted": "Danke ({minutes})"}}, minutes=2) == "Danke (2)"
    )


# ------------------------------------------------------------------ the dialer's order


class InlineExecutor(Executor):
    """Runs every job at once (deterministic tests of the deadline-bound service)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


class World:
    def __init__(self, now: datetime = OPEN_NOW, stats: OfferSnapshot | None = None, **config: Any) -> None:
        config.setdefault("ivr_callback", IVR)
        config.setdefault("inbound_queue_id", "3")
        self.clock = FakeClock(now)
        self.repo = MemoryCallbacks()
        self.outbox = MemoryOutbox(self.clock)
        self.webitel = CallbacksWebitel()
        self.config = StaticConfig(make_config(**config))
        self.stats = stats if stats is not None else snapshot()

        self.web = callback_service(
            repo=self.repo,
            outbox=self.outbox,
            config=self.config,
            clock=self.clock,
            webitel=lambda: self.webitel,
        )
        self.ivr = IvrCallbacks(
            self.web.core,
            snapshot=lambda: self.stats,
            open_id=lambda e164: self.repo.open_lock(e164, self.clock.now()),
            budget_ms=800,
            executor=InlineExecutor(),
        )

    def accept(self, **changes: Any) -> tuple[int, dict[str, Any]]:
        reply = self.ivr.accept({**GOOD, "joined_at": str(NOW_MS - 60_000), **changes})
        return reply.status, reply.body


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    first=st.integers(min_value=1, max_value=86_000_000),
    second=st.integers(min_value=1, max_value=86_000_000),
    ids=st.tuples(st.integers(1, 10**9), st.integers(1, 10**9)),
)
def test_earlier_joined_is_offered_first(first: int, second: int, ids: tuple[int, int]) -> None:
    """For any two joined times (and any member ids Webitel gives), the member of the caller who
    joined earlier comes first in call_center's order; equal times fall back to the id."""
    world = World()
    members = []
    for age_ms, member_id in zip((first, second), ids, strict=True):
        status, body = world.accept(
            cid=f"+42077766{len(members):04d}", joined_at=str(NOW_MS - age_ms), call_id=f"call-{age_ms}"
        )
        assert status == 200 and body["accepted"] == "true"
        record = world.repo.get(body["callback_id"])
        assert record is not None
        member = entry_for(record, world.config.config).member
        assert member.min_offering_at == str(NOW_MS - age_ms)
        members.append(
            (
                NOW_MS - age_ms,
                dial_order_key(
                    priority=member.priority, min_offering_at=int(member.min_offering_at), member_id=member_id
                ),
            )
        )
    (joined_a, key_a), (joined_b, key_b) = members
    if joined_a != joined_b:
        assert (key_a < key_b) == (joined_a < joined_b)


def test_an_ivr_caller_is_ahead_of_a_later_website_request_and_behind_an_earlier_one() -> None:
    world = World()
    earlier = world.web.submit(
        CallbackRequest.model_validate({"mode": "now", "phone": "777000111"}), Caller(base_url="x")
    )
    world.clock.advance(120)
    status, body = world.accept(joined_at=str(NOW_MS + 60_000), call_id="c-order")
    assert status == 200 and body["accepted"] == "true"
    world.clock.advance(30)
    later = world.web.submit(
        CallbackRequest.model_validate({"mode": "now", "phone": "777000222"}), Caller(base_url="x")
    )
    keys = {}
    for name, callback_id, member_id in (
        ("earlier", earlier.id, 3),
        ("ivr", body["callback_id"], 2),
        ("later", later.id, 1),  # ids in another order than the requests: ids do not decide
    ):
        record = world.repo.get(callback_id)
        assert record is not None
        member = entry_for(record, world.config.config).member
        assert member.min_offering_at is not None
        keys[name] = dial_order_key(
            priority=member.priority, min_offering_at=int(member.min_offering_at), member_id=member_id
        )
    assert sorted(keys, key=keys.__getitem__) == ["earlier", "ivr", "later"]


# ------------------------------------------------------------------ accept and cancel


def test_accept_creates_a_now_request_pushed_with_the_joined_time() -> None:
    world = World()
    status, body = world.accept(language="en")
    assert status == 200
    assert set(body) == {
        "accepted",
        "callback_id",
        "linked",
        "expected_call_in_s",
        "position",
        "say",
        "reason",
    }
    assert all(isinstance(value, str) for value in body.values())
    assert (body["accepted"], body["linked"], body["reason"]) == ("true", "false", "")
    assert body["expected_call_in_s"] == "240"  # the queue's 300 s wait less the 60 s waited
    assert body["position"] == "3"  # behind the two members waiting in the callback queue
    assert "4 minutes" in body["say"]
    record = world.repo.get(body["callback_id"])
    assert record is not None and record.source == "ivr" and record.mode == "now"
    entry = world.outbox.get(record.outbox_entry_id)
    assert entry is not None and entry.state == OutboxState.DELIVERED
    assert len(world.webitel.members) == 1
    # What the upload sends: the caller's joined time and the priority of every "now" request.
    assert entry.member.min_offering_at == str(NOW_MS - 60_000)
    assert entry.member.priority == 1000
    # Named for the agent as what it is (the caller gave no name): asked for from the IVR.
    assert entry.member.name.startswith("IVR callback ")
    assert entry.member.communications[0].description == "ivr callback (ivr, now)"


def test_a_website_request_without_a_name_is_a_web_callback_member() -> None:
    world = World()
    answer = world.web.submit(
        CallbackRequest.model_validate({"mode": "now", "phone": "777000111"}), Caller(base_url="x")
    )
    record = world.repo.get(answer.id)
    assert record is not None
    member = entry_for(record, world.config.config).member
    assert member.name.startswith("Web callback ")
    assert member.communications[0].description == f"web callback ({record.source}, now)"


def test_the_same_call_asking_again_gets_the_same_answer_and_no_second_member() -> None:
    world = World()
    first = world.accept()
    world.clock.advance(5)
    again = world.accept()
    assert again == first
    assert len(world.webitel.members) == 1
    assert len(world.outbox.entries) == 2  # the repeat's own entry, cancelled at once
    assert sum(1 for e in world.outbox.entries.values() if e.state == OutboxState.CANCELLED) == 1


def test_a_caller_with_an_open_website_request_gets_it_linked() -> None:
    world = World()
    web = world.web.submit(
        CallbackRequest.model_validate({"mode": "now", "phone": "777666555"}), Caller(base_url="x")
    )
    status, body = world.accept(call_id="c-linked")
    assert status == 200
    assert (body["accepted"], body["linked"], body["callback_id"]) == ("true", "true", web.id)
    assert len(world.webitel.members) == 1  # not a second dial
    assert world.accept(call_id="c-linked")[1] == body  # asking again: the same answer


@pytest.mark.parametrize(
    ("world_args", "reason"),
    [
        ({"now": at("2026-11-18T19:00:00+00:00")}, "closed"),
        ({"stats": snapshot(capacity_left=0)}, "no_capacity"),
        ({"ivr_callback": {"enabled": False}}, "disabled"),
        ({"allowed_countries": ["SK"]}, "number_refused"),  # a caller id is not to be trusted
    ],
)
def test_refusals_say_why(world_args: dict[str, Any], reason: str) -> None:
    world = World(**world_args)
    status, body = world.accept()
    assert status == 200
    assert (body["accepted"], body["reason"], body["callback_id"]) == ("false", reason, "")
    assert body["say"]
    assert not world.webitel.members


def test_a_failing_store_answers_degraded_and_keeps_nothing() -> None:
    world = World()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("DynamoDB is down")

    world.repo.store = broken  # type: ignore[method-assign]
    status, body = world.accept(language="cs")
    assert status == 200
    assert (body["accepted"], body["reason"]) == ("false", "degraded")
    assert "zůstaňte prosím na lince" in body["say"]
    assert not world.webitel.members
    assert all(e.state == OutboxState.CANCELLED for e in world.outbox.entries.values())


def test_cancel_from_the_ivr_stops_the_member() -> None:
    world = World()
    _, body = world.accept()
    reply = world.ivr.cancel({"cid": "777666555", "call_id": "repeat-call"})
    assert reply.status == 200
    assert (reply.body["cancelled"], reply.body["callback_id"], reply.body["reason"]) == (
        "true",
        body["callback_id"],
        "",
    )
    record = world.repo.get(body["callback_id"])
    assert record is not None and record.status.value == "cancelled"
    again = world.ivr.cancel({"cid": "777666555", "call_id": "repeat-call"})
    assert (again.body["cancelled"], again.body["reason"]) == ("false", "none_open")


def test_cancel_bad_input_names_the_field() -> None:
    world = World()
    reply = world.ivr.cancel({"cid": "not a number", "call_id": "x-1"})
    assert (reply.status, reply.body["field"], reply.body["error"]) == (400, "cid", "invalid_request")
    assert world.ivr.cancel({"cid": "777666555"}).body["field"] == "call_id"


def test_expected_time_is_never_negative() -> None:
    world = World()
    status, body = world.accept(joined_at=str(NOW_MS - 20 * 60_000), call_id="c-long")
    assert status == 200 and body["expected_call_in_s"] == "0"
    assert timedelta(seconds=int(body["expected_call_in_s"])) == timedelta(0)


# ------------------------------------------------------------------ what the caller heard holds


def on_pool(world: World, executor: Executor, *, budget_ms: int, open_id: Any = None) -> None:
    """The world's IVR routes on ``executor`` (a real pool lets a blocked dependency outlive
    the deadline)."""
    world.ivr = IvrCallbacks(
        world.web.core,
        snapshot=lambda: world.stats,
        open_id=open_id or (lambda e164: world.repo.open_lock(e164, world.clock.now())),
        budget_ms=budget_ms,
        executor=executor,
    )


@pytest.mark.parametrize(("target", "name"), [("outbox", "add"), ("repo", "reserve")])
def test_an_accept_late_past_the_degraded_answer_keeps_nothing(target: str, name: str) -> None:
    """The caller heard "degraded" (and stays in the queue): the late work, released afterwards,
    undoes its first round instead of storing a request that would dial them again."""
    world = World()
    pool = ThreadPoolExecutor(max_workers=4)
    on_pool(world, pool, budget_ms=50)
    release = threading.Event()
    port = getattr(world, target)
    original = getattr(port, name)

    def late(*args: Any, **kwargs: Any) -> Any:
        assert release.wait(10)
        return original(*args, **kwargs)

    setattr(port, name, late)
    status, body = world.accept(language="cs")
    assert status == 200 and (body["accepted"], body["reason"]) == ("false", "degraded")
    release.set()
    pool.shutdown(wait=True)
    assert world.repo.records == {}
    assert world.repo.open_lock(GOOD["cid"], world.clock.now()) is None
    assert all(e.state == OutboxState.CANCELLED for e in world.outbox.entries.values())
    assert not world.webitel.members
    # Nothing is left in the way: the caller asks again and is accepted.
    setattr(port, name, original)
    on_pool(world, InlineExecutor(), budget_ms=800)
    _, again = world.accept(language="cs")
    assert (again["accepted"], again["reason"]) == ("true", "")
    assert list(world.repo.records) == [again["callback_id"]]


def test_a_cancel_late_past_the_degraded_answer_cancels_nothing() -> None:
    """The repeat caller heard that nothing was cancelled: their callback stays as it was."""
    world = World()
    _, accepted = world.accept()
    assert accepted["accepted"] == "true"
    members = list(world.webitel.members)
    release = threading.Event()

    def late_lookup(e164: str) -> str | None:
        assert release.wait(10)
        return world.repo.open_lock(e164, world.clock.now())

    pool = ThreadPoolExecutor(max_workers=4)
    on_pool(world, pool, budget_ms=50, open_id=late_lookup)
    reply = world.ivr.cancel({"cid": GOOD["cid"], "call_id": "repeat-call"})
    assert reply.status == 200 and (reply.body["cancelled"], reply.body["reason"]) == ("false", "degraded")
    release.set()
    pool.shutdown(wait=True)
    assert world.repo.records[accepted["callback_id"]].is_open
    assert all(e.state != OutboxState.CANCELLED for e in world.outbox.entries.values())
    assert list(world.webitel.members) == members
