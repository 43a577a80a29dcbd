"""What an operator changes without redeploying: hours, holidays, queues, modes, limits.

Stored as JSON in one SSM parameter (template.yaml's OperatorConfigParameter) and validated
on every load; a bad edit is refused loudly instead of half-applied.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ringback.domain.callback_policy import CallbackPolicy

_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")
# "24:00", the end of the day, is held as this time (a ``time`` cannot be 24:00); every reader
# treats it as "open until midnight" (``OpeningRange.until_midnight``), never as 23:59:59.
END_OF_DAY = time(23, 59, 59)
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OpeningRange(BaseModel):
    model_config = ConfigDict(frozen=True)

    opens: time
    closes: time

    @property
    def until_midnight(self) -> bool:
        return self.closes == END_OF_DAY


def format_clock(moment: time) -> str:
    """HH:MM, with the end of the day as 24:00."""
    return "24:00" if moment == END_OF_DAY else f"{moment:%H:%M}"


def parse_range(text: str) -> OpeningRange:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"'{text}' is not an opening range like 08:00-18:00")
    h1, m1 = int(match[1]), int(match[2])
    closes = END_OF_DAY if match[5] else time(int(match[3]), int(match[4]))
    if closes <= time(h1, m1):
        raise ValueError(f"'{text}' closes before it opens")
    return OpeningRange(opens=time(h1, m1), closes=closes)


class InboundQueues(BaseModel):
    """The inbound queue of each branch of the routing flow; empty = ``inbound_queue_id``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    found: str = Field(default="", pattern=r"^(\d+)?$")
    debt: str = Field(default="", pattern=r"^(\d+)?$")
    unknown: str = Field(default="", pattern=r"^(\d+)?$")


RoutingBranch = Literal["found", "debt", "unknown"]


class IvrCallbackPolicy(BaseModel):
    """Callbacks offered from the Webitel IVR while callers wait (docs/ivr-callbacks.md).

    The routing answer offers one (``offer_callback``) when ``enabled``, the inbound queue's
    estimated wait exceeds ``offer_after_s``, the centre is in hours and fewer than ``max_open``
    members wait in the callback queue. ``say`` overrides the texts the flow says, per language
    and key (``accepted``, ``linked``, ``closed``, ``no_capacity``, ``degraded``, ``disabled``,
    ``cancelled``, ``none_open``, and the flow's prompts the routing answer carries: ``offer``,
    ``pending``, ``kept``; ``{minutes}`` is replaced by the number, ``{minutes_text}`` by the number
    and the word, "3 minuty"), falling back to ``default_language``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    offer_after_s: int = Field(default=120, ge=0, le=86400)
    callback_queue_id: str = Field(default="", pattern=r"^(\d+)?$")  # empty: callback_queue_id
    max_open: int = Field(default=50, ge=0, le=100000)
    default_language: str = Field(default="cs", pattern=r"^[a-z]{2,3}$")
    say: dict[str, dict[str, str]] = Field(default_factory=dict)


class OperatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Europe/Prague"
    business_hours: dict[Weekday, list[str]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    callback_queue_id: str = Field(default="1", pattern=r"^\d+$")
    debtor_queue_id: str = Field(default="2", pattern=r"^\d+$")
    # Webitel lets an inbound call join only an inbound queue (type 1): the routing flow's
    # joinQueue targets these, never the dialer queues above (docs/webitel-contract.md).
    inbound_queue_id: str = Field(default="3", pattern=r"^\d+$")
    inbound_queues: InboundQueues = Field(default_factory=InboundQueues)
    communication_type_id: str = Field(default="1", pattern=r"^[1-9]\d*$")
    callback_mode: Literal["queue", "direct"] = "queue"
    direct_from_extension: str = ""
    slot_minutes: int = Field(default=30, ge=5, le=240)
    slot_capacity: int = Field(default=2, ge=1, le=1000)
    booking_horizon_days: int = Field(default=14, ge=1, le=365)
    allowed_countries: list[str] = Field(default_factory=list)
    site_keys: list[str] = Field(default_factory=list)
    status_cache_seconds: int = Field(default=10, ge=1, le=3600)
    # Website callback requests: consent, booking and abuse-protection knobs (docs/callbacks.md).
    callbacks: CallbackPolicy = Field(default_factory=CallbackPolicy)
    # Callbacks offered from the IVR while callers wait (docs/ivr-callbacks.md).
    ivr_callback: IvrCallbackPolicy = Field(default_factory=IvrCallbackPolicy)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA timezone '{value}'") from error
        return value

    @field_validator("business_hours")
    @classmethod
    def _valid_ranges(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        for ranges in value.values():
            for text in ranges:
                parse_range(text)
        return value

    @field_validator("allowed_countries")
    @classmethod
    def _alpha2(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"'{code}' is not an ISO 3166 alpha-2 code")
        return value

    @model_validator(mode="after")
    def _inbound_is_not_a_dialer_queue(self) -> OperatorConfig:
        dialer = {self.callback_queue_id, self.debtor_queue_id, self.ivr_callback_queue_id}
        for branch, queue_id in self.inbound_queue_by_branch().items():
            if queue_id in dialer:
                raise ValueError(
                    f"inbound queue of '{branch}' is {queue_id}, a dialer queue: an inbound call "
                    "can join only an inbound queue"
                )
        return self

    @property
    def ivr_callback_queue_id(self) -> str:
        """The dialer queue IVR callbacks go to (the callback queue unless configured)."""
        return self.ivr_callback.callback_queue_id or self.callback_queue_id

    def inbound_queue_by_branch(self) -> dict[RoutingBranch, str]:
        """The queue the routing flow's joinQueue uses on each branch."""
        chosen = self.inbound_queues
        return {
            "found": chosen.found or self.inbound_queue_id,
            "debt": chosen.debt or self.inbound_queue_id,
            "unknown": chosen.unknown or self.inbound_queue_id,
        }

    @property
    def inbound_queue_ids(self) -> frozenset[str]:
        """Every inbound queue of the routing flow: a call event in one of them is inbound."""
        return frozenset(self.inbound_queue_by_branch().values())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def opening_ranges(self, weekday: Weekday) -> list[OpeningRange]:
        return [parse_range(text) for text in self.business_hours.get(weekday, [])]
