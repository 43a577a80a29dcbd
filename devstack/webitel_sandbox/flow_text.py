"""How flow_manager puts ``${variables}`` into an ``httpRequest``'s url, headers and body.

Shared by the sandbox's knobs that act as Webitel flows (the queue and team hooks, the simulated
caller), so that both send the bytes flow_manager would: ``model/variables.go`` (the pattern),
``model.ParseText`` (plain, or with ``ParseOptionJson`` for a JSON body), ``model/json.go``
``JsonString`` (the escaping) and ``flow/http.go`` (an object body is marshalled first).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

VARIABLE: Final = re.compile(r"\$\{([\s\S]*?)\}")  # model/variables.go


def substitute_text(text: str, variables: Mapping[str, str]) -> str:
    """model.ParseText without options: the value as it is, unset = empty."""
    return VARIABLE.sub(lambda m: variables.get(m.group(1), ""), text)


_SHORT_ESCAPES: Final = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_string(value: str) -> str:
    """flow_manager model/json.go ``JsonString(nil, value, true)``, as ParseText escapes a value
    for a JSON body. Not Go's encoder: a backslash is copied as it is, and so is a quote that
    follows one (so a value can carry its own escapes); ``<``, ``>``, ``&`` and control
    characters become ``\\u00XX``, U+2028/U+2029 ``\\u202X``; other characters stay as they are."""
    out: list[str] = []
    previous = ""
    for char in value:
        if char == "\\":
            out.append(char)
        elif char == '"':
            out.append(char if previous == "\\" else '\\"')
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20 or char in "<>&":
            out.append(f"\\u00{ord(char):02x}")
        elif char in "\u2028\u2029":
            out.append(f"\\u202{ord(char) & 0xF:x}")
        else:
            out.append(char)
        previous = char
    return "".join(out)


def substitute_json(text: str, variables: Mapping[str, str]) -> str:
    """model.ParseText with ParseOptionJson: each set value JSON-escaped, unset = empty."""
    return VARIABLE.sub(lambda m: json_string(variables.get(m.group(1), "")), text)


def go_json(value: Any) -> str:
    """encoding/json Marshal of a decoded JSON value: map keys sorted, compact, HTML escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
