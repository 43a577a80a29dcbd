"""The operator configuration through the containers' shared snapshot (adapters.operator_config)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ringback.adapters.operator_config import SharedOperatorConfig
from tests.unit.callbacks_fakes import MemoryCache
from tests.unit.dialer_fakes import FakeClock

pytestmark = pytest.mark.unit


class FakeSsm:
    name = "/ringback/test/config"

    def __init__(self) -> None:
        self.value: dict[str, Any] = {"status_cache_seconds": 10}
        self.fetches = 0

    def fetch_raw(self) -> str:
        self.fetches += 1
        return json.dumps(self.value)

    def load(self) -> Any:
        raise AssertionError("the snapshot path never loads through Powertools' cache")


class BrokenCache(MemoryCache):
    def read(self, key: str) -> Any:
        raise RuntimeError("throttled")

    def write(self, key: str, value: dict[str, Any], **_: Any) -> None:
        raise RuntimeError("throttled")


def test_a_new_container_reads_the_snapshot_not_ssm_and_change_shows_within_max_age() -> None:
    ssm, cache, clock = FakeSsm(), MemoryCache(), FakeClock()
    first = SharedOperatorConfig(ssm, cache, clock, max_age_s=60)  # type: ignore[arg-type]
    assert first.load().status_cache_seconds == 10 and ssm.fetches == 1
    clock.advance(30)
    second = SharedOperatorConfig(ssm, cache, clock, max_age_s=60)  # type: ignore[arg-type]
    assert second.load().status_cache_seconds == 10 and ssm.fetches == 1  # one item read, no SSM
    ssm.value = {"status_cache_seconds": 20}
    clock.advance(29)  # 59 s after SSM was read: both still hold the old one
    assert first.load().status_cache_seconds == 10 and second.load().status_cache_seconds == 10
    clock.advance(1)  # 60 s: the snapshot is as old as allowed, whoever loads refreshes it
    assert second.load().status_cache_seconds == 20 and ssm.fetches == 2
    assert first.load().status_cache_seconds == 20 and ssm.fetches == 2  # the fresh snapshot


def test_without_the_shared_item_ssm_alone_answers() -> None:
    ssm, clock = FakeSsm(), FakeClock()
    source = SharedOperatorConfig(ssm, BrokenCache(), clock, max_age_s=60)  # type: ignore[arg-type]
    assert source.load().status_cache_seconds == 10 and ssm.fetches == 1
    clock.advance(61)
    assert source.load().status_cache_seconds == 10 and ssm.fetches == 2


def test_an_invalid_configuration_is_never_shared() -> None:
    ssm, cache, clock = FakeSsm(), MemoryCache(), FakeClock()
    ssm.value = {"status_cache_seconds": -1}
    with pytest.raises(ValueError):
        SharedOperatorConfig(ssm, cache, clock, max_age_s=60).load()  # type: ignore[arg-type]
    assert cache.values == {}
