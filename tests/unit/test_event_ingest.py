"""The ingest, guard and read-model services with in-memory fakes."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

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
    guard = WidgetGuard(limiter, Config(), FixedClock(), WidgetLimits(("https://www.example.com",), 10))
    with pytest.raises(Forbidden):
        guard.admit(origin="https://evil.example", client_ip="1.2.3.4")
    with pytest.raises(Forbidden):
        guard.admit(origin=None, client_ip="1.2.3.4")
    guard.admit(origin="https://www.example.com", client_ip="1.2.3.4")
    with pytest.raises(RateLimited) as limited:
        guard.admit(origin="https://www.example.com", client_ip="1.2.3.4")
    assert limited.value.retry_after_s == 30 and not any("1.2.3.4" in key for key in limiter.hits)
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
