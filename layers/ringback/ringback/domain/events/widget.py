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

Phone numbers are not needed to count a funnel: they are masked before the event is stored.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ringback.domain.errors import FieldProblem
from ringback.domain.events._types import EpochMsOrIso, LooseInt
from ringback.domain.events.envelope import mask_phone_fields

WHISBI_EVENTS: Final = frozenset(
    {
        "otoOpened",
        "otoPreSessionRequest",
        "otoSessionRequested",
        "otoInboundClicked",
        "otoInboundToWhisbiLoaded",
        "otoCallBooked",
        "otoCmbRequested",
        "otoPinCodeGenerated",
        "otoInvalidPhone",
        "otoCallError",
        "otoNoAgentsAvailable",
    }
)
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


class WhisbiCustomer(BaseModel):
    """``customer`` of otoPreSessionRequest, under Whisbi's names."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=64)
    country: str = Field(default="", max_length=64)
    email: str = Field(default="", max_length=254)
    extra: str = Field(default="", max_length=2000)
    dialCode: str = Field(default="", max_length=8)
    date: str = Field(default="", max_length=64)
    time: str = Field(default="", max_length=64)
    formatedDate: str = Field(default="", max_length=64)
    simplyBookDate: str = Field(default="", max_length=64)


class WhisbiData(BaseModel):
    """What Whisbi's event callbacks return (every documented field; others are kept)."""

    model_config = ConfigDict(extra="allow")

    lead: str = Field(default="", max_length=128)
    leadGuid: str = Field(default="", max_length=128)
    sessionGuid: str = Field(default="", max_length=128)
    kpiGuid: str = Field(default="", max_length=128)
    session: str = Field(default="", max_length=128)
    cookie: str = Field(default="", max_length=256)
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=64)
    formatted_phone: str = Field(default="", max_length=64)
    email: str = Field(default="", max_length=254)
    extra: str | dict[str, Any] = Field(default="")
    country: str = Field(default="", max_length=64)
    dialCode: str = Field(default="", max_length=8)
    scheduledDate: str = Field(default="", max_length=64)
    scheduledDateObj: Any = None
    pinCode: str = Field(default="", max_length=32)
    seed: str = Field(default="", max_length=256)
    contentId: str = Field(default="", max_length=128)
    callCenters: list[str] = Field(default_factory=list, max_length=50)
    customer: WhisbiCustomer | None = None


class WidgetEvent(BaseModel):
    """One widget event. ``event`` may also be sent as ``type`` (mluvii's name for it)."""

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
    data: WhisbiData | None = None

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
        if self.provider != "whisbi" and self.data is not None:
            found.append(FieldProblem("data", "only Whisbi events carry data"))
        return found

    def identity_parts(self) -> dict[str, Any]:
        """The sender's event id when given (one per emission), else the whole body.

        The event type and time are part of it: a sender that reuses an id for another event
        must not have the second dropped as a redelivery of the first (which one survived
        would depend on arrival order); a true redelivery repeats both.
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
        """The body as stored: vendor names kept, phone numbers masked."""
        masked: dict[str, Any] = mask_phone_fields(self.model_dump(mode="json", exclude_none=True))
        return masked
