"""Field types shared by the source models: text as vendors send it, times as epoch ms."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

MAX_TEXT = 1024
_DIGITS = re.compile(r"^\d{1,19}$")
_INT = re.compile(r"^-?\d{1,18}$")
# Epoch ms below this (1973-03-03) are almost surely seconds or garbage: refuse, never guess.
_MIN_MS = 100_000_000_000
_MAX_MS = 9_999_999_999_999


def _text(value: Any) -> str:
    """Hook variables are strings; numbers and booleans are accepted and kept as their text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    return value.strip()


def _epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds from a string of digits (Webitel) or a number; empty/0 = unset."""
    if value is None or (not isinstance(value, bool) and value in ("", 0, "0")):
        return None
    if isinstance(value, bool):
        raise ValueError("must be epoch milliseconds")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not _DIGITS.match(text):
            raise ValueError('must be epoch milliseconds as digits, e.g. "1767225600000"')
        value = int(text)
    if not isinstance(value, int):
        raise ValueError("must be epoch milliseconds")
    if value < _MIN_MS or value > _MAX_MS:
        raise ValueError("must be epoch milliseconds (this looks like seconds or is out of range)")
    return value


def _epoch_ms_or_iso(value: Any) -> int | None:
    """Epoch ms, or an ISO 8601 time with an offset (browsers send either)."""
    if isinstance(value, str) and not _DIGITS.match(value.strip()) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as error:
            raise ValueError("must be epoch milliseconds or ISO 8601 with an offset") from error
        if moment.tzinfo is None:
            raise ValueError("must be epoch milliseconds or ISO 8601 with an offset")
        return _epoch_ms(int(moment.timestamp() * 1000))
    return _epoch_ms(value)


def _optional_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip())
    raise ValueError("must be a whole number (as a string or a number)")


HookStr = Annotated[str, BeforeValidator(_text)]
"""A Webitel hook variable: always text, empty string = unset."""
EpochMs = Annotated[int | None, BeforeValidator(_epoch_ms)]
EpochMsOrIso = Annotated[int | None, BeforeValidator(_epoch_ms_or_iso)]
LooseInt = Annotated[int | None, BeforeValidator(_optional_int)]
