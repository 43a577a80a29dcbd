"""Signed, expiring self-service links and keyed hashes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringback.domain.consent import keyed_hash
from ringback.domain.errors import Forbidden
from ringback.domain.selfservice import KeyRing, sign, verify
from tests.unit.callbacks_fakes import at

pytestmark = pytest.mark.unit

NOW = at("2026-11-18T10:00:00+00:00")
RING = KeyRing(current="a" * 64, accepted=["a" * 64])


def test_round_trip_and_expiry() -> None:
    token = sign(RING.current, "cb-1234567890abcdef", NOW + timedelta(hours=1))
    assert verify(RING, token, "cb-1234567890abcdef", NOW) == NOW + timedelta(hours=1)
    with pytest.raises(Forbidden, match="expired"):
        verify(RING, token, "cb-1234567890abcdef", NOW + timedelta(hours=2))
    with pytest.raises(Forbidden, match="invalid"):
        verify(RING, token, "cb-other-000000000", NOW)
    with pytest.raises(Forbidden, match="required"):
        verify(RING, None, "cb-1234567890abcdef", NOW)


def test_rotation_accepts_every_key_of_the_secret() -> None:
    old = sign("old" * 20, "cb-1234567890abcdef", NOW + timedelta(hours=1))
    assert verify(
        KeyRing(current="new" * 20, accepted=["new" * 20, "old" * 20]), old, "cb-1234567890abcdef", NOW
    )
    with pytest.raises(Forbidden):
        verify(KeyRing(current="new" * 20, accepted=["new" * 20]), old, "cb-1234567890abcdef", NOW)


def test_extending_the_expiry_breaks_the_signature() -> None:
    token = sign(RING.current, "cb-1234567890abcdef", NOW + timedelta(hours=1))
    expires, _, signature = token.partition(".")
    forged = f"{int(expires) + 86400}.{signature}"
    with pytest.raises(Forbidden, match="invalid"):
        verify(RING, forged, "cb-1234567890abcdef", NOW)


@given(st.text(max_size=120))
def test_garbage_tokens_are_refused_never_crash(token: str) -> None:
    with pytest.raises(Forbidden):
        verify(RING, token, "cb-1234567890abcdef", NOW)


def test_keyed_hash_is_stable_per_purpose_and_hides_the_value() -> None:
    a = keyed_hash("k" * 40, "198.51.100.7", purpose="ip")
    assert a == keyed_hash("k" * 40, "198.51.100.7", purpose="ip")
    assert a != keyed_hash("k" * 40, "198.51.100.7", purpose="phone")
    assert a != keyed_hash("j" * 40, "198.51.100.7", purpose="ip")
    assert "198" not in a and len(a) == 32


@pytest.mark.parametrize(
    "digits",
    [
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),  # Arabic-Indic
        str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"),  # extended Arabic-Indic
        str.maketrans("0123456789", "０１２３４５６７８９"),  # fullwidth
    ],
)
def test_an_expiry_rewritten_in_other_digits_does_not_verify(digits: dict[int, str]) -> None:
    """``int()`` reads other scripts' digits as the same number, so the signature would match."""
    token = sign(RING.current, "cb-1234567890abcdef", NOW + timedelta(hours=1))
    expires, _, signature = token.partition(".")
    rewritten = f"{expires.translate(digits)}.{signature}"
    assert rewritten != token and int(expires.translate(digits)) == int(expires)
    with pytest.raises(Forbidden, match="invalid"):
        verify(RING, rewritten, "cb-1234567890abcdef", NOW)
    for bad in (f" {expires}.{signature}", f"+{expires}.{signature}", f"{expires}_0.{signature}"):
        with pytest.raises(Forbidden, match="invalid"):
            verify(RING, bad, "cb-1234567890abcdef", NOW)
