"""Projections: pure reducers, the callback mapping, and order/duplication independence."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain.callback_status import CallbackStatus
from ringback.domain.events import projections as p
from ringback.domain.events.envelope import EventSource, LoggedEvent
from ringback.domain.events.webitel import WebitelEvent
from ringback.domain.events.widget import FUNNEL_STAGES
from ringback.services.ingest import Ingest, to_logged
from ringback.services.projector import Projector
from ringback.services.read_models import ReadModels
from tests.unit.events_fakes import FakeCallbacks, FakeEventLog, FakeProjections, FixedClock

pytestmark = pytest.mark.unit
BASE = 1772443800000  # 2026-03-02T09:30:00Z
ZONE = ZoneInfo("Europe/Prague")
CALLS = {"u1": ("a1", "cb1"), "u2": ("a2", "cb2"), "u3": ("a3", "")}


def hook(event: str, at: int, **fields: Any) -> WebitelEvent:
    return WebitelEvent.model_validate({"event": event, "timestamp": str(at), **fields})


def logged(model: Any, source: EventSource = EventSource.WEBITEL) -> LoggedEvent:
    return to_logged(source, model, BASE + 10**6)


# ------------------------------------------------------------------------------- generators


@st.composite
def call_events(draw: st.DrawFn) -> dict[str, Any]:
    uuid = draw(st.sampled_from(sorted(CALLS)))
    attempt, callback = CALLS[uuid]
    event = draw(
        st.sampled_from(
            ["joined", "wait_agent", "offering", "active", "bridged", "processing", "missed", "leaving"]
        )
    )
    body: dict[str, Any] = {
        "event": event,
        "attempt_id": attempt,
        "timestamp": str(BASE + draw(st.integers(0, 20)) * 1000),
        "direction": "outbound",
        "queue_id": "1",
        "agent_id": draw(st.sampled_from(["", "17", "18"])),
        "call_cause": draw(st.sampled_from(["", "NORMAL_CLEARING", "NO_ANSWER"])),
        "destination": "+420777666555",
    }
    if event != "joined":  # before the call has a channel, hooks carry only the attempt
        body["member_channel_id"] = uuid
    if callback:
        body["ringback_callback_id"] = callback
    # One outcome per callback (Webitel does not contradict itself): cb1 may succeed, cb2 may stop.
    if uuid == "u1" and event in ("leaving", "processing"):
        body["cc_result"] = draw(st.sampled_from(["", "success"]))
    if uuid == "u2" and event in ("leaving", "missed"):
        body["member_stop_cause"] = draw(st.sampled_from(["", "max_attempts"]))
    if event == "bridged" and draw(st.booleans()):
        body["bridged_at"] = body["timestamp"]
    return body


@st.composite
def agent_events(draw: st.DrawFn) -> tuple[EventSource, dict[str, Any]]:
    at = BASE + draw(st.integers(0, 20)) * 1000
    if draw(st.booleans()):
        return EventSource.WEBITEL, {
            "event": "agent_status",
            "agent_id": draw(st.sampled_from(["17", "18"])),
            "status": draw(st.sampled_from(["online", "pause", "offline", "break_out"])),
            "status_payload": draw(st.sampled_from(["", "lunch"])),
            "timestamp": str(at),
        }
    message = draw(
        st.sampled_from(
            [
                "EventAgentReady",
                "EventAgentNotReady",
                "EventAgentConnectionChanged",
                "EventDialing",
                "EventRinging",
                "EventAgentRegainStatus",
                "EventReleased",
            ]
        )
    )
    body: dict[str, Any] = {
        "messageID": message,
        "agent": draw(st.sampled_from(["1005", "1006"])),
        "timestamp": at,
    }
    if message == "EventAgentNotReady":
        body["reasonCode"] = draw(st.sampled_from([2, 11, 14, 18]))
    if message in ("EventDialing", "EventRinging"):
        body["callID"] = draw(st.sampled_from(["c1", "c2"]))
    if message == "EventAgentRegainStatus":
        body["agentStateInfo"] = {"agent": body["agent"], "agentState": draw(st.sampled_from(["1", "2"]))}
        if draw(st.booleans()):
            body["workStatusInfo"] = {"callID": "c3", "callType": "Inbound", "otherDN": "13512345678"}
    return EventSource.AGENT, body


@st.composite
def widget_events(draw: st.DrawFn) -> dict[str, Any]:
    provider = draw(st.sampled_from(["ringback", "whisbi", "mluvii"]))
    # 23:30..00:30 Prague time: the funnel's day boundary is crossed on purpose.
    at = BASE - 11 * 3600 * 1000 + draw(st.integers(0, 7200)) * 1000
    if provider == "mluvii":
        return {
            "provider": "mluvii",
            "type": draw(
                st.sampled_from(
                    ["chatWindowOpen", "chatSessionCreated", "chatSessionStarted", "chatWindowClosed"]
                )
            ),
            "occurred_at": at,
            "site_key": "pk",
        }
    event = draw(
        st.sampled_from(
            [
                "otoOpened",
                "otoSessionRequested",
                "otoCallBooked",
                "otoCmbRequested",
                "otoInvalidPhone",
                "otoNoAgentsAvailable",
                "otoCallError",
            ]
        )
    )
    body: dict[str, Any] = {"provider": provider, "event": event, "occurred_at": at, "site_key": "pk"}
    if provider == "ringback":
        body |= {"event_id": f"e{draw(st.integers(0, 10**6))}", "session_id": "s1"}
        if event in ("otoCallBooked", "otoCmbRequested"):
            body["request_id"] = "cb1"
    else:
        body["data"] = {"kpiGuid": f"k{draw(st.integers(0, 10**6))}"}
    return body


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[EventSource, dict[str, Any]]]:
    events = draw(
        st.lists(
            st.one_of(
                call_events().map(lambda b: (EventSource.WEBITEL, b)),
                agent_events(),
                widget_events().map(lambda b: (EventSource.WIDGET, b)),
            ),
            min_size=1,
            max_size=25,
        )
    )
    return events


def build() -> tuple[Ingest, Projector, FakeProjections, FakeCallbacks, FakeEventLog]:
    projections, callbacks = FakeProjections(), FakeCallbacks()
    callbacks.add("cb1", CallbackStatus.QUEUED, phone="+420777666555", created_ms=BASE - 60_000)
    callbacks.add("cb2", CallbackStatus.RECEIVED, phone="+420777666555", created_ms=BASE - 60_000)
    log = FakeEventLog()
    projector = Projector(projections, callbacks, zone=ZONE, default_region="CZ")
    return Ingest(log, FixedClock()), projector, projections, callbacks, log


def run(sequence: list[tuple[EventSource, dict[str, Any]]]) -> tuple[Any, ...]:
    ingest, projector, projections, callbacks, log = build()
    for source, body in sequence:
        ingest.ingest(source, ingest.parse(source, body))
        projector.apply_all(log.drain())  # the stream, right behind the log
    views = ReadModels(projections, callbacks)
    calls = {u: views.call(u) for u in CALLS if projections.records(p.call_pk(u))}
    funnel = views.funnel("2026-03-01", "2026-03-02")
    timelines = {c: views.callback_timeline(c) for c in ("cb1", "cb2")}
    return (
        projections.snapshot(),
        dict(callbacks.requests),
        calls,
        views.agents(),
        funnel,
        timelines,
        set(log.events),
    )


@settings(max_examples=150, deadline=None)
@given(history=histories(), data=st.data())
def test_any_order_and_duplication_gives_the_same_projections(
    history: list[Any], data: st.DataObject
) -> None:
    expected = run(history)
    shuffled = data.draw(st.permutations(history))
    repeats = data.draw(st.lists(st.sampled_from(history), max_size=10))
    mixed = data.draw(st.permutations(shuffled + repeats))
    assert run(mixed) == expected


@settings(max_examples=60, deadline=None)
@given(history=histories())
def test_stream_reprojection_and_rebuild_change_nothing(history: list[Any]) -> None:
    ingest, projector, projections, callbacks, log = build()
    for source, body in history:
        ingest.ingest(source, ingest.parse(source, body))
    projector.apply_all(log.drain())
    before = (projections.snapshot(), {k: dict(v) for k, v in callbacks.requests.items()})
    projector.apply_all(list(log.scan()))  # the stream delivers every record again
    assert (projections.snapshot(), {k: dict(v) for k, v in callbacks.requests.items()}) == before
    projections.clear()
    projector.apply_all(reversed(list(log.scan())))  # rebuild from the log, another order
    assert projections.snapshot() == before[0]


@settings(max_examples=100, deadline=None)
@given(
    statuses=st.lists(
        st.sampled_from(
            [
                CallbackStatus.QUEUED,
                CallbackStatus.DIALING,
                CallbackStatus.CONNECTED,
                CallbackStatus.COMPLETED,
            ]
        ),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_callback_status_fold_matches_conditional_writes_in_any_order(
    statuses: list[CallbackStatus], data: st.DataObject
) -> None:
    callbacks = FakeCallbacks()
    callbacks.add("cb", CallbackStatus.RECEIVED)
    order = data.draw(st.permutations(list(enumerate(statuses))))
    for index, status in order:
        callbacks.advance(p.CallbackAdvance("cb", status, BASE + index, "r", f"e{index}"))
    assert (
        callbacks.requests["cb"]["status"] == p.fold_callback_status(CallbackStatus.RECEIVED, statuses).value
    )


# ------------------------------------------------------------------------------------ reducers


def test_call_fold_fields_times_and_durations() -> None:
    joined = logged(hook("joined", BASE, attempt_id="a", queue_id="1", destination="+420777666555"))
    offering = logged(hook("offering", BASE + 5000, member_channel_id="u", attempt_id="a", agent_id="17"))
    bridged = logged(
        hook(
            "bridged",
            BASE + 9000,
            member_channel_id="u",
            attempt_id="a",
            agent_id="17",
            bridged_at=str(BASE + 8000),
            direction="outbound",
        )
    )
    leaving = logged(
        hook(
            "leaving",
            BASE + 69000,
            member_channel_id="u",
            attempt_id="a",
            call_cause="NORMAL_CLEARING",
            call_bill_sec="60",
            cc_result="success",
        )
    )
    facts = [
        f.data
        for f in (
            p.call_fact(e, WebitelEvent.model_validate(e.payload))
            for e in (leaving, offering, joined, bridged)
        )
        if f is not None
    ]
    view = p.fold_call("u", facts + facts)
    assert view is not None
    assert view["state"] == "leaving" and view["agent"] == "17" and view["cid"] == "+420*******55"
    assert (
        view["joined_at"] == "2026-03-02T09:30:00.000Z" and view["bridged_at"] == "2026-03-02T09:30:08.000Z"
    )
    assert view["wait_s"] == 8.0 and view["talk_s"] == 61.0 and view["bill_sec"] == 60
    assert view["cause"] == "NORMAL_CLEARING" and [e["event"] for e in view["events"]] == [
        "joined",
        "offering",
        "bridged",
        "leaving",
    ]
    assert (
        p.call_fact(
            logged(hook("agent_status", BASE, agent_id="1", status="online")),
            hook("agent_status", BASE, agent_id="1", status="online"),
        )
        is None
    )


def test_same_millisecond_events_order_by_lifecycle() -> None:
    events = [logged(hook(name, BASE, member_channel_id="u")) for name in ("leaving", "bridged", "offering")]
    facts = [p.call_fact(e, WebitelEvent.model_validate(e.payload)) for e in events]
    view = p.fold_call("u", [f.data for f in facts if f])
    assert view is not None and view["state"] == "leaving"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"event": "joined"}, CallbackStatus.QUEUED),
        ({"event": "offering"}, CallbackStatus.DIALING),
        ({"event": "active"}, CallbackStatus.DIALING),
        ({"event": "bridged"}, CallbackStatus.CONNECTED),
        ({"event": "processing", "bridged_at": str(BASE)}, CallbackStatus.COMPLETED),
        ({"event": "processing"}, None),
        ({"event": "leaving", "cc_result": "success"}, CallbackStatus.COMPLETED),
        ({"event": "leaving", "cc_result": "failed"}, None),
        (
            {"event": "leaving", "cc_result": "failed", "member_stop_cause": "max_attempts"},
            CallbackStatus.FAILED,
        ),
        ({"event": "leaving", "member_stop_cause": "expired"}, CallbackStatus.EXPIRED),
        ({"event": "leaving", "member_stop_cause": "cancel"}, CallbackStatus.CANCELLED),
        ({"event": "missed"}, None),
        ({"event": "missed", "member_stop_cause": "abandoned"}, CallbackStatus.FAILED),
    ],
)
def test_callback_status_mapping(body: dict[str, str], status: CallbackStatus | None) -> None:
    assert p.callback_status_of(WebitelEvent.model_validate({"uuid": "u", **body}))[0] == status


def test_agent_registers_keep_the_latest_and_fold_per_agent() -> None:
    from ringback.domain.events.agent import SobotMessage

    ready = logged(
        SobotMessage.model_validate({"messageID": "EventAgentReady", "agent": "1005", "timestamp": BASE}),
        EventSource.AGENT,
    )
    not_ready = logged(
        SobotMessage.model_validate(
            {"messageID": "EventAgentNotReady", "agent": "1005", "reasonCode": "13", "timestamp": BASE + 1}
        ),
        EventSource.AGENT,
    )
    ringing = logged(
        SobotMessage.model_validate(
            {
                "messageID": "EventRinging",
                "agent": "1005",
                "callID": "c",
                "otherDN": "13512345678",
                "timestamp": BASE + 2,
            }
        ),
        EventSource.AGENT,
    )
    registers: dict[str, Any] = {}
    for event in (not_ready, ringing, ready, not_ready):
        for update in p.agent_updates(event):
            registers[update.sk] = p.merge_register(registers.get(update.sk), update)
    [agent] = p.fold_agents(registers.values())
    assert (
        agent["status"] == "not_ready" and agent["reason"] == "Break (Meeting)" and agent["reason_code"] == 13
    )
    assert agent["activity"]["state"] == "ringing" and agent["activity"]["other"] == "+135******78"


def test_funnel_counts_distinct_members_per_day_and_provider() -> None:
    marks = [
        p.funnel_record("2026-03-02", "whisbi", "opened", "e1"),
        p.funnel_record("2026-03-02", "whisbi", "opened", "e1"),
        p.funnel_record("2026-03-02", "whisbi", "opened", "e2"),
        p.funnel_record("2026-03-02", "ringback", "booked", "e3"),
    ]
    days = p.fold_funnel(
        [{**m.data, "pk": m.pk, "sk": m.sk} for m in marks], date(2026, 3, 1), date(2026, 3, 2)
    )
    assert days[0] == {"day": "2026-03-01", "providers": {}, "total": dict.fromkeys(FUNNEL_STAGES, 0)}
    assert days[1]["providers"]["whisbi"]["opened"] == 2 and days[1]["total"]["booked"] == 1
    assert p.funnel_day(BASE - 10 * 3600 * 1000, ZONE) == "2026-03-02"  # 23:30Z = 00:30 in Prague


def test_inbound_bridged_closes_open_requests_of_that_number() -> None:
    ingest, projector, projections, callbacks, log = build()
    callbacks.add("cb3", CallbackStatus.QUEUED, phone="+420777666111", created_ms=BASE - 1000)
    callbacks.add("cb4", CallbackStatus.QUEUED, phone="+420777666111", created_ms=BASE + 10**7)  # asked later
    callbacks.add("cb5", CallbackStatus.CANCELLED, phone="+420777666111", created_ms=BASE - 1000)
    body = {
        "event": "bridged",
        "direction": "inbound",
        "uuid": "in-1",
        "cid": "777 666 111",
        "timestamp": str(BASE),
    }
    ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, body))
    assert callbacks.requests["cb3"]["status"] == "queued"  # ingest writes the log alone
    projector.apply_all(log.drain())
    assert callbacks.requests["cb3"]["status"] == "completed"
    assert "called in" in callbacks.requests["cb3"]["status_reason"]
    assert (
        callbacks.requests["cb4"]["status"] == "queued" and callbacks.requests["cb5"]["status"] == "cancelled"
    )
    timeline = ReadModels(projections, callbacks).callback_timeline("cb3")
    assert (
        timeline["timeline"][0]["event"] == "inbound_bridged"
        and timeline["timeline"][0]["call_uuid"] == "in-1"
    )


def test_a_bridged_call_in_an_inbound_queue_is_inbound_without_a_direction() -> None:
    # Webitel's queue hooks carry no direction (call_center queue/hook.go adds only state and
    # channel): the operator config's inbound queues say which calls came in.
    body = {
        "event": "bridged",
        "state": "bridged",
        "channel": "call",
        "queue_id": "3",
        "attempt_id": "88",
        "member_channel_id": "c-1",
        "destination": "+420777666555",
        "timestamp": "1772443800000",
    }
    logged = to_logged(EventSource.WEBITEL, WebitelEvent.model_validate(body), 1772443800500)

    def plan(inbound: frozenset[str]) -> Any:
        return Projector(
            FakeProjections(),
            FakeCallbacks(),
            zone=ZoneInfo("UTC"),
            default_region="CZ",
            inbound_queues=lambda: inbound,
        ).plan(logged)

    assert [c.e164 for c in plan(frozenset({"3"})).closures] == ["+420777666555"]
    assert plan(frozenset({"9"})).closures == ()
    dialer = to_logged(
        EventSource.WEBITEL,
        WebitelEvent.model_validate({**body, "direction": "outbound"}),
        1772443800500,
    )
    assert (
        Projector(
            FakeProjections(),
            FakeCallbacks(),
            zone=ZoneInfo("UTC"),
            default_region="CZ",
            inbound_queues=lambda: frozenset({"3"}),
        )
        .plan(dialer)
        .closures
        == ()
    )


def test_agent_registers_are_sharded_and_read_whole() -> None:
    """A 10,000-agent center's status changes spread over the shards (no single hot partition);
    the view reads every shard and the pre-sharding partition, the newest register winning."""
    keys = {p.agents_pk("webitel", str(agent)) for agent in range(10_000)}
    assert keys == set(p.agents_pks()[:-1]) and len(keys) == p.AGENT_SHARDS
    assert p.agents_pk("webitel", "17") == p.agents_pk("webitel", "17")  # stable
    legacy = {"kind": "agent", "source": "webitel", "agent_id": "17", "register": "status"}
    old = {**legacy, "status": "online", "order": f"{BASE:013d}#a"}
    new = {**legacy, "status": "pause", "order": f"{BASE + 1:013d}#b"}
    for registers in ([old, new], [new, old]):
        [view] = p.fold_agents(registers)
        assert view["status"] == "pause"
