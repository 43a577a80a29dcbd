"""What ringback answers when a Webitel flow asks "who is calling?".

The answer is one flat JSON object so that Webitel's ``httpRequest`` can pick every field with
a one-word gjson path in ``exportVariables`` (``found``, ``debt``, ``segment``...). Webitel turns
every exported value into a string (``true`` -> ``"true"``, ``null`` or a missing key -> ``""``),
so every key is always present, booleans are JSON booleans and numbers that a flow passes on
(``priority``) are never null.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from ringback.domain import strict_json
from ringback.domain.customers import DirectoryEntry
from ringback.domain.ivr import OfferSnapshot


class NotFoundReason(StrEnum):
    """Why ``found`` is false."""

    UNKNOWN_NUMBER = "unknown_number"  # a valid number that is not in the customer directory
    INVALID_NUMBER = "invalid_number"  # text that is not a valid phone number
    NO_CID = "no_cid"  # empty, or withheld by the caller (anonymous, private...)
    DEGRADED = "degraded"  # ringback could not look the number up in time: a safe default


class AnswerSource(StrEnum):
    """Where the answer came from."""

    LIVE = "live"  # read from the directory for this request
    CACHE = "cache"  # a recent answer kept in memory (bounded staleness, see RoutingPolicy)
    FALLBACK = "fallback"  # the configured default, because the lookup failed or was late


@dataclass(frozen=True, slots=True)
class RoutingAnswer:
    """The routing answer (see docs/routing.md for the contract of every field)."""

    found: bool
    debt: bool
    reason: str | None
    source: str
    number: str | None = None  # the caller's number in E.164, when it is one
    country: str | None = None  # ISO 3166 region of the number (CZ, SK...)
    customer_id: str | None = None
    name: str | None = None
    segment: str | None = None
    priority: int = 0
    agent_extension: str | None = None
    bucket_id: str | None = None  # Webitel int64 ids travel as strings
    language: str | None = None
    debt_amount: str | None = None  # decimal as text ("1250.00"): no float rounding
    debt_currency: str | None = None
    debt_as_of: str | None = None  # YYYY-MM-DD
    pending_callback: bool = False
    callback_id: str | None = None
    callback_status: str | None = None
    # IVR callbacks (docs/ivr-callbacks.md): the inbound queue's estimated wait (seconds, as a
    # string), whether to offer a callback, and the queue the estimate is for.
    estimated_wait_s: str | None = None
    offer_callback: bool = False
    wait_queue_id: str | None = None
    # The flow's prompts in the caller's language (docs/ivr-callbacks.md): the offer, with the
    # wait in minutes (with ``offer_callback``); to a caller with an open request, the keep-or-
    # cancel question and what is said when they keep it (with ``pending_callback``).
    offer_say: str | None = None
    pending_say: str | None = None
    kept_say: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    def with_source(self, source: AnswerSource) -> RoutingAnswer:
        return replace(self, source=source.value)


# Field names of the answer, in order (docs and tests check the contract against this).
ANSWER_FIELDS: tuple[str, ...] = tuple(RoutingAnswer.__dataclass_fields__)


def not_found(
    reason: NotFoundReason,
    *,
    number: str | None = None,
    country: str | None = None,
    source: AnswerSource = AnswerSource.LIVE,
) -> RoutingAnswer:
    return RoutingAnswer(
        found=False, debt=False, reason=reason.value, source=source.value, number=number, country=country
    )


def fallback_answer(
    *, found: bool = False, debt: bool = False, number: str | None = None, country: str | None = None
) -> RoutingAnswer:
    """The answer given when ringback cannot answer from data in time.

    ``found``/``debt`` are the operator's fail-open defaults (both false unless configured);
    ``reason`` is always ``degraded`` so a flow can tell it from a real answer.
    """
    return RoutingAnswer(
        found=found,
        debt=debt,
        reason=NotFoundReason.DEGRADED.value,
        source=AnswerSource.FALLBACK.value,
        number=number,
        country=country,
    )


@dataclass(frozen=True, slots=True)
class OpenCallback:
    """A website callback request that is still open for the caller's number.

    ``status`` is None when the source only knows that the request is open (the number's
    open-request pointer in CallbacksTable names the request, not its status).
    """

    callback_id: str
    status: str | None = None


@dataclass(frozen=True, slots=True)
class CallerRecord:
    """What one read of the data stores says about a number.

    ``callback_read`` is False when the open-callback part could not be read (then ``callback``
    is None and means "unknown", not "none"); a failed directory read is an exception instead.
    """

    entry: DirectoryEntry | None
    callback: OpenCallback | None = None
    callback_read: bool = True
    offer: OfferSnapshot | None = None  # the IVR offer snapshot read with it (None: none or unread)


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"anyOf": [{"type": kind, **extra}, {"type": "null"}]}


# JSON Schema of the answer (the OpenAPI document and the tests use it).
ANSWER_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(ANSWER_FIELDS),
    "properties": {
        "found": {"type": "boolean"},
        "debt": {"type": "boolean"},
        "reason": _nullable("string", enum=[r.value for r in NotFoundReason]),
        "source": {"type": "string", "enum": [s.value for s in AnswerSource]},
        "number": _nullable("string", pattern=r"^\+[1-9]\d{6,15}$"),
        "country": _nullable("string"),
        "customer_id": _nullable("string"),
        "name": _nullable("string"),
        "segment": _nullable("string"),
        "priority": {"type": "integer"},
        "agent_extension": _nullable("string"),
        "bucket_id": _nullable("string", pattern=r"^\d+$"),
        "language": _nullable("string"),
        "debt_amount": _nullable("string"),
        "debt_currency": _nullable("string"),
        "debt_as_of": _nullable("string", format="date"),
        "pending_callback": {"type": "boolean"},
        "callback_id": _nullable("string"),
        "callback_status": _nullable("string"),
        "estimated_wait_s": _nullable("string", pattern=r"^\d+$"),
        "offer_callback": {"type": "boolean"},
        "wait_queue_id": _nullable("string", pattern=r"^\d+$"),
        "offer_say": _nullable("string"),
        "pending_say": _nullable("string"),
        "kept_say": _nullable("string"),
    },
}


def cid_from_body(raw: str | None, is_base64: bool) -> str | None:
    """The cid of a POST body: JSON ``{"cid": ...}`` or a form; anything else is no cid."""
    if not raw:
        return None
    try:
        data = base64.b64decode(raw) if is_base64 else str(raw).encode()
        text = data.decode("utf-8", errors="replace").strip()
        if text.startswith("{"):
            value = strict_json.loads(text).get("cid")
        else:
            value = parse_qs(text).get("cid", [""])[0] or None
    except (ValueError, AttributeError, TypeError, RecursionError):  # JsonRefused is a ValueError
        return None
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, (str, int)) else None
