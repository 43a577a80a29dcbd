"""The callback request body: vendor names, blanks, bounded extras, readable field errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ringback.api.errors import validation_problems
from ringback.domain.callbacks import DEFAULT_REGION, CallbackRequest, RescheduleRequest, local_schedule

pytestmark = pytest.mark.unit


def problems(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as error:
        CallbackRequest.model_validate(body)
    return {p.field: p.message for p in validation_problems(error.value.errors())}


def test_whisbi_payload_is_taken_as_sent() -> None:
    request = CallbackRequest.model_validate(
        {
            "mode": "cmb",
            "phone": "777666555",
            "dialCode": "+420",
            "name": "Jana",
            "email": "",
            "extra": "wants a quote",
            "leadGuid": "L-1",
            "kpiGuid": "K-2",
            "sessionGuid": "S-3",
            "provider": "whisbi",
            "pageUrl": "https://www.example.com/a?b=c",
            "date": "",
            "time": "",
            "seed": "ignored",
            "contentId": "ignored",
        }
    )
    assert request.mode == "later" and request.dial_code == "+420" and request.email is None
    assert (request.lead_guid, request.kpi_guid, request.session_guid) == ("L-1", "K-2", "S-3")
    assert request.source == "whisbi" and request.page_url == "https://www.example.com/a?b=c"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("now", "now"),
        ("call_me_now", "now"),
        ("Call me back", "later"),
        ("schedule", "scheduled"),
        ("LATER", "later"),
    ],
)
def test_mode_spellings(mode: str, expected: str) -> None:
    body: dict[str, Any] = {"mode": mode, "phone": "+420777666555"}
    if expected == "scheduled":
        body["scheduled_at"] = "2026-11-19T10:00:00+01:00"
    assert CallbackRequest.model_validate(body).mode == expected


def test_national_number_read_in_the_named_country() -> None:
    assert CallbackRequest.model_validate({"phone": "0903 123 456", "country": "SK"}).country == "SK"
    assert problems({"phone": "0903 123 456", "country": "CZ"}) == {"phone": "not a valid number for CZ"}


def test_default_region_comes_from_the_deployment() -> None:
    token = DEFAULT_REGION.set("SK")
    try:
        assert CallbackRequest.model_validate({"phone": "0903 123 456"}).phone == "0903 123 456"
    finally:
        DEFAULT_REGION.reset(token)
    assert "phone" in problems({"phone": "0903 123 456"})


def test_every_bad_field_is_listed_readably() -> None:
    found = problems(
        {
            "mode": "whenever",
            "phone": "12",
            "country": "XX",
            "email": "a@b",
            "language": "english!",
            "page_url": "javascript:alert(1)",
            "extra": {"a": {"nested": 1}},
            "timezone": "Mars/Base",
            "leadGuid": "bad guid with spaces",
            "source": "Some Provider!",
        }
    )
    assert set(found) == {
        "mode",
        "phone",
        "country",
        "email",
        "language",
        "page_url",
        "extra",
        "timezone",
        "leadGuid",
        "source",
    }  # named as the client sent them
    assert found["email"] == "not a valid e-mail address"
    assert found["extra"] == "extra.a must be text, a number or a boolean (a flat map)"


def test_missing_phone_and_schedule_rules() -> None:
    assert problems({})["phone"] == "Field required"
    assert problems({"phone": None})["phone"] == "a phone number is required"
    assert (
        "required for mode 'scheduled'"
        in problems({"phone": "+420777666555", "mode": "scheduled"})["scheduled_at"]
    )
    assert (
        "only used with mode 'scheduled'"
        in problems({"phone": "+420777666555", "date": "2026-11-19"})["scheduled_at"]
    )
    assert (
        "not both"
        in problems(
            {
                "phone": "+420777666555",
                "mode": "scheduled",
                "date": "2026-11-19",
                "time": "10:00",
                "scheduled_at": "2026-11-19T10:00:00+01:00",
            }
        )["scheduled_at"]
    )
    naive = problems({"phone": "+420777666555", "mode": "scheduled", "scheduled_at": "2026-11-19T10:00:00"})
    assert "timezone" in naive["scheduled_at"].lower()


def test_extra_is_bounded() -> None:
    assert "longer than 1000" in problems({"phone": "+420777666555", "extra": "x" * 1001})["extra"]
    assert (
        "more than 20 keys"
        in problems({"phone": "+420777666555", "extra": {str(i): i for i in range(21)}})["extra"]
    )
    flat = CallbackRequest.model_validate(
        {"phone": "+420777666555", "extra": {"n": 3, "ok": True, "gone": None}}
    )
    assert flat.extra == {"n": "3", "ok": "true"}


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
        st.one_of(st.text(max_size=500), st.integers(), st.booleans(), st.none()),
        max_size=20,
    )
)
def test_any_flat_map_within_bounds_is_kept_as_strings(extra: dict[str, Any]) -> None:
    request = CallbackRequest.model_validate({"phone": "+420777666555", "extra": extra})
    assert isinstance(request.extra, dict)
    assert set(request.extra) == {k for k, v in extra.items() if v is not None}
    assert all(isinstance(v, str) for v in request.extra.values())


@given(st.text(max_size=80))
def test_any_phone_text_is_either_valid_or_a_field_error(text: str) -> None:
    try:
        CallbackRequest.model_validate({"phone": text, "country": "CZ"})
    except ValidationError as error:
        assert {p.field for p in validation_problems(error.errors())} <= {"phone"}


def test_honeypot_aliases_and_turnstile_field() -> None:
    request = CallbackRequest.model_validate(
        {"phone": "+420777666555", "honeypot": "x", "cf-turnstile-response": "tok"}
    )
    assert request.honeypot_filled and request.captcha_token == "tok"
    assert not CallbackRequest.model_validate({"phone": "+420777666555", "website": ""}).honeypot_filled


def test_local_schedule_refuses_a_time_lost_to_the_clock_change() -> None:
    from datetime import date, time

    with pytest.raises(ValueError, match="does not exist"):
        local_schedule(None, date(2027, 3, 28), time(2, 30), "Europe/Prague", "Europe/Prague")
    offset = local_schedule(None, date(2027, 3, 28), time(3, 30), None, "Europe/Prague").utcoffset()
    assert offset is not None and offset.total_seconds() == 7200  # type: ignore[union-attr]


def test_reschedule_body() -> None:
    assert RescheduleRequest.model_validate(
        {"date": "2026-11-19", "time": "10:00", "tz": "Europe/Prague"}
    ).timezone
    with pytest.raises(ValidationError):
        RescheduleRequest.model_validate({"date": "2026-11-19"})
    with pytest.raises(ValidationError):
        RescheduleRequest.model_validate({"scheduled_at": "2026-11-19T10:00:00+01:00", "phone": "x"})
