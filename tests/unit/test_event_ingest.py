"""The ingest, guard and read-model services with in-memory fakes."""

from __future__ import annotations

import hashlib
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.domain.errors import Forbidden, NotFound, PayloadTooLarge, RateLimited, Unprocessable
from ringback.domain.events.envelope import EventSource
from ringback.domain.operator_config import OperatorConfig
from ringback.services.ingest import Ingest, WidgetGuard, WidgetLimits
from ringback.services.projector import Projector
from ringback.services.read_models import ReadModels
from tests.unit.events_fakes import FakeCallbacks, FakeEventLog, FakeLimiter, FakeProjections, FixedClock

pytestmark = pytest.mark.unit


class Config:
    def load(self) -> OperatorConfig:
        return OperatorConfig(site_keys=["pk_site"])


def setup() -> tuple[Ingest, FakeEventLog, FakeProjections, FakeCallbacks]:
    projections, callbacks, log = FakeProjections(), FakeCallbacks(), FakeEventLog()
    return Ingest(log, FixedClock(), max_batch=3), log, projections, callbacks


def project(log: FakeEventLog, projections: FakeProjections, callbacks: FakeCallbacks) -> None:
    """What the stream-driven projector does with the log's new records."""
    Projector(projections, callbacks, zone=ZoneInfo("Europe/Prague"), default_region="CZ").apply_all(
        log.drain()
    )


def test_batch_is_validated_whole_and_names_index_and_field() -> None:
    ingest, log, _, _ = setup()
    with pytest.raises(Unprocessable) as error:
        ingest.parse(EventSource.WEBITEL, [{"event": "offering", "uuid": "u"}, {"event": "bridged"}, 5])
    assert [f.field for f in error.value.fields] == ["[1].uuid", "[2]"]
    assert log.events == {}
    with pytest.raises(Unprocessable) as single:
        ingest.parse(EventSource.AGENT, {"messageID": "EventAgentReady"})
    assert [f.field for f in single.value.fields] == ["agent"]
    with pytest.raises(PayloadTooLarge):
        ingest.parse(EventSource.WEBITEL, [{"event": "x"}] * 4)
    with pytest.raises(Unprocessable):
        ingest.parse(EventSource.WEBITEL, [])
    with pytest.raises(Unprocessable):
        ingest.parse(EventSource.WEBITEL, "text")


def test_redelivery_is_a_duplicate_and_changes_nothing() -> None:
    ingest, log, projections, callbacks = setup()
    body: dict[str, Any] = {"event": "offering", "uuid": "u", "timestamp": "1772443800000", "agent": ""}
    first = ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, body))
    project(log, projections, callbacks)
    before = projections.snapshot()
    again = ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, {**body, "agent": None}))
    assert (first.accepted, again.accepted, again.duplicates) == (1, 0, 1)
    assert log.drain() == []  # a duplicate is not written, so the stream carries nothing
    assert len(log.events) == 1 and projections.snapshot() == before and before
    assert again.to_json()["events"][0]["status"] == "duplicate"


def test_unknown_event_is_kept_and_reported() -> None:
    ingest, log, projections, _ = setup()
    result = ingest.ingest(
        EventSource.AGENT,
        ingest.parse(EventSource.AGENT, {"messageID": "EventJanusLatency", "agent": "1", "ping": 20}),
    )
    [outcome] = result.unknown
    assert log.events[outcome.event_id].payload["ping"] == 20 and projections.items == {}


def test_one_write_per_event_and_the_projection_comes_from_the_stream() -> None:
    ingest, log, projections, callbacks = setup()
    projections.fail_registers = True  # a projection write would raise: ingest never makes one
    result = ingest.ingest(
        EventSource.AGENT, ingest.parse(EventSource.AGENT, {"messageID": "EventAgentReady", "agent": "7"})
    )
    assert result.accepted == 1 and len(log.events) == 1 and projections.items == {}
    assert [e.event_type for e in log.stream] == ["EventAgentReady"]
    projections.fail_registers = False
    project(log, projections, callbacks)
    assert ReadModels(projections, callbacks).agents()[0]["status"] == "ready"


def test_future_sender_time_falls_back_to_arrival() -> None:
    ingest, log, _, _ = setup()
    ingest.ingest(
        EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, {"event": "x", "timestamp": "9999999999999"})
    )
    [event] = log.events.values()
    assert event.occurred_at == event.received_at


def test_widget_guard() -> None:
    limiter = FakeLimiter(limit_hits=1)
    guard = WidgetGuard(
        limiter,
        Config(),
        FixedClock(),
        WidgetLimits(("https://www.example.com",), 10),
        ip_key=lambda: "k" * 32,
    )
    with pytest.raises(Forbidden):
        guard.admit(origin="https://evil.example", client_ip="1.2.3.4")
    with pytest.raises(Forbidden):
        guard.admit(origin=None, client_ip="1.2.3.4")
    guard.admit(origin="https://www.example.com", client_ip="1.2.3.4")
    with pytest.raises(RateLimited) as limited:
        guard.admit(origin="https://www.example.com", client_ip="1.2.3.4")
    assert limited.value.retry_after_s == 30 and not any("1.2.3.4" in key for key in limiter.hits)
    # Keyed: the plain SHA-256 of the address (reversible for IPv4 by trying them all) is not stored.
    assert not any(hashlib.sha256(b"1.2.3.4").hexdigest()[:24] in key for key in limiter.hits)
    ingest, _, _, _ = setup()
    events = ingest.parse(
        EventSource.WIDGET,
        [
            {"event": "otoOpened", "event_id": "e1", "session_id": "s"},
            {"event": "otoOpened", "event_id": "e2", "session_id": "s", "site_key": "pk_other"},
        ],
    )
    with pytest.raises(Forbidden) as error:
        guard.with_site_keys(events, "pk_site")
    assert error.value.fields[0].field == "[1].site_key"
    [checked] = guard.with_site_keys(events[:1], "pk_site")
    assert checked.site_key == "pk_site"


def test_read_models_not_found_and_funnel_ranges() -> None:
    views = ReadModels(FakeProjections(), FakeCallbacks())
    with pytest.raises(NotFound):
        views.call("nope")
    with pytest.raises(NotFound):
        views.callback_timeline("nope")
    for start, end, field in (
        ("2026-02-30", "2026-03-01", "from"),
        ("2026-03-02", "2026-03-01", "to"),
        ("2026-01-01", "2026-06-01", "to"),
    ):
        with pytest.raises(Unprocessable) as error:
            views.funnel(start, end)
        assert error.value.fields[0].field == field
    assert len(views.funnel("2026-03-01", "2026-03-03")["days"]) == 3


class TickingClock:
    """Each request arrives one second after the previous one."""

    def __init__(self) -> None:
        self.moment = FixedClock().moment

    def now(self) -> Any:
        from datetime import timedelta

        self.moment += timedelta(seconds=1)
        return self.moment


def team_hook(status: str, payload: str = "") -> dict[str, str]:
    # Field for field what webitel/call_center agent_manager/agent.go HookData() exports, posted
    # under the same names (events/webitel-team-hook-agent-status.json is the same shape).
    body = {
        "event": "agent_status",
        "agent_id": "17",
        "user_id": "204",
        "team_id": "2",
        "agent_name": "Petr Svoboda",
        "status": status,
        "extension": "1005",
    }
    if payload:
        body["status_payload"] = payload
    return body


def test_online_pause_online_as_webitel_sends_them_ends_online() -> None:
    projections, callbacks, log = FakeProjections(), FakeCallbacks(), FakeEventLog()
    ingest = Ingest(log, TickingClock())
    outcomes = [
        ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, body))
        for body in (team_hook("online"), team_hook("pause", "lunch"), team_hook("online"))
    ]
    project(log, projections, callbacks)
    assert [o.to_json()["events"][0]["status"] for o in outcomes] == ["accepted"] * 3
    assert len({o.outcomes[0].event_id for o in outcomes}) == 3 and len(log.events) == 3
    [agent] = ReadModels(projections, callbacks).agents()
    assert (agent["agent_id"], agent["status"], agent["extension"]) == ("17", "online", "1005")
    # The same three rebuilt from the log, in any order, end the same way.
    for order in ([2, 0, 1], [1, 2, 0]):
        fresh = FakeProjections()
        events = list(log.events.values())
        Projector(fresh, FakeCallbacks(), zone=ZoneInfo("UTC"), default_region="CZ").apply_all(
            [events[i] for i in order]
        )
        assert ReadModels(fresh, FakeCallbacks()).agents()[0]["status"] == "online"


def test_timestampless_status_changes_in_one_batch_keep_their_order() -> None:
    ingest, log, projections, callbacks = setup()
    result = ingest.ingest(
        EventSource.WEBITEL,
        ingest.parse(EventSource.WEBITEL, [team_hook("online"), team_hook("pause"), team_hook("online")]),
    )
    assert result.accepted == 3 and result.duplicates == 0
    times = sorted(e.occurred_at for e in log.events.values())
    assert times == [times[0], times[0] + 1, times[0] + 2]
    project(log, projections, callbacks)
    assert ReadModels(projections, callbacks).agents()[0]["status"] == "online"


def test_a_hook_with_webitels_timestamp_is_still_deduplicated_by_content() -> None:
    ingest, log, _, _ = setup()
    body = {**team_hook("online"), "timestamp": "1772443800000"}
    first = ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, body))
    again = ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, body))
    assert (first.accepted, again.duplicates, len(log.events)) == (1, 1, 1)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(["online", "pause", "offline", "break_out"]), min_size=1, max_size=8))
def test_any_sequence_of_team_hooks_ends_on_the_last_status(statuses: list[str]) -> None:
    projections, callbacks, log = FakeProjections(), FakeCallbacks(), FakeEventLog()
    ingest = Ingest(log, TickingClock())
    for status in statuses:
        result = ingest.ingest(EventSource.WEBITEL, ingest.parse(EventSource.WEBITEL, team_hook(status)))
        assert result.duplicates == 0
    assert len(log.events) == len(statuses)
    project(log, projections, callbacks)
    assert ReadModels(projections, callbacks).agents()[0]["status"] == statuses[-1]


def test_the_funnel_reads_the_unsharded_partition_of_the_versions_before_and_counts_a_member_once() -> None:
    from ringback.domain.events import console_rows as rows
    from ringback.domain.events import projections as p

    projections = FakeProjections()
    day = "2026-03-02"
    # Stored before the upgrade: one partition per day.
    for member in ("e1", "e2"):
        sk = f"whisbi#opened#{member}"
        projections.items[(f"FUNNEL#{day}", sk)] = {
            "kind": "funnel",
            "day": day,
            "provider": "whisbi",
            "stage": "opened",
            "pk": f"FUNNEL#{day}",
            "sk": sk,
        }
    # After it: e2 redelivered (its record now on its shard too) and e3 new.
    for member in ("e2", "e3"):
        assert projections.put_counted(rows.counted_funnel(day, "whisbi", "opened", member))
    sharded = {pk for pk, _ in projections.items if pk.startswith("FUNNEL#") and pk != f"FUNNEL#{day}"}
    assert sharded == {p.funnel_pk(day, "e2"), p.funnel_pk(day, "e3")} and sharded <= set(
        p.funnel_pks(day)[1:]
    )
    funnel = ReadModels(projections, FakeCallbacks()).funnel(day, day)
    assert funnel["total"]["opened"] == 3
