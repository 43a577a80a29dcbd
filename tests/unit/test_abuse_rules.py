"""Abuse rules: guards, costly numbers, origins."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ringback.domain.abuse import number_problem, origin_allowed, submit_guards, window_start
from ringback.domain.callback_policy import CallbackPolicy
from ringback.domain.phones import parse_phone
from tests.unit.callbacks_fakes import at

pytestmark = pytest.mark.unit


def test_guards_are_keyed_by_pseudonyms_and_fixed_windows() -> None:
    now = at("2026-11-18T10:17:00+00:00")
    guards = submit_guards(CallbackPolicy(), phone_key="p" * 32, ip_key="i" * 32, now=now)
    assert [g.name for g in guards] == [
        "number_hour",
        "number_day",
        "ip_hour",
        "ip_numbers_day",
        "global_minute",
    ]
    assert guards[0].window_start == at("2026-11-18T10:00:00+00:00")
    assert guards[0].retry_after_s(now) == 43 * 60
    assert guards[3].kind == "distinct" and guards[3].member == "p" * 32
    assert all("+420" not in g.storage_key for g in guards)
    assert [g.name for g in submit_guards(CallbackPolicy(), phone_key="p", ip_key=None, now=now)] == [
        "number_hour",
        "number_day",
        "global_minute",
    ]
    assert window_start(now + timedelta(hours=1), 3600) == at("2026-11-18T11:00:00+00:00")


@pytest.mark.parametrize(
    ("raw", "allowed", "policy", "ok"),
    [
        ("+420777666555", ["CZ"], {}, True),
        ("+420900123456", [], {}, False),
        ("+4915201234567", ["CZ"], {}, False),
        ("+4915201234567", [], {}, True),
        ("+4915201234567", [], {"denied_prefixes": ["+49152"]}, False),
        ("+420800123456", [], {}, True),  # toll-free is free to call
        ("+420800123456", [], {"denied_kinds": ["toll_free"]}, False),
    ],
)
def test_number_problem(raw: str, allowed: list[str], policy: dict[str, object], ok: bool) -> None:
    number = parse_phone(raw, "CZ")
    problem = number_problem(number, CallbackPolicy.model_validate(policy), allowed)
    assert (problem is None) is ok


def test_policy_validates_prefixes() -> None:
    with pytest.raises(ValueError, match=r"E\.164 prefix"):
        CallbackPolicy.model_validate({"denied_prefixes": ["0900"]})
    with pytest.raises(ValueError, match="Extra inputs"):
        CallbackPolicy.model_validate({"per_numbr_per_hour": 3})


def test_origins() -> None:
    allowed = ["https://www.example.com"]
    assert origin_allowed(None, allowed)
    assert origin_allowed("https://www.example.com/", allowed)
    assert not origin_allowed("https://www.example.com.evil.net", allowed)
    assert origin_allowed("https://anything", [])
