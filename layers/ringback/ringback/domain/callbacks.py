"""Website callback requests: what a widget or form sends, what ringback stores, what it answers.

Vendor field names are honoured as aliases so a Whisbi, mluvii or plain-form integration can
forward its payload unchanged: ``dialCode``, ``leadGuid``, ``kpiGuid``, ``sessionGuid``,
``pageUrl``, Turnstile's ``cf-turnstile-response``. Blank strings and nulls mean "not given"
(Whisbi sends ``''`` for every unset customer field).

Pure: pydantic and phonenumbers only, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ringback.domain.callback_policy import CallbackPolicy as CallbackPolicy  # noqa: PLC0414 - re-exported
from ringback.domain.callback_status import CallbackStatus
from ringback.domain.phones import InvalidPhone, parse_phone
from ringback.domain.whisbi import WhisbiFieldError, booking_fields

CallbackMode = Literal["now", "later", "scheduled"]
Delivery = Literal["queue", "direct"]

# Webitel dials higher priorities first. A ``now`` request is the most urgent thing on the
# queue; a booked slot comes next (a promise was made); ``later`` is "within business hours".
PRIORITY: Mapping[str, int] = {"now": 1000, "scheduled": 500, "later": 100}
# Every repeat for a number whose request is still open raises its priority by this much,
# up to PRIORITY_CAP (a repeat is often an escalation).
REPEAT_BOOST = 100
PRIORITY_CAP = 2000

MAX_NAME = 120
MAX_EXTRA_TEXT = 1000
MAX_EXTRA_KEYS = 20
MAX_EXTRA_KEY = 64
MAX_EXTRA_VALUE = 500
MAX_URL = 2048
MAX_UTM = 200

# Mode spellings of the widgets we meet, all mapped to ringback's three modes.
_MODE_ALIASES = {
    "now": "now",
    "call_me_now": "now",
    "callmenow": "now",
    "cmn": "now",
    "session": "now",
    "later": "later",
    "call_me_back": "later",
    "callmeback": "later",
    "cmb": "later",
    "callback": "later",
    "scheduled": "scheduled",
    "schedule": "scheduled",
    "booked": "scheduled",
    "booking": "scheduled",
}
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}$")
_EXTRA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_ID_TEXT = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CALLBACK_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

# The region national numbers are read in when the request names neither ``country`` nor
# ``dial_code``. The handler sets it from the deployment settings before validating a body
# (validation happens inside the HTTP framework, which cannot pass context itself).
DEFAULT_REGION: ContextVar[str] = ContextVar("ringback_default_region", default="CZ")


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value[:64]}' is not an IANA timezone like Europe/Prague") from None
    return value


def check_schedule_fields(value: datetime | None, info: ValidationInfo, *, mode: str) -> datetime | None:
    """scheduled_at, or date + time: exactly one way, and only for mode 'scheduled'."""
    has_parts = info.data.get("date") is not None or info.data.get("time") is not None
    if mode == "scheduled":
        if value is None and not has_parts:
            raise ValueError("required for mode 'scheduled' (or give date and time)")
        if value is not None and has_parts:
            raise ValueError("give scheduled_at or date + time, not both")
        if value is None and (info.data.get("date") is None or info.data.get("time") is None):
            raise ValueError("give both date and time (or scheduled_at)")
    elif value is not None or has_parts:
        raise ValueError("scheduled_at, date and time are only used with mode 'scheduled'")
    return value


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _whisbi_booking(data: Mapping[str, Any]) -> dict[str, Any]:
    """A Whisbi booking payload as this body's fields (see ``domain.whisbi.booking_fields``);
    a Whisbi field that cannot be used is a validation error under its own name."""
    try:
        return booking_fields(data)
    except WhisbiFieldError as error:
        detail = InitErrorDetails(
            type=PydanticCustomError("value_error", error.message),
            loc=tuple(error.field.split(".")),
            input=data.get(error.field.split(".")[0]),
        )
        raise ValidationError.from_exception_data("CallbackRequest", [detail]) from None


class CallbackRequest(BaseModel):
    """The body of ``POST /v1/callbacks``.

    Whisbi's otoSessionRequested / otoCmbRequested / otoCallBooked payloads (with ``event``
    naming the event) and otoPreSessionRequest's ``customer`` are read as they are: see
    ``ringback.domain.whisbi.booking_fields``.
    """

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_by_alias=True,
        defer_build=True,  # built on first use: the IVR routes never read a form (cold start)
    )

    mode: CallbackMode = Field(
        default="now", description="now | later | scheduled (also call_me_now, cmb, call_me_back, schedule)"
    )
    country: str | None = Field(default=None, description="ISO 3166 alpha-2 region of a national number")
    dial_code: str | None = Field(
        default=None,
        validation_alias=AliasChoices("dial_code", "dialCode"),
        description="Country calling code as Whisbi sends it, e.g. +420",
    )
    phone: str = Field(description="The number as typed: 777 666 555, +420 777 666 555, 00420...")
    name: str | None = Field(default=None, max_length=MAX_NAME)
    email: str | None = Field(default=None, max_length=254)
    language: str | None = Field(default=None, max_length=35)
    extra: str | dict[str, str] | None = Field(
        default=None,
        description=f"Free text (<= {MAX_EXTRA_TEXT} chars) or a flat map "
        f"(<= {MAX_EXTRA_KEYS} keys, values <= {MAX_EXTRA_VALUE} chars)",
    )
    consent: bool | None = None
    consent_text_version: str | None = Field(
        default=None, max_length=64, validation_alias=AliasChoices("consent_text_version", "consentVersion")
    )
    consent_text: str | None = Field(default=None, max_length=4000)
    date: dt.date | None = Field(default=None, description="With time: the wanted call date")
    time: dt.time | None = Field(default=None, description="With date: the wanted wall-clock time")
    timezone: str | None = Field(
        default=None,
        validation_alias=AliasChoices("timezone", "tz"),
        max_length=64,
        description="IANA zone of date + time (default: the contact centre's)",
    )
    scheduled_at: AwareDatetime | None = Field(
        default=None,
        validation_alias=AliasChoices("scheduled_at", "scheduledAt"),
        validate_default=True,
        description="ISO 8601 with offset; or give date + time (+ timezone)",
    )
    source: str = Field(
        default="web",
        validation_alias=AliasChoices("source", "provider"),
        description="Widget provider: whisbi, mluvii, web, ...",
    )
    page_url: str | None = Field(
        default=None, max_length=MAX_URL, validation_alias=AliasChoices("page_url", "pageUrl", "page")
    )
    referrer: str | None = Field(default=None, max_length=MAX_URL)
    utm_source: str | None = Field(default=None, max_length=MAX_UTM)
    utm_medium: str | None = Field(default=None, max_length=MAX_UTM)
    utm_campaign: str | None = Field(default=None, max_length=MAX_UTM)
    utm_term: str | None = Field(default=None, max_length=MAX_UTM)
    utm_content: str | None = Field(default=None, max_length=MAX_UTM)
    lead_guid: str | None = Field(
        default=None, validation_alias=AliasChoices("lead_guid", "leadGuid", "lead")
    )
    kpi_guid: str | None = Field(default=None, validation_alias=AliasChoices("kpi_guid", "kpiGuid"))
    session_guid: str | None = Field(
        default=None, validation_alias=AliasChoices("session_guid", "sessionGuid")
    )
    widget_id: str | None = Field(default=None, validation_alias=AliasChoices("widget_id", "widgetId"))
    website: str | None = Field(
        default=None,
        validation_alias=AliasChoices("website", "honeypot"),
        description="Honeypot: a hidden field that people leave empty",
    )
    captcha_token: str | None = Field(
        default=None,
        max_length=2048,
        validation_alias=AliasChoices("captcha_token", "cf-turnstile-response", "captchaToken"),
    )

    @model_validator(mode="before")
    @classmethod
    def _unset_blanks(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = _whisbi_booking(data)
            return {
                k: v
                for k, v in data.items()
                if k in ("phone", "website", "honeypot") or _blank_to_none(v) is not None
            }
        return data

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            mapped = _MODE_ALIASES.get(value.strip().lower().replace("-", "_").replace(" ", "_"))
            if mapped is None:
                raise ValueError("mode must be one of now, later, scheduled")
            return mapped
        return value

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        if isinstance(value, str):
            code = value.strip().upper()
            if code not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"'{value[:8]}' is not an ISO 3166 alpha-2 country code we know")
            return code
        return value

    @field_validator("dial_code")
    @classmethod
    def _dial_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = re.sub(r"^(\+|00)", "", value.replace(" ", ""))
        if not (
            digits.isdigit() and len(digits) <= 3 and int(digits) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        ):
            raise ValueError("not a country calling code like +420")
        return "+" + digits

    @field_validator("phone", mode="before")
    @classmethod
    def _phone_is_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if value is None:
            raise ValueError("a phone number is required")
        return value

    @field_validator("phone")
    @classmethod
    def _phone_valid(cls, value: str, info: ValidationInfo) -> str:
        if len(value) > 64:
            raise ValueError("the phone number is too long")
        region = info.data.get("country") or DEFAULT_REGION.get()
        try:
            parse_phone(value, region, dial_code=info.data.get("dial_code"))
        except InvalidPhone as error:
            raise ValueError(error.message) from None
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 for c in value):
            raise ValueError("the name must not contain control characters")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError("not a valid e-mail address")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.fullmatch(value):
            raise ValueError("not a language tag like en or cs-CZ")
        return value

    @field_validator("extra", mode="before")
    @classmethod
    def _extra(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            if isinstance(value, str) and len(value) > MAX_EXTRA_TEXT:
                raise ValueError(f"extra text is longer than {MAX_EXTRA_TEXT} characters")
            return value
        if isinstance(value, Mapping):
            if len(value) > MAX_EXTRA_KEYS:
                raise ValueError(f"extra has more than {MAX_EXTRA_KEYS} keys")
            flat: dict[str, str] = {}
            for key, item in value.items():
                if not isinstance(key, str) or not _EXTRA_KEY.fullmatch(key):
                    raise ValueError("extra keys must be 1-64 letters, digits, '_', '.' or '-'")
                if isinstance(item, bool):
                    text = "true" if item else "false"
                elif isinstance(item, (int, float, str)):
                    text = str(item)
                elif item is None:
                    continue
                else:
                    raise ValueError(f"extra.{key} must be text, a number or a boolean (a flat map)")
                if len(text) > MAX_EXTRA_VALUE:
                    raise ValueError(f"extra.{key} is longer than {MAX_EXTRA_VALUE} characters")
                flat[key] = text
            return flat
        raise ValueError("extra must be text or a flat map of text values")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if not _SOURCE.fullmatch(value):
                raise ValueError("source must be a short provider name like whisbi, mluvii or web")
        return value

    @field_validator("page_url", "referrer")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value, re.I):
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("lead_guid", "kpi_guid", "session_guid", "widget_id")
    @classmethod
    def _provider_id(cls, value: str | None) -> str | None:
        if value is not None and not _ID_TEXT.fullmatch(value):
            raise ValueError("must be 1-128 letters, digits or - _ . :")
        return value

    @field_validator("scheduled_at")
    @classmethod
    def _schedule_fields(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return check_schedule_fields(value, info, mode=info.data.get("mode", "now"))

    @property
    def honeypot_filled(self) -> bool:
        return bool(self.website and self.website.strip())

    @property
    def utm(self) -> dict[str, str]:
        pairs = {
            "utm_source": self.utm_source,
            "utm_medium": self.utm_medium,
            "utm_campaign": self.utm_campaign,
            "utm_term": self.utm_term,
            "utm_content": self.utm_content,
        }
        return {k: v for k, v in pairs.items() if v}

    @property
    def schedule_field(self) -> str:
        """The field a schedule problem is reported on (the one the client sent)."""
        return "scheduled_at" if self.scheduled_at is not None else "time"


class RescheduleRequest(BaseModel):
    """The body of ``POST /v1/callbacks/{id}/reschedule``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True, defer_build=True
    )

    date: dt.date | None = None
    time: dt.time | None = None
    timezone: str | None = Field(default=None, validation_alias=AliasChoices("timezone", "tz"), max_length=64)
    scheduled_at: AwareDatetime | None = Field(
        default=None, validation_alias=AliasChoices("scheduled_at", "scheduledAt"), validate_default=True
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("scheduled_at")
    @classmethod
    def _one_way(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return check_schedule_fields(value, info, mode="scheduled")

    @property
    def schedule_field(self) -> str:
        return "scheduled_at" if self.scheduled_at is not None else "time"


class EraseRequest(BaseModel):
    """The body of ``POST /v1/callbacks/erasure`` (agent-desktop bearer token)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    phone: str = Field(min_length=1, max_length=64)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class CallbackRecord(BaseModel):
    """A stored request (CallbacksTable ``pk = CB#<id>``, ``sk = REQUEST``).

    ``status`` and ``status_at`` are advanced by the event fan-out too (``may_advance``).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: CallbackStatus = CallbackStatus.RECEIVED
    status_at: int = 0
    created_at: datetime
    mode: CallbackMode
    phone: str
    phone_region: str
    phone_kind: str
    name: str | None = None
    email: str | None = None
    language: str | None = None
    extra: str | dict[str, str] | None = None
    source: str = "web"
    page_url: str | None = None
    referrer: str | None = None
    utm: dict[str, str] = Field(default_factory=dict)
    lead_guid: str | None = None
    kpi_guid: str | None = None
    session_guid: str | None = None
    widget_id: str | None = None
    priority: int = 0
    due_at: datetime
    expected_call_at: datetime
    expected_call_by: datetime
    next_opening: bool = False
    slot_start: datetime | None = None
    queue_id: str
    delivery: Delivery = "queue"
    outbox_entry_id: str
    reschedule_count: int = 0
    repeat_count: int = 0
    last_repeat_at: datetime | None = None
    call_id: str | None = None
    client_ip_hash: str | None = None
    consent_given: bool | None = None
    webitel_stop_pending: bool = False
    # The visitor's submit (a hash of its Idempotency-Key and body): a retry of the same submit
    # after a crash gets this request's answer again instead of becoming a repeat of it.
    submit_key: str | None = None
    cancelled_at: datetime | None = None
    expires_at: int = 0
    # IVR callbacks: when the caller joined the inbound queue (their place in line; the member's
    # ``min_offering_at``, see ``domain.ivr``) and the call that asked (idempotency per call).
    queued_since: datetime | None = None
    ivr_call_id: str | None = None

    @property
    def is_open(self) -> bool:
        from ringback.domain.callback_status import OPEN

        return self.status in OPEN


class RepeatRecord(BaseModel):
    """A repeat request for a number with an open one, kept under the first request's partition."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    primary_id: str
    created_at: datetime
    mode: CallbackMode
    source: str
    page_url: str | None = None
    utm: dict[str, str] = Field(default_factory=dict)
    lead_guid: str | None = None
    kpi_guid: str | None = None
    client_ip_hash: str | None = None
    expires_at: int = 0


class SelfServiceLinks(BaseModel):
    model_config = ConfigDict(defer_build=True)

    token: str
    expires_at: datetime
    manage_url: str
    cancel: dict[str, str]
    reschedule: dict[str, str]


class CallbackAccepted(BaseModel):
    """The 202 answer of ``POST /v1/callbacks`` (also what an idempotent retry gets back)."""

    model_config = ConfigDict(defer_build=True)

    id: str
    status: CallbackStatus
    mode: CallbackMode
    created_at: datetime
    expected_call_at: datetime = Field(description="Earliest time we expect to call")
    expected_call_by: datetime = Field(description="Latest time we expect to call")
    timezone: str = Field(description="The contact centre's timezone")
    scheduled_for_next_opening: bool = Field(
        description="true when asked out of hours: the call comes when we open"
    )
    repeat: bool = Field(
        description="true when this number already had an open request; "
        "the answer is that request (now with a higher priority)"
    )
    repeat_count: int = 0
    message: str
    links: dict[str, str]
    self_service: SelfServiceLinks | None = Field(
        default=None, description="Signed cancel/reschedule link; left out for a repeat from another visitor"
    )


class CallbackView(BaseModel):
    """``GET /v1/callbacks/{id}``: no personal data beyond a masked number."""

    model_config = ConfigDict(defer_build=True)

    id: str
    status: CallbackStatus
    status_at: datetime | None = None
    mode: CallbackMode
    created_at: datetime
    expected_call_at: datetime
    expected_call_by: datetime
    phone_masked: str
    repeat_count: int = 0
    cancellable: bool
    reschedulable: bool


class CancelResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: str
    status: CallbackStatus
    webitel: Literal["not_uploaded", "stopped", "stop_pending", "not_applicable"]
    message: str


class ErasureReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    phone_masked: str
    requests: int
    items_deleted: int
    webitel_members_deleted: int
    outbox_entries_cancelled: int
    problems: list[str] = Field(default_factory=list)
    # What is left to delete in Webitel (retried by the dialer schedule, and by running the
    # erasure again); ``complete`` once nothing is left, locally or in Webitel.
    pending: list[str] = Field(default_factory=list)
    complete: bool = True


def member_variables(record: CallbackRecord, entry_id: str) -> dict[str, str]:
    """What the agent sees in Webitel: why and where the customer asked. All strings."""
    from ringback.domain.outbox import CALLBACK_TAG, ID_TAG

    variables: dict[str, str] = {
        ID_TAG: entry_id,
        CALLBACK_TAG: record.id,
        "callback_mode": record.mode,
        "callback_source": record.source,
        "callback_created_at": record.created_at.isoformat(),
    }
    optional = {
        "customer_name": record.name,
        "customer_email": record.email,
        "customer_language": record.language,
        "page_url": record.page_url,
        "referrer": record.referrer,
        "lead_guid": record.lead_guid,
        "kpi_guid": record.kpi_guid,
        "session_guid": record.session_guid,
        "widget_id": record.widget_id,
        "scheduled_at": record.slot_start.isoformat() if record.slot_start else None,
        "repeat_count": str(record.repeat_count) if record.repeat_count else None,
    }
    variables.update({k: v for k, v in optional.items() if v})
    variables.update(record.utm)
    if isinstance(record.extra, str):
        variables["extra"] = record.extra
    elif isinstance(record.extra, dict):
        variables.update({f"extra_{k}": v for k, v in record.extra.items()})
    return variables


def local_schedule(
    value: datetime | None,
    day: dt.date | None,
    clock_time: dt.time | None,
    zone_name: str | None,
    default_zone: str,
) -> datetime:
    """The requested call time as an aware datetime (``scheduled_at``, or date + time in a zone).

    Raises ``ValueError`` for a wall-clock time that does not exist in that zone (DST gap).
    """
    if value is not None:
        return value
    if day is None or clock_time is None:
        raise ValueError("date and time are required")
    zone = ZoneInfo(zone_name or default_zone)
    local = datetime.combine(day, clock_time.replace(tzinfo=None), tzinfo=zone)
    if datetime.fromtimestamp(local.timestamp(), zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValueError(f"{day} {clock_time:%H:%M} does not exist in {zone.key} (clock change)")
    return local
