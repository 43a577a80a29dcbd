"""What website widgets post to ``POST /v1/events/widget`` (public, from visitors' browsers).

One body shape for three widget families, told apart by ``provider``:

* ``whisbi``: a Whisbi ``oto*`` event forwarded by the host page; ``event`` is Whisbi's event
  name and ``data`` what Whisbi's callback returned, under Whisbi's own names (``leadGuid``,
  ``kpiGuid``, ``sessionGuid``, ``dialCode``, ``scheduledDate``...).
* ``mluvii``: a mluvii app event (``setAppEventCallback``: ``type`` chatWindowOpen,
  chatWindowClosed, chatSessionCreated, chatSessionStarted, chatSessionEnded) or a button status
  change (``setStatusUpdateCallback``: ``type`` ``statusUpdate`` with ``code`` 0 offline,
  1 online, 2 busy).
* ``ringback``: ringback's own widget, which emits Whisbi's names (otoOpened,
  otoSessionRequested, otoCallBooked, otoCmbRequested, otoInvalidPhone, otoNoAgentsAvailable)
  with its session id, a unique ``event_id`` per emission and the request id once known.

The vendors' own bodies are accepted too, exactly as their JavaScript hands them over (a
Whisbi callback's argument, mluvii's ``setAppEventCallback`` event structure, mluvii's bare
status code): ``vendor_envelopes`` recognises the vendor (``?provider=`` or the body's shape)
and puts the body into this envelope, the vendor's fields kept under ``data``. Sources: Whisbi
*API Reference > Events > Sell: Start*; mluvii *Widget API* (``setAppEventCallback``,
``setStatusUpdateCallback``). The forwarding snippets are in docs/widget.md.

Personal data is not needed to count a funnel: phone numbers, names and e-mail addresses are
masked before the event is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from ringback.domain.errors import FieldProblem
from ringback.domain.events._types import EpochMsOrIso, HookStr, LooseInt
from ringback.domain.events.envelope import PHONE_KEYS
from ringback.domain.phones import mask_e164
from ringback.domain.whisbi import WHISBI_EVENTS, WHISBI_SIGNATURE, event_from_shape

MLUVII_APP_EVENTS: Final = frozenset(
    {
        "chatWindowOpen",
        "chatWindowClosed",
        "chatSessionCreated",
        "chatSessionStarted",
        "chatSessionEnded",
    }
)
MLUVII_STATUS_UPDATE: Final = "statusUpdate"
MLUVII_STATUS_CODES: Final = {0: "offline", 1: "online", 2: "busy"}
RINGBACK_EVENTS: Final = frozenset(
    {
        "otoOpened",
        "otoSessionRequested",
        "otoCallBooked",
        "otoCmbRequested",
        "otoInvalidPhone",
        "otoNoAgentsAvailable",
        "otoCallError",
    }
)
KNOWN_BY_PROVIDER: Final = {
    "whisbi": WHISBI_EVENTS,
    "mluvii": MLUVII_APP_EVENTS | {MLUVII_STATUS_UPDATE},
    "ringback": RINGBACK_EVENTS,
}

FunnelStage = Literal[
    "opened", "requested", "booked", "invalid_phone", "no_agents", "call_error", "connected"
]
FUNNEL_STAGES: Final[tuple[FunnelStage, ...]] = (
    "opened",
    "requested",
    "booked",
    "invalid_phone",
    "no_agents",
    "call_error",
    "connected",
)
FUNNEL_STAGE_OF: Final[dict[str, FunnelStage]] = {
    "otoOpened": "opened",
    "chatWindowOpen": "opened",
    "otoSessionRequested": "requested",
    "otoCmbRequested": "requested",
    "chatSessionCreated": "requested",
    "otoCallBooked": "booked",
    "otoInvalidPhone": "invalid_phone",
    "otoNoAgentsAvailable": "no_agents",
    "otoCallError": "call_error",
    "chatSessionStarted": "connected",
}
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


# A vendor's text field: numbers and booleans are taken as their text.
Text = HookStr


class WhisbiCustomer(BaseModel):
    """``customer`` of otoPreSessionRequest, under Whisbi's names."""

    model_config = ConfigDict(extra="allow")

    name: Text = Field(default="", max_length=200)
    phone: Text = Field(default="", max_length=64)
    country: Text = Field(default="", max_length=64)
    email: Text = Field(default="", max_length=254)
    extra: Text | dict[str, Any] = Field(default="")
    dialCode: Text = Field(default="", max_length=8)
    date: Text = Field(default="", max_length=64)
    time: Text = Field(default="", max_length=64)
    formatedDate: Text = Field(default="", max_length=64)
    simplyBookDate: Text = Field(default="", max_length=64)


class WhisbiData(BaseModel):
    """What Whisbi's event callbacks return (every documented field; others are kept)."""

    model_config = ConfigDict(extra="allow")

    lead: Text = Field(default="", max_length=128)
    leadGuid: Text = Field(default="", max_length=128)
    sessionGuid: Text = Field(default="", max_length=128)
    kpiGuid: Text = Field(default="", max_length=128)
    session: Text = Field(default="", max_length=128)
    cookie: Text = Field(default="", max_length=256)
    name: Text = Field(default="", max_length=200)
    phone: Text = Field(default="", max_length=64)
    formatted_phone: Text = Field(default="", max_length=64)
    email: Text = Field(default="", max_length=254)
    extra: Text | dict[str, Any] = Field(default="")
    country: Text = Field(default="", max_length=64)
    dialCode: Text = Field(default="", max_length=8)
    scheduledDate: Text = Field(default="", max_length=64)
    scheduledDateObj: Any = None
    pinCode: Text = Field(default="", max_length=32)
    seed: Text = Field(default="", max_length=256)
    contentId: Text = Field(default="", max_length=128)
    callCenters: list[Text] = Field(default_factory=list, max_length=50)
    customer: WhisbiCustomer | None = None


class WidgetEvent(BaseModel):
    """One widget event in ringback's envelope. ``event`` may also be sent as ``type``
    (mluvii's name for it). Raw vendor bodies are put into this form by ``vendor_envelopes``.

    ``data`` holds the vendor's own fields as sent (Whisbi: what the callback returned, checked
    against the document's field list; mluvii: the event structure's elements besides ``type``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True)

    provider: Literal["ringback", "whisbi", "mluvii"] = "ringback"
    event: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        validation_alias=AliasChoices("event", "type"),
    )
    event_id: str = Field(default="", pattern=r"^$|" + _ID)
    site_key: str = Field(default="", max_length=128)
    session_id: str = Field(default="", pattern=r"^$|" + _ID)
    request_id: str = Field(default="", pattern=r"^$|" + _ID)
    occurred_at: EpochMsOrIso = None
    page: str = Field(default="", max_length=2048)
    mode: Literal["", "now", "later", "scheduled"] = ""
    problem: str = Field(default="", max_length=64)
    code: LooseInt = None
    data: dict[str, Any] | None = None
    # How the body came: ``raw`` (the vendor's own payload) or ``envelope``. Only used to name
    # a bad vendor field as the sender knows it (``phone`` or ``data.phone``); never stored.
    form: Literal["envelope", "raw"] = Field(default="envelope", exclude=True)

    @property
    def known(self) -> bool:
        return self.event in KNOWN_BY_PROVIDER[self.provider]

    @property
    def funnel_stage(self) -> FunnelStage | None:
        return FUNNEL_STAGE_OF.get(self.event) if self.known else None

    @property
    def status_label(self) -> str:
        """mluvii's button status as a word (``statusUpdate`` only)."""
        return MLUVII_STATUS_CODES.get(self.code, "") if self.code is not None else ""

    def problems(self) -> list[FieldProblem]:
        found: list[FieldProblem] = []
        if self.provider == "ringback":
            if not self.event_id:
                found.append(FieldProblem("event_id", "ringback's widget sends a unique event_id"))
            if not self.session_id:
                found.append(FieldProblem("session_id", "ringback's widget sends its session_id"))
        if (
            self.provider == "mluvii"
            and self.event == MLUVII_STATUS_UPDATE
            and self.code not in MLUVII_STATUS_CODES
        ):
            found.append(FieldProblem("code", "must be 0 (offline), 1 (online) or 2 (busy)"))
        if self.provider == "ringback" and self.data is not None:
            found.append(FieldProblem("data", "only Whisbi and mluvii events carry data"))
        if self.data is not None and _depth(self.data) > MAX_DATA_DEPTH:
            found.append(FieldProblem("data", f"nested deeper than {MAX_DATA_DEPTH} levels"))
        elif self.provider == "whisbi" and self.data is not None:
            prefix = "" if self.form == "raw" else "data."
            try:
                WhisbiData.model_validate(self.data)
            except ValidationError as error:
                found.extend(
                    FieldProblem(prefix + ".".join(str(p) for p in e["loc"]), e["msg"])
                    for e in error.errors()
                )
        return found

    def identity_parts(self) -> dict[str, Any]:
        """The sender's event id when given (one per emission), else the whole body.

        The event type and time are part of it: a sender that reuses an id for another event
        must not have the second dropped as a redelivery of the first (which one survived
        would depend on arrival order); a true redelivery repeats both. Without an id, the
        whole event (the vendor's fields included, as sent) is the identity: a resend is the
        same body; see docs/events.md for why the forwarding snippets add an id and a time.
        """
        if self.event_id:
            return {
                "event": self.event,
                "occurred_at": self.occurred_at,
                "provider": self.provider,
                "site_key": self.site_key,
                "session_id": self.session_id,
                "event_id": self.event_id,
            }
        return self.model_dump(mode="json")

    def stored_payload(self) -> dict[str, Any]:
        """The body as stored: vendor names kept, personal data (phone numbers, names,
        e-mail addresses, wherever they are and whatever the vendor calls them) masked."""
        masked: dict[str, Any] = mask_personal(self.model_dump(mode="json", exclude_none=True))
        return masked


# ------------------------------------------------------------------------------ personal data

MAX_DATA_DEPTH: Final = 12
# A field whose name ends in "name" holds a person's name (customerName, operatorName, ...)
# unless it is one of these technical ones: privacy first for names nobody documented.
_TECHNICAL_NAMES: Final = frozenset(
    {
        "eventname",
        "pagename",
        "widgetname",
        "sitename",
        "companyname",
        "filename",
        "hostname",
        "queuename",
        "groupname",
        "presetname",
        "browsername",
        "osname",
        "devicename",
        "campaignname",
        "productname",
    }
)


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (iterative: a hostile body cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: list[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DATA_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest


def _kind(key: str) -> str:
    folded = key.lower().replace("_", "").replace("-", "")
    if key in PHONE_KEYS or "phone" in folded or folded in ("msisdn", "tel", "mobile", "cid"):
        return "phone"
    if "email" in folded or folded == "mail":
        return "email"
    if folded in ("surname", "nickname") or (folded.endswith("name") and folded not in _TECHNICAL_NAMES):
        return "name"
    return ""


def _mask_value(kind: str, value: Any) -> Any:
    if isinstance(value, bool) or value is None or value == "":
        return value
    text = str(value) if isinstance(value, (int, float)) else value
    if not isinstance(text, str):
        return value
    if kind == "phone":
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) < 7:
            return "***"
        if text.lstrip().startswith(("+", "00")):
            return mask_e164("+" + digits.removeprefix("00"))
        return "*" * (len(digits) - 2) + digits[-2:]  # a national number: no country to keep
    if kind == "email":
        local, at, domain = text.partition("@")
        return f"{local[:1]}***@{domain}" if at else "***"
    return f"{text[:1]}***"


def mask_personal(value: Any, kind: str = "") -> Any:
    """``value`` with every phone number, name and e-mail address masked, recursively, by the
    field's name (vendor names and look-alikes such as ``customerPhone``, ``e_mail``)."""
    if isinstance(value, Mapping):
        return {k: mask_personal(v, _kind(str(k)) or kind) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_personal(v, kind) for v in value]
    return _mask_value(kind, value) if kind else value


# ------------------------------------------------------------------------- raw vendor bodies

ENVELOPE_FIELDS: Final = frozenset(WidgetEvent.model_fields) - {"form"} | {"type"}
# The envelope fields taken out of a raw vendor body (the rest of it is the vendor's ``data``).
_LIFTED: Final[dict[str, frozenset[str]]] = {
    "whisbi": frozenset({"event", "event_id", "site_key", "session_id", "request_id", "occurred_at", "page"}),
    "mluvii": frozenset(
        {"event", "type", "event_id", "site_key", "session_id", "request_id", "occurred_at", "page", "code"}
    ),
}


@dataclass(frozen=True)
class VendorHints:
    """What a forwarder may say in the query string, beside the vendor's untouched body:
    ``?provider=whisbi&event=otoCallBooked&event_id=<one per emission>&occurred_at=<epoch ms>``."""

    provider: str = ""
    event: str = ""
    event_id: str = ""
    occurred_at: str = ""

    def __post_init__(self) -> None:
        for name in ("provider", "event", "event_id", "occurred_at"):
            object.__setattr__(self, name, getattr(self, name).strip())


def detect_provider(item: Mapping[str, Any], event: str = "") -> str:
    """Which widget a body without ``provider`` comes from, by its shape and the event name
    (the body's or ``?event=``); "" = ringback's own envelope, as before raw bodies were
    accepted."""
    name = item.get("event", item.get("type")) or event
    if "type" in item and "event" not in item:
        return "mluvii"  # mluvii's event structure names its type ``type``
    if isinstance(name, str) and (name in MLUVII_APP_EVENTS or name == MLUVII_STATUS_UPDATE):
        return "mluvii"
    if any(key in WHISBI_SIGNATURE for key in item):
        return "whisbi"
    if isinstance(name, str) and name in WHISBI_EVENTS and any(key not in ENVELOPE_FIELDS for key in item):
        return "whisbi"
    return ""


def _envelope(item: Mapping[str, Any], hints: VendorHints, event_id: str) -> Any:
    declared = item.get("provider")
    provider = declared if "provider" in item else (hints.provider or detect_provider(item, hints.event))
    if not isinstance(provider, str) or provider not in _LIFTED:
        if "provider" not in item and provider:
            return {**item, "provider": provider}  # ringback's envelope, or a provider we refuse
        return item
    lifted = _LIFTED[provider]
    envelope: dict[str, Any] = {"provider": provider, "form": "envelope" if "provider" in item else "raw"}
    data: dict[str, Any] = {}
    for key, value in item.items():
        if key == "provider":
            continue
        if key in lifted:
            envelope["event" if key == "type" else key] = value
        elif key == "data" and "provider" in item and isinstance(value, Mapping):
            data.update(value)
        else:
            data.setdefault(key, value)
    if "event" not in envelope:
        inferred = event_from_shape(data) if provider == "whisbi" else None
        if hints.event or inferred:
            envelope["event"] = hints.event or inferred
        elif provider == "mluvii" and "code" in envelope:
            envelope["event"] = MLUVII_STATUS_UPDATE
    if event_id and not envelope.get("event_id"):
        envelope["event_id"] = event_id
    if hints.occurred_at and not envelope.get("occurred_at"):
        envelope["occurred_at"] = hints.occurred_at
    if data:
        envelope["data"] = data
    return envelope


def vendor_envelopes(body: Any, hints: VendorHints) -> Any:
    """A widget body as posted (ringback's envelope, a Whisbi callback's object, a mluvii event
    structure, a mluvii status code, or an array of these) in ringback's envelope form.

    The provider is the body's ``provider``, else ``?provider=``, else the shape (``type``
    or a mluvii event name: mluvii; a field only Whisbi returns: Whisbi; a bare number: a
    mluvii status code). Anything that is not a vendor body is returned as it is, for the
    envelope's validation to name what is wrong.
    """
    if isinstance(body, list):
        return [
            _envelope(item, hints, f"{hints.event_id}:{index}" if hints.event_id else "")
            if isinstance(item, Mapping)
            else item
            for index, item in enumerate(body)
        ]
    bare_code = isinstance(body, int) and not isinstance(body, bool) and hints.provider in ("", "mluvii")
    if bare_code or (isinstance(body, str) and hints.provider == "mluvii"):
        # setStatusUpdateCallback hands over the bare code (0 offline, 1 online, 2 busy).
        return _envelope({"type": MLUVII_STATUS_UPDATE, "code": body}, hints, hints.event_id)
    if body is None and hints.provider and hints.event:
        body = {}  # an event whose callback returns nothing (otoOpened)
    if isinstance(body, Mapping):
        return _envelope(body, hints, hints.event_id)
    return body
