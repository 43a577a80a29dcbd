"""Limits that hold against many addresses: per IPv4 /24 and IPv6 /64, and a global cap."""

from __future__ import annotations

from typing import Any

import pytest

from ringback.domain.abuse import network_of
from ringback.domain.callbacks import CallbackRequest
from ringback.domain.errors import RateLimited
from ringback.observability import metrics
from ringback.services.callbacks import CallbackService, Caller
from tests.unit.callbacks_fakes import (
    KEYS,
    CallbacksWebitel,
    FakeCaptcha,
    MemoryCallbacks,
    StaticConfig,
    at,
    make_config,
)
from tests.unit.dialer_fakes import FakeClock, MemoryOutbox

pytestmark = pytest.mark.unit

OPEN_NOW = at("2026-11-18T10:00:00+00:00")  # Wednesday, 11:00 in Prague
ORIGIN = "https://www.example.com"


def service(**callbacks: Any) -> CallbackService:
    return CallbackService(
        repo=MemoryCallbacks(),
        outbox=MemoryOutbox(),
        config=StaticConfig(
            make_config(callbacks={"per_number_per_hour": 100, "per_number_per_day": 100, **callbacks})
        ),
        clock=FakeClock(OPEN_NOW),
        keys=lambda: KEYS,
        captcha=FakeCaptcha,
        webitel=CallbacksWebitel,
        deliver=None,
        default_region="CZ",
        allowed_origins=[ORIGIN],
    )


def submit(svc: CallbackService, ip: str, n: int) -> Any:
    request = CallbackRequest.model_validate({"mode": "later", "phone": f"+420 602 {n:06d}"})
    return svc.submit(request, Caller(client_ip=ip, origin=ORIGIN))


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("198.51.100.7", "198.51.100.0/24"),
        ("198.51.100.250", "198.51.100.0/24"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("not an ip", None),
        ("", None),
        (None, None),
    ],
)
def test_network_of(ip: str | None, network: str | None) -> None:
    assert network_of(ip) == network


def test_sixty_addresses_in_one_slash_24_are_capped() -> None:
    svc = service(per_network_per_hour=30)
    accepted, refused = 0, []
    for host in range(1, 61):  # 60 distinct addresses, each far under its own per-IP limit
        try:
            submit(svc, f"198.51.100.{host}", host)
            accepted += 1
        except RateLimited as limited:
            refused.append(limited)
    assert accepted == 30 and len(refused) == 30
    assert all("your network" in r.message and r.retry_after_s > 0 for r in refused)
    # The next /24 is another network.
    assert submit(svc, "198.51.101.1", 99).id


def test_one_ipv6_client_rotating_through_its_slash_64_is_capped() -> None:
    svc = service(per_network_per_hour=5)
    for n in range(5):
        submit(svc, f"2001:db8:1:2::{n + 1:x}", n)
    with pytest.raises(RateLimited, match="your network"):
        submit(svc, "2001:db8:1:2:ffff::1", 50)
    assert submit(svc, "2001:db8:1:3::1", 51).id  # a neighbour's /64


def test_the_global_cap_refuses_everyone_with_429_and_counts_for_the_alarm() -> None:
    svc = service(new_callbacks_per_minute=3)
    for n in range(3):
        submit(svc, f"203.0.{n}.1", n)
    metrics.clear_metrics()
    with pytest.raises(RateLimited, match="too many requests") as limited:
        submit(svc, "192.0.2.77", 10)
    assert 0 < limited.value.retry_after_s <= 60
    assert "CallbacksGlobalCapReached" in metrics.metric_set
    metrics.clear_metrics()
