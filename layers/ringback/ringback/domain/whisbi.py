"""Whisbi's ``oto*`` events, under Whisbi's own names, and a booking as a callback request.

Source: Whisbi's developer documentation, *API Reference > Events > Sell: Start* (each event
is a callback function; its "Returns" line lists what the function receives). Nothing here is
guessed from elsewhere: the event names and every field list below are that document's.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Final

import phonenumbers

# What each event's callback returns ("Returns:" in the document); otoOpened returns nothing.
WHISBI_RETURNS: Final[dict[str, tuple[str, ...]]] = {
    "otoOpened": (),
    "otoPreSessionRequest": ("seed", "contentId", "callCenters", "customer"),
    "otoSessionRequested": ("lead", "name", "phone", "email", "extra", "kpiGuid"),
    "otoInboundClicked": ("phone",),
    "otoInboundToWhisbiLoaded": ("formatted_phone", "phone"),
    "otoCallBooked": (
        "leadGuid",
        "sessionGuid",
        "kpiGuid",
        "country",
        "extra",
        "name",
        "phone",
        "scheduledDate",
        "scheduledDateObj",
    ),
    "otoCmbRequested": ("lead", "name", "phone", "email", "extra"),
    "otoPinCodeGenerated": ("pinCode",),
    "otoInvalidPhone": ("session", "cookie", "name", "phone", "email", "extra", "kpiGuid"),
    "otoCallError": ("session", "cookie", "name", "phone", "email", "extra", "kpiGuid"),
    "otoNoAgentsAvailable": ("session", "cookie", "name", "phone", "email", "extra", "kpiGuid"),
}
# otoPreSessionRequest's ``customer`` object.
WHISBI_CUSTOMER_FIELDS: Final[tuple[str, ...]] = (
    "name",
    "phone",
    "country",
    "email",
    "extra",
    "dialCode",
    "date",
    "time",
    "formatedDate",
    "simplyBookDate",
)
WHISBI_EVENTS: Final = frozenset(WHISBI_RETURNS)
WHISBI_FIELDS: Final = frozenset(f for fields in WHISBI_RETURNS.values() for f in fields) | {"dialCode"}
# Fields only Whisbi's payloads carry (the shared ones, name/phone/email/extra/country, are not a
# sign of Whisbi by themselves).
WHISBI_SIGNATURE: Final = WHISBI_FIELDS - {"name", "phone", "email", "extra", "country"}

# A field that only one event returns names that event (used when the forwarder did not).
_ONLY_IN: Final[tuple[tuple[str, str], ...]] = (
    ("scheduledDateObj", "otoCallBooked"),
    ("scheduledDate", "otoCallBooked"),
    ("pinCode", "otoPinCodeGenerated"),
    ("formatted_phone", "otoInboundToWhisbiLoaded"),
    ("customer", "otoPreSessionRequest"),
    ("seed", "otoPreSessionRequest"),
    ("contentId", "otoPreSessionRequest"),
    ("callCenters", "otoPreSessionRequest"),
)

# The three requests and ringback's callback modes: "call me now" session, "call me back",
# a booked ("scheduled") call.
BOOKING_MODES: Final[dict[str, str]] = {
    "otoSessionRequested": "now",
    "otoCmbRequested": "later",
    "otoCallBooked": "scheduled",
}


def event_from_shape(payload: Mapping[str, Any]) -> str | None:
    """The Whisbi event a payload can only come from, by a field only that event returns."""
    for key, event in _ONLY_IN:
        if payload.get(key) not in (None, "", [], {}):
            return event
    return None


class WhisbiFieldError(ValueError):
    """A Whisbi field that cannot be read; ``field`` is its name as Whisbi sends it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


_DATE_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)
_DMY = re.compile(
    r"^(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{4})[ ,T]+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)$"
)
_EPOCH_MS = re.compile(r"^\d{12,14}$")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _parse_clock(text: str) -> time:
    hours, minutes, *rest = text.split(":")
    seconds = int(float(rest[0])) if rest else 0
    return time(int(hours), int(minutes), seconds)


def read_moment(value: Any, field: str) -> dict[str, Any]:
    """A Whisbi date-time as CallbackRequest fields: ``scheduled_at`` (it has an offset) or
    ``date`` + ``time`` (a wall-clock time, read in the request's ``timezone``).

    Accepted (the document gives no format): ISO 8601 with or without an offset (what
    ``JSON.stringify`` makes of a JavaScript ``Date``: ``2026-03-03T09:30:00.000Z``),
    ``YYYY-MM-DD HH:MM``, ``DD.MM.YYYY HH:MM`` / ``DD/MM/YYYY HH:MM``, epoch milliseconds,
    and an object with ``date`` and ``time``.
    """
    if isinstance(value, Mapping):
        day, clock = value.get("date"), value.get("time")
        if isinstance(day, str) and isinstance(clock, str) and day.strip() and clock.strip():
            return read_moment(f"{day.strip()} {clock.strip()}", field)
        raise WhisbiFieldError(field, "an object here needs 'date' (YYYY-MM-DD) and 'time' (HH:MM)")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _text(value)
    try:
        if _EPOCH_MS.match(text):
            return {"scheduled_at": datetime.fromtimestamp(int(text) / 1000, UTC).isoformat()}
        match = _DATE_TIME.match(text)
        if match:
            if match["offset"]:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
                return {"scheduled_at": moment.isoformat()}
            return {
                "date": date.fromisoformat(match["date"]).isoformat(),
                "time": _parse_clock(match["time"]).isoformat(),
            }
        match = _DMY.match(text)
        if match:
            day = date(int(match["y"]), int(match["m"]), int(match["d"]))
            return {"date": day.isoformat(), "time": _parse_clock(match["time"]).isoformat()}
    except (ValueError, OverflowError, OSError):
        pass
    raise WhisbiFieldError(
        field,
        "not a date and time we can read (ISO 8601 like 2026-03-03T10:30:00+01:00, or 2026-03-03 10:30)",
    )


def _date_and_time(customer: Mapping[str, Any]) -> dict[str, Any] | None:
    day, clock = _text(customer.get("date")), _text(customer.get("time"))
    if not day and not clock:
        return None
    if not day or not clock:
        missing = "customer.date" if not day else "customer.time"
        raise WhisbiFieldError(missing, "give both the customer's date and time")
    return read_moment(f"{day} {clock}", "customer.date")


def _booked_moment(body: Mapping[str, Any], customer: Any) -> dict[str, Any] | None:
    """The booked time from the first Whisbi date field given (None: no date at all)."""
    for name in ("scheduledDateObj", "scheduledDate"):
        if body.get(name) not in (None, "", {}):
            return read_moment(body[name], name)
    if not isinstance(customer, Mapping):
        return None
    moment = _date_and_time(customer)
    for name in ("simplyBookDate", "formatedDate"):
        if moment is None and _text(customer.get(name)):
            moment = read_moment(customer[name], f"customer.{name}")
    return moment


def booking_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Whisbi payload (one of the three requests, or otoPreSessionRequest's ``customer``) as
    the fields of ``POST /v1/callbacks``; other bodies are returned unchanged.

    * the mode comes from the event name (``event``): otoSessionRequested ``now``,
      otoCmbRequested ``later``, otoCallBooked ``scheduled``; without one, a payload with a
      booked date is ``scheduled``;
    * ``customer`` fields fill what the top level does not give;
    * the booked time, first of: ``scheduledDateObj``, ``scheduledDate``, the customer's
      ``date`` + ``time``, ``simplyBookDate``, ``formatedDate`` (the first one given is used);
    * ``source`` is ``whisbi`` unless the body names one.

    Raises ``WhisbiFieldError`` naming the Whisbi field that cannot be used.
    """
    event = body.get("event")
    customer = body.get("customer")
    whisbi_event = isinstance(event, str) and event.startswith("oto")
    if not whisbi_event and not isinstance(customer, Mapping) and "scheduledDateObj" not in body:
        return dict(body)
    if customer is not None and not isinstance(customer, Mapping):
        raise WhisbiFieldError("customer", "must be an object (Whisbi's customer)")
    fields: dict[str, Any] = {
        k: v for k, v in body.items() if k not in ("event", "customer", "scheduledDate", "scheduledDateObj")
    }
    for key, value in (customer or {}).items():
        if key in ("date", "time", "formatedDate", "simplyBookDate"):
            continue
        if fields.get(key) in (None, ""):
            fields[key] = value
    fields.setdefault("source", "whisbi")
    for key in ("lead", "leadGuid", "kpiGuid", "sessionGuid"):
        if isinstance(fields.get(key), int) and not isinstance(fields.get(key), bool):
            fields[key] = str(fields[key])
    country = fields.get("country")
    if (
        isinstance(country, str)
        and country.strip().upper() not in phonenumbers.SUPPORTED_REGIONS
        and _text(fields.get("dialCode") or fields.get("dial_code"))
    ):
        # The dial code says where the number is; a country we cannot read must not refuse it.
        del fields["country"]
    # ringback's own time fields, when the forwarder added them, win over Whisbi's.
    explicit = any(fields.get(k) not in (None, "") for k in ("scheduled_at", "scheduledAt", "date", "time"))
    moment = None if explicit else _booked_moment(body, customer)
    if whisbi_event:
        assert isinstance(event, str)
        mode = BOOKING_MODES.get(event)
        if mode is None and event != "otoPreSessionRequest":
            raise WhisbiFieldError(
                "event",
                f"{event[:40]} is not a callback request (otoSessionRequested, otoCmbRequested or "
                "otoCallBooked); post it to /v1/events/widget",
            )
        given = fields.get("mode")
        if mode is not None and given in ("now", "later", "scheduled") and given != mode:
            raise WhisbiFieldError("mode", f"{event} is a '{mode}' request")
        if mode is not None:
            fields["mode"] = mode
        if mode == "scheduled" and moment is None and not explicit:
            raise WhisbiFieldError(
                "scheduledDate", "otoCallBooked needs its scheduledDate or scheduledDateObj"
            )
    if moment is not None and fields.get("mode") in (None, "", "scheduled"):
        fields["mode"] = "scheduled"
        fields.update(moment)
    return fields
