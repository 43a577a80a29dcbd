"""A hand-made corpus of hostile request bodies, each with the answer the body gate must give.

Shared by the gate's unit tests (tests/unit/test_body_gate.py) and the run against every real
handler (tests/integration/test_hostile_inputs.py). ``status`` None: the gate lets the body
through (the route answers it, never with a 5xx).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Hostile:
    id: str
    body: str
    content_type: str | None = "application/json"
    status: int | None = None  # the gate's answer; None = passed on to the route
    code: str | None = None
    base64: bool = False


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


DEEP = 1000
CORPUS: tuple[Hostile, ...] = (
    Hostile("deep-arrays", "[" * DEEP + "]" * DEEP, status=422, code="too_deep"),
    Hostile("deep-objects", '{"a":' * DEEP + "1" + "}" * DEEP, status=422, code="too_deep"),
    Hostile("deep-in-field", '{"phone": "777666555", "extra": ' + "[" * 40 + "]" * 40 + "}", status=422),
    Hostile("deep-unclosed", "[" * 5000, status=422, code="too_deep"),
    Hostile("int-4301-digits", '{"phone": ' + "7" * 4301 + "}", status=422, code="number_too_large"),
    Hostile("int-25-digits", '{"cid": ' + "4" * 25 + "}", status=422, code="number_too_large"),
    Hostile("negative-int-huge", '{"count": -' + "9" * 30 + "}", status=422, code="number_too_large"),
    Hostile("float-1e400", '{"phone": 1e400}', status=422, code="number_too_large"),
    Hostile("float-minus-1e400", '{"timestamp": -1e400}', status=422, code="number_too_large"),
    Hostile("float-long", '{"x": 0.' + "1" * 200 + "}", status=422, code="number_too_large"),
    Hostile("nan", '{"phone": NaN}', status=400, code="malformed_json"),
    Hostile("infinity", '{"phone": Infinity}', status=400, code="malformed_json"),
    Hostile("minus-infinity", '[{"timestamp": -Infinity}]', status=400, code="malformed_json"),
    Hostile(
        "duplicate-key", '{"phone": "777666555", "phone": "+43900123456"}', status=400, code="duplicate_key"
    ),
    Hostile("duplicate-nested", '{"utm": {"a": 1, "a": 2}}', status=400, code="duplicate_key"),
    Hostile("lone-surrogate", '{"name": "\\ud800"}', status=400, code="malformed_json"),
    Hostile("lone-low-surrogate", '{"name": "x\\udc00"}', status=400, code="malformed_json"),
    Hostile("raw-surrogate", '{"name": "\ud800"}', status=400, code="malformed_body"),
    Hostile("truncated", '{"phone": "7776', status=400, code="malformed_json"),
    Hostile("bom", '\ufeff{"phone": "777666555"}', status=400, code="malformed_json"),
    Hostile("trailing-garbage", '{"phone": "777666555"} x', status=400, code="malformed_json"),
    Hostile("not-utf8", _b64(b'{"name": "\xff\xfe"}'), status=400, code="malformed_body", base64=True),
    Hostile("bad-base64", "!!not base64!!", status=400, code="malformed_body", base64=True),
    Hostile("multipart-no-boundary", "--x\r\n\r\nphone\r\n--x--", "multipart/form-data", 415),
    Hostile(
        "multipart",
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--',
        "multipart/form-data; boundary=x",
        415,
    ),
    Hostile("form", "phone=777666555&cid=1", "application/x-www-form-urlencoded", 415),
    Hostile("text-plain", '{"phone": "777666555"}', "text/plain", 415, "unsupported_media_type"),
    Hostile("xml", "<a/>", "application/xml", 415),
    Hostile("oversize", '{"pad": "' + "p" * 300_000 + '"}', status=413, code="payload_too_large"),
    # Accepted by the gate: the route answers (2xx or 4xx, never 5xx).
    Hostile("upper-case-type", '{"phone": "777666555"}', "APPLICATION/JSON"),
    Hostile("charset-param", '{"phone": "777666555"}', "Application/Json; Charset=UTF-8"),
    Hostile("plus-json", '{"phone": "777666555"}', "application/vnd.ringback+json"),
    Hostile("no-content-type", '{"phone": "777666555"}', None),
    Hostile("null", "null"),
    Hostile("scalar", '"just text"'),
    Hostile("empty-object", "{}"),
    Hostile("nested-31", '{"extra": ' + "[" * 30 + "]" * 30 + "}"),
    Hostile("int-20-digits", '{"cid": ' + "4" * 20 + "}"),
    Hostile("nul-char", '{"name": "a\\u0000b", "phone": "777666555"}'),
    Hostile("pair-surrogate", '{"name": "\\ud83d\\ude00"}'),
    Hostile("brackets-in-strings", '{"name": "' + "[" * 500 + '"}'),
    Hostile("base64-json", _b64(b'{"phone": "777666555"}'), base64=True),
)
