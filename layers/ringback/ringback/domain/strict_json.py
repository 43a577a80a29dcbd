"""Strict JSON reading for request bodies: what ``json.loads`` accepts but a service must not.

``json.loads`` takes ``NaN``/``Infinity`` (not JSON; they would reach Webitel as "nan"/"inf"),
``1e400`` (a float overflowing to infinity), integers of thousands of digits (``int()`` of 4,300+
digits raises ``ValueError``, smaller ones cost quadratic time), documents nested deep enough to
exhaust the interpreter's stack (``RecursionError``) and duplicate keys (the last one silently
wins, so two readers of the same body may disagree). :func:`loads` refuses each of them with a
:class:`JsonRefused` naming the problem. The nesting depth is measured before parsing, so a deep
document never reaches a recursive parser.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Far above any body ringback reads (Webitel hooks and widget events nest 2-4 levels).
MAX_DEPTH = 32
# Webitel ids are int64 (19 digits); a phone number sent as a JSON number has at most 15.
MAX_INT_DIGITS = 20
# Enough for any float literal a client means (17 significant digits, sign, exponent).
MAX_FLOAT_CHARS = 40

# A JSON string literal (escapes included); removed before counting brackets.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# An escaped UTF-16 surrogate without its pair: Python keeps it, but it is no character, and
# encoding it (hashing, logging, storing) raises.
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class JsonRefused(ValueError):
    """The body is not acceptable JSON: ``status`` 400 (not JSON) or 422 (JSON past a limit)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings ignored)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _constant(name: str) -> Any:
    raise JsonRefused(400, "malformed_json", f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused(422, "number_too_large", f"a number has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_FLOAT_CHARS:
        raise JsonRefused(422, "number_too_large", f"a number is longer than {MAX_FLOAT_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(422, "number_too_large", f"the number {text} is out of range")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonRefused(400, "duplicate_key", f"the key {key[:40]!r} appears twice in one object")
        result[key] = value
    return result


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text`` as strict JSON, or raise :class:`JsonRefused` naming what is wrong."""
    if "\\u" in text and _LONE_SURROGATE.search(text):
        raise JsonRefused(400, "malformed_json", "a string holds an unpaired UTF-16 surrogate escape")
    if nesting_depth(text) > max_depth:
        raise JsonRefused(422, "too_deep", f"the body nests arrays/objects deeper than {max_depth} levels")
    try:
        return json.loads(
            text, parse_constant=_constant, parse_int=_int, parse_float=_float, object_pairs_hook=_object
        )
    except JsonRefused:
        raise
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise JsonRefused(400, "malformed_json", "the request body is not valid JSON") from error
