"""Phone numbers: parse what people and switches type into E.164, and keep them out of logs.

``phonenumbers`` does the parsing (it knows every region's numbering plan); this module only
decides what ringback accepts: a *valid* number (``is_possible_number`` accepts ``12`` in some
regions), optionally of an allowed type, with the reason when it is not.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from ringback.domain.number_kinds import NumberKind

_JUNK = re.compile(r"[\s\-./()\u00a0]")
_INTERNATIONAL_PREFIX = re.compile(r"^00(?=[1-9])")
# Callers whose number the switch withholds arrive as one of these, not as digits.
_ANONYMOUS = frozenset({"anonymous", "unknown", "private", "restricted", "unavailable", "withheld"})


class PhoneProblem(StrEnum):
    EMPTY = "empty"
    ANONYMOUS = "anonymous"
    NOT_A_NUMBER = "not_a_number"
    INVALID = "invalid"
    COSTLY = "costly"


_KIND_BY_TYPE = {
    PhoneNumberType.MOBILE: NumberKind.MOBILE,
    PhoneNumberType.FIXED_LINE: NumberKind.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED_OR_MOBILE,
    PhoneNumberType.VOIP: NumberKind.VOIP,
    PhoneNumberType.TOLL_FREE: NumberKind.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberKind.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: NumberKind.SHARED_COST,
    PhoneNumberType.PERSONAL_NUMBER: NumberKind.PERSONAL,
    PhoneNumberType.PAGER: NumberKind.PAGER,
    PhoneNumberType.UAN: NumberKind.UAN,
    PhoneNumberType.VOICEMAIL: NumberKind.VOICEMAIL,
}

# Calling these costs the company money or feeds toll fraud: never dial them on a stranger's word.
COSTLY_KINDS = frozenset(
    {NumberKind.PREMIUM_RATE, NumberKind.SHARED_COST, NumberKind.PERSONAL, NumberKind.PAGER, NumberKind.UAN}
)


@dataclass(frozen=True)
class PhoneNumber:
    """A valid number in E.164 with the facts ringback routes on."""

    e164: str
    region: str
    kind: NumberKind

    @property
    def masked(self) -> str:
        return mask_e164(self.e164)


class InvalidPhone(ValueError):
    """Why a text is not a number ringback can use; ``message`` is for the person who typed it."""

    def __init__(self, problem: PhoneProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def clean_dial_string(raw: str) -> str:
    """Drop separators and turn the ``00`` international prefix into ``+``."""
    return _INTERNATIONAL_PREFIX.sub("+", _JUNK.sub("", raw.strip()))


def parse_phone(
    raw: str | None, default_region: str, *, dial_code: str | None = None, reject_costly: bool = False
) -> PhoneNumber:
    """Parse ``raw`` as typed (``+420 777 666 555``, ``00420...``, ``777666555``) into E.164.

    ``default_region`` reads national numbers; ``dial_code`` (Whisbi's ``dialCode``, e.g.
    ``+420``) is prefixed when the text has no international prefix. Digits-only text that
    already starts with a country code (``420777666555``, as switches send it) is tried as
    international when it is not valid as national.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone(PhoneProblem.EMPTY, "a phone number is required")
    if text.lower() in _ANONYMOUS:
        raise InvalidPhone(PhoneProblem.ANONYMOUS, "the number is withheld")
    cleaned = clean_dial_string(text)
    if dial_code and not cleaned.startswith("+"):
        code = clean_dial_string(dial_code).lstrip("+")
        if code.isdigit():
            cleaned = f"+{code}{cleaned.lstrip('0')}"
    if not re.fullmatch(r"\+?\d{2,17}", cleaned):
        raise InvalidPhone(PhoneProblem.NOT_A_NUMBER, "not a phone number")
    candidates = [cleaned]
    if not cleaned.startswith("+"):
        candidates.append("+" + cleaned)
    for candidate in candidates:
        number = _valid_or_none(candidate, default_region)
        if number is not None:
            if reject_costly and number.kind in COSTLY_KINDS:
                raise InvalidPhone(PhoneProblem.COSTLY, "this kind of number cannot be called back")
            return number
    raise InvalidPhone(
        PhoneProblem.INVALID,
        f"not a valid number for {default_region}"
        if not cleaned.startswith("+")
        else "not a valid phone number",
    )


def _valid_or_none(candidate: str, default_region: str) -> PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(candidate, None if candidate.startswith("+") else default_region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    kind = _KIND_BY_TYPE.get(phonenumbers.number_type(parsed), NumberKind.UNKNOWN)
    region = phonenumbers.region_code_for_number(parsed) or default_region
    return PhoneNumber(phonenumbers.format_number(parsed, PhoneNumberFormat.E164), region, kind)


def mask_e164(e164: str) -> str:
    """``+420777666555`` -> ``+420*******55``: country visible, subscriber hidden."""
    if len(e164) <= 6:
        return "***"
    return e164[:4] + "*" * (len(e164) - 6) + e164[-2:]


def phone_hash(e164: str, salt: str = "") -> str:
    """A stable pseudonym for joining records without storing the number in logs."""
    return hashlib.sha256(f"{salt}:{e164}".encode()).hexdigest()[:16]
