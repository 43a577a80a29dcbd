"""Whisbi's booking payloads (Whisbi *API Reference > Events > Sell: Start*) read as the body of
``POST /v1/callbacks``: the mode from the event, the booked time from Whisbi's date fields, the
customer's country and dial code; an unusable Whisbi field is named as Whisbi names it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from pydantic import ValidationError

from ringback.domain.callbacks import CallbackRequest
from ringback.domain.whisbi import WhisbiFieldError, booking_fields, read_moment

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-03T09:30:00.000Z", {"scheduled_at": "2026-03-03T09:30:00+00:00"}),
        ("2026-03-03T10:30:00+01:00", {"scheduled_at": "2026-03-03T10:30:00+01:00"}),
        ("2026-03-03 10:30", {"date": "2026-03-03", "time": "10:30:00"}),
        ("2026-03-03T10:30", {"date": "2026-03-03", "time": "10:30:00"}),
        ("03.03.2026 10:30", {"date": "2026-03-03", "time": "10:30:00"}),
        ("03/03/2026 9:05", {"date": "2026-03-03", "time": "09:05:00"}),
        (1772530200000, {"scheduled_at": "2026-03-03T09:30:00+00:00"}),
        ({"date": "2026-03-03", "time": "10:30"}, {"date": "2026-03-03", "time": "10:30:00"}),
    ],
)
def test_whisbi_dates_are_read(value: Any, expected: dict[str, str]) -> None:
    assert read_moment(value, "scheduledDate") == expected


@pytest.mark.parametrize(
    "value",
    ["next Tuesday", "2026-02-30 10:00", "2026-03-03 25:00", {"date": "2026-03-03"}, "31/13/2026 10:00"],
)
def test_unreadable_whisbi_dates_name_their_field(value: Any) -> None:
    with pytest.raises(WhisbiFieldError) as error:
        read_moment(value, "scheduledDateObj")
    assert error.value.field == "scheduledDateObj"


def test_the_event_gives_the_mode_and_the_first_date_field_the_time() -> None:
    booked = booking_fields(
        {
            "event": "otoCallBooked",
            "leadGuid": "g",
            "scheduledDate": "2026-03-03 11:00",  # second choice: scheduledDateObj wins
            "scheduledDateObj": "2026-03-03T09:30:00.000Z",
        }
    )
    assert booked["mode"] == "scheduled" and booked["scheduled_at"] == "2026-03-03T09:30:00+00:00"
    assert booked["source"] == "whisbi" and "scheduledDate" not in booked
    assert booking_fields({"event": "otoCmbRequested", "lead": 7})["mode"] == "later"
    assert booking_fields({"event": "otoCmbRequested", "lead": 7})["lead"] == "7"
    assert booking_fields({"event": "otoSessionRequested", "lead": "l"})["mode"] == "now"
    # A ringback body is left alone.
    plain = {"mode": "later", "phone": "777666555", "time": "10:00"}
    assert booking_fields(plain) == plain


def test_the_customer_object_fills_the_request() -> None:
    fields = booking_fields(
        {
            "seed": "",
            "contentId": "",
            "callCenters": [],
            "customer": {
                "name": "Petr",
                "phone": "905123456",
                "country": "Slovakia",
                "email": "",
                "extra": "",
                "dialCode": "+421",
                "date": "2026-03-04",
                "time": "14:00",
                "formatedDate": "04/03/2026 14:00",
                "simplyBookDate": "",
            },
        }
    )
    assert "country" not in fields  # not a code, and the dial code says where the number is
    request = CallbackRequest.model_validate(fields)
    assert (request.mode, request.date, request.time, request.dial_code) == (
        "scheduled",
        date(2026, 3, 4),
        time(14, 0),
        "+421",
    )
    assert (request.name, request.source) == ("Petr", "whisbi")
    only_formatted = booking_fields({"customer": {"phone": "1", "formatedDate": "04.03.2026 14:00"}})
    assert (only_formatted["date"], only_formatted["time"]) == ("2026-03-04", "14:00:00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "otoCallBooked", "phone": "777666555"}, "scheduledDate"),
        ({"event": "otoCallBooked", "phone": "777666555", "scheduledDate": "soon"}, "scheduledDate"),
        ({"event": "otoInvalidPhone", "phone": "777666555"}, "event"),
        ({"event": "otoCmbRequested", "phone": "777666555", "mode": "now"}, "mode"),
        ({"customer": {"phone": "777666555", "date": "2026-03-03"}}, "customer.time"),
        ({"event": "otoSessionRequested", "customer": "Jana"}, "customer"),
    ],
)
def test_callback_request_names_the_whisbi_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        CallbackRequest.model_validate(body)
    assert [".".join(str(p) for p in e["loc"]) for e in error.value.errors()] == [field]


def test_an_explicit_ringback_time_is_kept() -> None:
    at = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    request = CallbackRequest.model_validate(
        {
            "event": "otoCallBooked",
            "phone": "777666555",
            "scheduled_at": at.isoformat(),
            "scheduledDate": "x y",
        }
    )
    assert request.scheduled_at == at
