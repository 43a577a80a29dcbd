from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringback.domain.phones import InvalidPhone, NumberKind, PhoneProblem, mask_e164, parse_phone, phone_hash

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw",
    [
        "+420777666555",
        "420777666555",
        "00420777666555",
        "777666555",
        "777 666 555",
        "+420 777-666-555",
        "(+420) 777.666.555",
        " 777666555 ",
    ],
)
def test_every_way_a_czech_mobile_arrives_normalises_to_e164(raw: str) -> None:
    number = parse_phone(raw, "CZ")
    assert number.e164 == "+420777666555"
    assert number.region == "CZ"
    assert number.kind is NumberKind.MOBILE


def test_dial_code_is_applied_to_national_input_like_whisbi_sends_it() -> None:
    assert parse_phone("0903 123 456", "CZ", dial_code="+421").e164 == "+421903123456"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", PhoneProblem.EMPTY),
        (None, PhoneProblem.EMPTY),
        ("anonymous", PhoneProblem.ANONYMOUS),
        ("Unknown", PhoneProblem.ANONYMOUS),
        ("hello", PhoneProblem.NOT_A_NUMBER),
        ("12", PhoneProblem.INVALID),
        ("+420 123", PhoneProblem.INVALID),
        ("777'; DROP TABLE", PhoneProblem.NOT_A_NUMBER),
    ],
)
def test_non_numbers_are_refused_with_the_reason(raw: str | None, problem: PhoneProblem) -> None:
    with pytest.raises(InvalidPhone) as caught:
        parse_phone(raw, "CZ")
    assert caught.value.problem is problem


def test_national_invalid_number_names_the_region() -> None:
    with pytest.raises(InvalidPhone, match="not a valid number for CZ"):
        parse_phone("123 45", "CZ")


def test_premium_rate_numbers_are_refused_when_asked() -> None:
    assert parse_phone("+420900123456", "CZ").kind is NumberKind.PREMIUM_RATE
    with pytest.raises(InvalidPhone) as caught:
        parse_phone("+420900123456", "CZ", reject_costly=True)
    assert caught.value.problem is PhoneProblem.COSTLY


def test_masking_and_hashing_hide_the_subscriber() -> None:
    assert mask_e164("+420777666555") == "+420*******55"
    assert "777666" not in mask_e164("+420777666555")
    assert phone_hash("+420777666555") == phone_hash("+420777666555")
    assert phone_hash("+420777666555") != phone_hash("+420777666556")


@given(st.text(max_size=40))
def test_any_text_either_parses_to_valid_e164_or_is_refused_cleanly(raw: str) -> None:
    try:
        number = parse_phone(raw, "CZ")
    except InvalidPhone as error:
        assert error.message
    else:
        assert number.e164.startswith("+")
        assert number.e164[1:].isdigit()
        assert parse_phone(number.e164, "CZ") == number
