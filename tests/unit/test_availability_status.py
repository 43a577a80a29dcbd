"""GET /v1/status logic: hours, live agents, degradation, and the one-request-per-N-seconds cache."""

from __future__ import annotations

import pytest

from ringback.domain.webitel import QueueAgentCounts, WebitelQueueNotVisible
from ringback.services.availability import AvailabilityService
from tests.unit.callbacks_fakes import CallbacksWebitel, MemoryCache, StaticConfig, at, make_config
from tests.unit.dialer_fakes import FakeClock

pytestmark = pytest.mark.unit

OPEN = at("2026-11-18T10:00:00+00:00")


def service(
    webitel: CallbacksWebitel, clock: FakeClock, cache: MemoryCache | None = None, **config: object
) -> AvailabilityService:
    return AvailabilityService(
        config=StaticConfig(make_config(status_cache_seconds=10, **config)),
        clock=clock,
        webitel=lambda: webitel,
        cache=cache,
    )


@pytest.mark.parametrize(
    ("counts", "status", "code", "reason"),
    [
        (QueueAgentCounts(online=3, free=2, busy=1), "online", 1, "agents_free"),
        (QueueAgentCounts(online=0, free=0, busy=2), "busy", 2, "agents_busy"),
        (QueueAgentCounts(pause=2), "busy", 2, "agents_busy"),
        (QueueAgentCounts(), "offline", 0, "no_agents"),
    ],
)
def test_live_agents_decide_when_open(counts: QueueAgentCounts, status: str, code: int, reason: str) -> None:
    webitel = CallbacksWebitel()
    webitel.counts = counts
    answer = service(webitel, FakeClock(OPEN)).status()
    assert (answer.status, answer.code, answer.reason) == (status, code, reason)
    assert answer.open and not answer.degraded
    if status == "busy":
        assert answer.estimated_wait_s is not None and answer.estimated_wait_s > 0
    assert answer.modes["later"] and answer.modes["scheduled"]
    assert answer.modes["now"] is (status != "offline")


def test_closed_and_holiday_are_offline_without_asking_webitel() -> None:
    webitel = CallbacksWebitel()
    saturday = service(webitel, FakeClock(at("2026-11-21T10:00:00+00:00"))).status()
    assert (saturday.status, saturday.code, saturday.reason) == ("offline", 0, "closed")
    assert saturday.next_opening_at == at("2026-11-23T07:00:00+00:00")
    holiday = service(webitel, FakeClock(at("2026-12-24T10:00:00+00:00"))).status()
    assert holiday.reason == "holiday"
    assert webitel.count_requests == 0


def test_webitel_down_degrades_to_business_hours() -> None:
    webitel = CallbacksWebitel()
    webitel.down = True
    answer = service(webitel, FakeClock(OPEN)).status()
    assert (answer.status, answer.code, answer.degraded, answer.estimated_wait_s) == ("online", 1, True, None)


def test_one_webitel_request_per_window_whatever_the_traffic() -> None:
    webitel = CallbacksWebitel()
    clock = FakeClock(OPEN)
    cache = MemoryCache()
    containers = [service(webitel, clock, cache) for _ in range(5)]
    for _ in range(40):
        for container in containers:
            container.status()
        clock.advance(0.2)  # 8 s in all: one window
    assert webitel.count_requests == 1
    clock.advance(3)
    for container in containers:
        container.status()
    assert webitel.count_requests == 2


def test_failures_are_cached_too() -> None:
    webitel = CallbacksWebitel()
    webitel.down = True
    clock = FakeClock(OPEN)
    status = service(webitel, clock)
    for _ in range(20):
        assert status.status().degraded
    assert webitel.count_requests == 1
    webitel.down = False
    clock.advance(11)
    assert not status.status().degraded


class HiddenQueueWebitel(CallbacksWebitel):
    """Webitel answers the report, but without the callback queue (the token lacks rights)."""

    def queue_agent_counts(self, queue_id: str) -> QueueAgentCounts:
        self.count_requests += 1
        raise WebitelQueueNotVisible(queue_id, status=200)


def test_an_empty_report_names_the_missing_right_and_is_cached_for_every_container() -> None:
    webitel = HiddenQueueWebitel()
    clock = FakeClock(OPEN)
    cache = MemoryCache()
    first = service(webitel, clock, cache, callback_queue_id="7").status()
    assert first.degraded and first.status == "online" and first.reason == "business_hours"
    assert first.health == "the Webitel token's user needs supervisor rights on queue 7"
    # Another container reads the shared item: same reason, no second Webitel request.
    other = service(webitel, clock, cache, callback_queue_id="7").status()
    assert other.health == first.health and webitel.count_requests == 1


def test_health_is_empty_when_webitel_decides_and_says_unreachable_when_down() -> None:
    webitel = CallbacksWebitel()
    webitel.counts = QueueAgentCounts(online=1, free=1)
    assert service(webitel, FakeClock(OPEN)).status().health is None
    webitel.down = True
    health = service(webitel, FakeClock(OPEN)).status().health
    assert health is not None and health.startswith("Webitel did not answer")
