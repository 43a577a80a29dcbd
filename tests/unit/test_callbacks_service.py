"""The callbacks service with in-memory ports (and the dialer's real deliver_now path)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.callbacks import CallbackRequest, RescheduleRequest
from ringback.domain.errors import Conflict, Forbidden, RateLimited, Unavailable, Unprocessable
from ringback.domain.outbox import CALLBACK_TAG, ID_TAG, OutboxState
from ringback.services.callbacks import Caller
from tests.unit.callbacks_fakes import (
    CallbacksWebitel,
    FakeCaptcha,
    MemoryCallbacks,
    StaticConfig,
    at,
    callback_service,
    make_config,
)
from tests.unit.dialer_fakes import FakeClock, MemoryErasures, MemoryOutbox

pytestmark = pytest.mark.unit

# Wednesday 18 Nov 2026, 11:00 in Prague (open 08:00-18:00).
OPEN_NOW = at("2026-11-18T10:00:00+00:00")
CALLER = Caller(
    client_ip="198.51.100.7", origin="https://www.example.com", base_url="https://api.example.com"
)


class World:
    def __init__(self, now: datetime = OPEN_NOW, **config: Any) -> None:
        self.clock = FakeClock(now)
        self.repo = MemoryCallbacks()
        self.outbox = MemoryOutbox(self.clock)
        self.webitel = CallbacksWebitel()
        self.captcha = FakeCaptcha()
        self.config = StaticConfig(make_config(**config))
        self.delivered: list[str] = []
        self.erasures = MemoryErasures()
        self.service = callback_service(
            repo=self.repo,
            outbox=self.outbox,
            config=self.config,
            clock=self.clock,
            webitel=lambda: self.webitel,
            captcha=lambda: self.captcha,
            erasures=self.erasures,
            delivered=self.delivered,
        )

    def submit(self, caller: Caller = CALLER, **body: Any) -> Any:
        body.setdefault("phone", "777 666 555")
        return self.service.submit(CallbackRequest.model_validate(body), caller)


def test_now_in_hours_is_pushed_at_once_with_its_origin_and_top_priority() -> None:
    world = World()
    answer = world.submit(
        mode="now",
        country="CZ",
        name="Jana",
        source="whisbi",
        page_url="https://www.example.com/pricing",
        utm_campaign="autumn",
        leadGuid="L-1",
        kpiGuid="K-9",
        extra={"plan": "pro"},
    )
    record = world.repo.get(answer.id)
    assert record is not None and record.phone == "+420777666555"
    entry = world.outbox.get(record.outbox_entry_id)
    assert entry is not None and entry.state == OutboxState.DELIVERED
    assert world.delivered == [entry.entry_id]
    (member,) = world.webitel.members.values()
    assert member.variables[ID_TAG] == entry.entry_id
    assert member.variables[CALLBACK_TAG] == answer.id
    assert member.variables["page_url"] == "https://www.example.com/pricing"
    assert member.variables["utm_campaign"] == "autumn"
    assert member.variables["lead_guid"] == "L-1" and member.variables["kpi_guid"] == "K-9"
    assert member.variables["extra_plan"] == "pro"
    assert entry.member.priority == 1000
    # Offered from the time the customer asked (the dialer orders one priority by it: domain.ivr).
    assert entry.member.min_offering_at == str(int(record.created_at.timestamp() * 1000))
    # Delivered to Webitel: queued (the dialer's on_delivered hook).
    assert answer.status == CallbackStatus.RECEIVED
    assert world.repo.get(answer.id).status == CallbackStatus.QUEUED  # type: ignore[union-attr]
    assert answer.scheduled_for_next_opening is False
    assert answer.self_service is not None and answer.self_service.token in answer.self_service.manage_url


def test_webitel_down_still_accepts_and_leaves_the_entry_pending() -> None:
    world = World()
    world.webitel.faults = ["down"]
    answer = world.submit(mode="now")
    record = world.repo.get(answer.id)
    assert record is not None and record.status == CallbackStatus.RECEIVED
    entry = world.outbox.get(record.outbox_entry_id)
    assert entry is not None and entry.state == OutboxState.PENDING
    assert not world.webitel.members


def test_deliver_raising_is_contained() -> None:
    world = World()
    world.service.core.webitel = lambda: (_ for _ in ()).throw(KeyError("no token"))
    answer = world.submit(mode="now")
    assert world.outbox.get(world.repo.get(answer.id).outbox_entry_id).state == OutboxState.PENDING  # type: ignore[union-attr]


def test_later_out_of_hours_is_due_at_the_next_opening_and_says_so() -> None:
    # Friday 20 Nov 2026 17:30 Prague (closes 16:00 on Fridays) -> Monday 08:00.
    world = World(now=at("2026-11-20T16:30:00+00:00"))
    answer = world.submit(mode="later")
    assert answer.scheduled_for_next_opening is True
    assert answer.expected_call_at == at("2026-11-23T07:00:00+00:00")
    assert "closed" in answer.message and "Monday" in answer.message
    entry = world.outbox.get(world.repo.get(answer.id).outbox_entry_id)  # type: ignore[union-attr]
    assert entry is not None and entry.due_at == at("2026-11-23T07:00:00+00:00")
    assert entry.member.min_offering_at == str(int(at("2026-11-23T07:00:00+00:00").timestamp() * 1000))
    assert world.delivered == []  # not pushed at once: due later


def test_now_out_of_hours_waits_for_the_opening_too() -> None:
    world = World(now=at("2026-11-21T09:00:00+00:00"))  # Saturday
    answer = world.submit(mode="now")
    assert answer.scheduled_for_next_opening and world.delivered == []


def test_scheduled_books_a_slot_and_a_full_slot_is_refused() -> None:
    world = World(slot_capacity=1)
    slot = "2026-11-19T14:00:00+01:00"
    first = world.submit(mode="scheduled", scheduled_at=slot)
    assert first.expected_call_at == at(slot)
    assert first.expected_call_by == at(slot) + timedelta(minutes=30)
    entry = world.outbox.get(world.repo.get(first.id).outbox_entry_id)  # type: ignore[union-attr]
    assert entry is not None and entry.member.priority == 500 and entry.due_at == at(slot)
    with pytest.raises(Unprocessable) as refused:
        world.submit(phone="+420 602 123 456", mode="scheduled", scheduled_at=slot)
    assert refused.value.fields[0].field == "scheduled_at"
    assert "fully booked" in refused.value.fields[0].message


def test_scheduled_date_time_and_zone() -> None:
    world = World()
    answer = world.submit(mode="scheduled", date="2026-11-19", time="09:00", timezone="Europe/London")
    assert answer.expected_call_at == at("2026-11-19T09:00:00+00:00")


@pytest.mark.parametrize(
    ("when", "needle"),
    [
        ("2026-11-18T08:00:00+01:00", "in the past"),
        ("2026-11-18T11:05:00+01:00", "too soon"),
        ("2026-12-20T10:00:00+01:00", "more than 14 days"),
        ("2026-11-19T19:00:00+01:00", "outside our business hours"),
        ("2026-11-19T10:10:00+01:00", "30-minute slot grid"),
        ("2026-11-21T10:00:00+01:00", "outside our business hours"),
    ],
)
def test_scheduled_refusals_name_the_field_and_the_reason(when: str, needle: str) -> None:
    world = World()
    with pytest.raises(Unprocessable) as refused:
        world.submit(mode="scheduled", scheduled_at=when)
    (problem,) = refused.value.fields
    assert problem.field == "scheduled_at" and needle in problem.message


def test_holiday_is_refused() -> None:
    world = World(now=at("2026-12-20T10:00:00+00:00"))
    with pytest.raises(Unprocessable, match="fields") as refused:
        world.submit(mode="scheduled", date="2026-12-24", time="10:00")
    assert "holiday" in refused.value.fields[0].message and refused.value.fields[0].field == "time"


def test_every_field_problem_at_once() -> None:
    world = World(callbacks={"consent_required": True})
    with pytest.raises(Unprocessable) as refused:
        world.submit(phone="+49 900 1234567", mode="scheduled", scheduled_at="2026-11-19T19:00:00+01:00")
    fields = {p.field for p in refused.value.fields}
    assert fields == {"phone", "consent", "scheduled_at"}


@pytest.mark.parametrize(
    ("phone", "config", "needle"),
    [
        ("+420 900 123 456", {}, "premium rate"),
        ("+420 810 123 456", {}, "shared cost"),
        ("+33 6 12 34 56 78", {}, "only call back numbers from CZ"),
        ("+49 1520 1234567", {"callbacks": {"denied_prefixes": ["+491520"]}}, "range"),
        ("+420 777 666 555", {"callbacks": {"denied_kinds": ["mobile"]}}, "mobile"),
    ],
)
def test_costly_and_foreign_numbers_are_refused(phone: str, config: dict[str, Any], needle: str) -> None:
    world = World(**config)
    with pytest.raises(Unprocessable) as refused:
        world.submit(phone=phone)
    assert refused.value.fields[0].field == "phone" and needle in refused.value.fields[0].message
    assert not world.outbox.entries and not world.repo.records


def test_honeypot_and_origin_are_refused_with_a_reason() -> None:
    world = World()
    with pytest.raises(Forbidden, match="website"):
        world.submit(website="http://spam.example")
    with pytest.raises(Forbidden, match="origin"):
        world.submit(caller=Caller(client_ip="198.51.100.7", origin="https://evil.example"))
    assert not world.repo.records


def test_site_key_when_required() -> None:
    world = World(site_keys=["pk_live"], callbacks={"require_site_key": True})
    with pytest.raises(Forbidden, match="site key"):
        world.submit()
    assert world.submit(caller=Caller(client_ip="198.51.100.7", site_key="pk_live")).id


def test_captcha_when_required() -> None:
    world = World(callbacks={"captcha_required": True})
    with pytest.raises(Forbidden, match="CAPTCHA answer is required"):
        world.submit()
    with pytest.raises(Forbidden, match="not accepted"):
        world.submit(captcha_token="bad")
    turnstile: dict[str, Any] = {"cf-turnstile-response": "good"}
    assert world.submit(**turnstile).id
    assert world.captcha.calls == 2


def test_per_number_rate_limit_then_retry_after() -> None:
    world = World(callbacks={"per_number_per_hour": 2})
    first = world.submit()
    world.service.cancel(first.id)
    second = world.submit()
    world.service.cancel(second.id)
    with pytest.raises(RateLimited) as limited:
        world.submit()
    assert "this number" in limited.value.message
    assert 0 < limited.value.retry_after_s <= 3600


def test_distinct_numbers_per_client_are_capped() -> None:
    world = World(callbacks={"distinct_numbers_per_ip_per_day": 2})
    world.submit(phone="+420 602 111 111")
    world.submit(phone="+420 602 222 222")
    with pytest.raises(RateLimited, match="different phone numbers"):
        world.submit(phone="+420 602 333 333")
    # Another client is not affected.
    assert world.submit(phone="+420 602 333 333", caller=Caller(client_ip="203.0.113.9")).id


def test_repeat_is_linked_answers_the_first_and_raises_its_priority() -> None:
    world = World(now=at("2026-11-21T09:00:00+00:00"))  # Saturday: stays pending in the outbox
    first = world.submit(mode="later")
    again = world.submit(mode="now", phone="+420777666555", source="mluvii")
    assert again.id == first.id and again.repeat is True and again.repeat_count == 1
    assert again.self_service is not None  # same visitor (same client IP)
    assert len(world.repo.repeats[first.id]) == 1 and world.repo.repeats[first.id][0].source == "mluvii"
    entry = world.outbox.get(world.repo.get(first.id).outbox_entry_id)  # type: ignore[union-attr]
    assert entry is not None and entry.member.priority == 1100
    # The repeat's own entry (written beside its reservations) was cancelled: one live entry.
    assert len([e for e in world.outbox.entries.values() if e.state != OutboxState.CANCELLED]) == 1
    # Another visitor naming the same number does not get the first visitor's link.
    stranger = world.submit(caller=Caller(client_ip="203.0.113.50"))
    assert stranger.id == first.id and stranger.self_service is None and stranger.repeat_count == 2


def test_a_closed_request_no_longer_counts_as_open() -> None:
    world = World()
    first = world.submit()
    world.repo.advance_status(first.id, CallbackStatus.COMPLETED, 1)
    second = world.submit()
    assert second.id != first.id and second.repeat is False


def test_outbox_failure_undoes_the_request_and_answers_503() -> None:
    world = World()

    def broken(entry: Any) -> bool:
        raise RuntimeError("outbox down")

    world.outbox.add = broken  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        world.submit(mode="scheduled", scheduled_at="2026-11-19T14:00:00+01:00")
    assert not world.repo.records and not world.repo.locks
    assert all(count == 0 for count in world.repo.slots.values())


def test_a_missing_outbox_entry_is_recreated_on_the_repeat() -> None:
    world = World(now=at("2026-11-21T09:00:00+00:00"))
    first = world.submit(mode="later")
    world.outbox.entries.clear()  # as if the function died between the two writes
    world.submit()
    assert world.outbox.get(world.repo.get(first.id).outbox_entry_id) is not None  # type: ignore[union-attr]


def test_direct_mode_places_a_call_with_the_display_text() -> None:
    world = World(callback_mode="direct", direct_from_extension="1005")
    answer = world.submit(mode="now")
    (call,) = world.webitel.placed
    assert call.from_.extension == "1005" and call.destination == "+420777666555"
    assert call.params is not None and call.params.display == "Website callback request"
    assert call.params.variables is not None and call.params.variables[CALLBACK_TAG] == answer.id
    record = world.repo.get(answer.id)
    assert record is not None and record.call_id == "call-1" and record.status == CallbackStatus.DIALING
    assert world.outbox.get(record.outbox_entry_id).state == OutboxState.CANCELLED  # type: ignore[union-attr]


def test_direct_mode_falls_back_to_the_queue() -> None:
    world = World(callback_mode="direct", direct_from_extension="1005")
    world.webitel.call_fault = "agent busy"
    answer = world.submit(mode="now")
    record = world.repo.get(answer.id)
    assert record is not None and record.call_id is None
    assert world.outbox.get(record.outbox_entry_id).state == OutboxState.DELIVERED  # type: ignore[union-attr]


def test_direct_call_with_an_unknown_outcome_does_not_also_ring_the_queue_at_once() -> None:
    """Webitel may have placed the call: the queue entry stays pending (due later), not pushed."""
    world = World(callback_mode="direct", direct_from_extension="1005")
    world.webitel.call_answer_lost = True
    answer = world.submit(mode="now")
    record = world.repo.get(answer.id)
    assert record is not None and len(world.webitel.placed) == 1
    entry = world.outbox.get(record.outbox_entry_id)
    assert entry is not None and entry.state == OutboxState.PENDING
    assert world.delivered == []


def test_a_repeat_revives_a_request_whose_entry_an_undo_cancelled() -> None:
    """A submit whose store failed and whose undo could not delete the request leaves an open
    request with a cancelled entry: the visitor's retry must get a call, not a dead promise."""
    world = World()
    first = world.submit(mode="later")
    record = world.repo.get(first.id)
    assert record is not None
    world.outbox.cancel(record.outbox_entry_id, reason="not stored")
    world.submit(mode="later")
    revived = world.repo.get(first.id)
    assert revived is not None and revived.outbox_entry_id != record.outbox_entry_id
    entry = world.outbox.get(revived.outbox_entry_id)
    assert entry is not None and entry.state == OutboxState.PENDING


def test_a_customer_cancellation_is_never_revived_by_a_repeat() -> None:
    world = World()
    first = world.submit(mode="later")
    record = world.repo.get(first.id)
    assert record is not None
    world.outbox.cancel(record.outbox_entry_id, reason="cancelled by the customer")
    world.submit(mode="later")
    again = world.repo.get(first.id)
    assert again is not None and again.outbox_entry_id == record.outbox_entry_id


def test_cancel_stops_the_member_and_is_idempotent() -> None:
    world = World()
    answer = world.submit(mode="now")
    world.service.authorize(answer.id, answer.self_service.token)  # type: ignore[union-attr]
    world.webitel.down = True
    result = world.service.cancel(answer.id)
    assert result.status == CallbackStatus.CANCELLED and result.webitel == "stop_pending"
    world.webitel.down = False
    again = world.service.cancel(answer.id)
    assert again.webitel == "stopped" and len(world.webitel.stopped) == 1
    assert world.repo.get(answer.id).webitel_stop_pending is False  # type: ignore[union-attr]


def test_cancel_before_upload_and_of_a_completed_request() -> None:
    world = World(now=at("2026-11-21T09:00:00+00:00"))
    answer = world.submit(mode="later")
    result = world.service.cancel(answer.id)
    assert result.webitel == "not_uploaded"
    assert world.outbox.get(world.repo.get(answer.id).outbox_entry_id).state == OutboxState.CANCELLED  # type: ignore[union-attr]
    other = world.submit(phone="+420 602 000 001")
    world.repo.advance_status(other.id, CallbackStatus.COMPLETED, 1)
    with pytest.raises(Conflict, match="completed"):
        world.service.cancel(other.id)


def test_self_service_token_is_bound_to_its_request() -> None:
    world = World()
    a = world.submit()
    b = world.submit(phone="+420 602 000 002")
    with pytest.raises(Forbidden):
        world.service.authorize(b.id, a.self_service.token)  # type: ignore[union-attr]
    world.clock.advance(30 * 86400)
    with pytest.raises(Forbidden, match="expired"):
        world.service.authorize(a.id, a.self_service.token)  # type: ignore[union-attr]


def test_reschedule_moves_the_slot_and_replaces_the_member() -> None:
    world = World(slot_capacity=1)
    answer = world.submit(mode="now")
    moved = world.service.reschedule(
        answer.id, RescheduleRequest.model_validate({"scheduled_at": "2026-11-19T15:00:00+01:00"}), CALLER
    )
    assert moved.mode == "scheduled" and moved.expected_call_at == at("2026-11-19T15:00:00+01:00")
    record = world.repo.get(answer.id)
    assert record is not None and record.reschedule_count == 1
    assert len(world.webitel.stopped) == 1  # the member of the "now" push
    new_entry = world.outbox.get(record.outbox_entry_id)
    assert (
        new_entry is not None
        and new_entry.state == OutboxState.PENDING
        and new_entry.entry_id.endswith("_r1")
    )
    # The slot is now full for others; a retry of the same move is a no-op.
    with pytest.raises(Unprocessable, match="slot is full"):
        world.submit(phone="+420 602 000 003", mode="scheduled", scheduled_at="2026-11-19T15:00:00+01:00")
    again = world.service.reschedule(
        answer.id, RescheduleRequest.model_validate({"scheduled_at": "2026-11-19T15:00:00+01:00"}), CALLER
    )
    mine = [e for e in world.outbox.entries.values() if e.source_id == answer.id]
    assert again.expected_call_at == moved.expected_call_at and len(mine) == 2


def test_erasure_removes_everything_held_for_the_number() -> None:
    world = World()
    answer = world.submit(mode="now", consent=True, consent_text="I agree to be called.")
    world.submit(phone="+420777666555")  # a repeat
    assert world.repo.consents[answer.id].text_sha256
    report = world.service.erase_phone("777 666 555", "CZ")
    assert report.requests == 1 and report.items_deleted == 3  # request, consent, repeat
    assert report.webitel_members_deleted == 1 and not world.webitel.members
    assert world.repo.get(answer.id) is None and "+420777666555" not in world.repo.locks
    assert report.phone_masked == "+420*******55"


def test_consent_evidence_hashes_the_ip_and_keeps_the_version() -> None:
    world = World(callbacks={"consent_required": True, "consent_text_version": "2026-11"})
    answer = world.submit(consent=True, page_url="https://www.example.com/contact")
    evidence = world.repo.consents[answer.id]
    assert evidence.text_version == "2026-11" and evidence.page_url == "https://www.example.com/contact"
    assert evidence.client_ip_hash and "198.51.100.7" not in evidence.client_ip_hash
    assert evidence.given_at == OPEN_NOW
    assert evidence.expires_at == int((OPEN_NOW + timedelta(days=1095)).timestamp())


def test_no_raw_number_or_email_in_logs(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    world = World()
    caplog.set_level(logging.DEBUG)
    answer = world.submit(mode="now", email="jana@example.com")
    world.service.cancel(answer.id)
    world.service.erase_phone("+420777666555", None)
    text = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert "callback accepted" in text
    for raw in ("777666555", "777 666 555", "jana@example.com"):
        assert raw not in text


def test_records_expire_after_their_call_plus_retention() -> None:
    world = World()
    answer = world.submit(mode="later")
    record = world.repo.get(answer.id)
    assert record is not None
    assert record.expires_at > int((OPEN_NOW + timedelta(days=90)).timestamp())
    assert datetime.fromtimestamp(record.expires_at, UTC) < OPEN_NOW + timedelta(days=92)


def test_request_write_failure_cancels_the_entry_written_beside_it() -> None:
    world = World(now=at("2026-11-21T09:00:00+00:00"))
    world.repo.fail_store = True
    with pytest.raises(Unavailable):
        world.submit(mode="later")
    (entry,) = world.outbox.entries.values()
    assert entry.state == OutboxState.CANCELLED
    assert not world.repo.records and not world.repo.locks


def test_a_refused_guard_gives_back_the_lock_and_slot() -> None:
    world = World(callbacks={"per_number_per_hour": 1})
    first = world.submit(mode="scheduled", scheduled_at="2026-11-19T14:00:00+01:00")
    world.service.cancel(first.id)
    with pytest.raises(RateLimited):
        world.submit(mode="scheduled", scheduled_at="2026-11-19T14:00:00+01:00")
    assert not world.repo.locks and all(count == 0 for count in world.repo.slots.values())


@pytest.mark.parametrize("scheduled_at", ["9999-12-31T23:59:00-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_booking_at_the_edge_of_the_calendar_is_a_field_error_not_a_crash(scheduled_at: str) -> None:
    """Converting these to UTC overflows; the visitor gets a 422 naming the field."""
    with pytest.raises(Unprocessable) as refused:
        World().submit(mode="scheduled", scheduled_at=scheduled_at)
    assert [f.field for f in refused.value.fields] == ["scheduled_at"]
