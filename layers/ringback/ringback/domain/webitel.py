"""Wire models and errors of the Webitel engine REST API, as ringback uses it.

Pure: pydantic only, no I/O. Field names are Webitel's snake_case on purpose, so a model
dumps to exactly the JSON the engine expects. Facts encoded here (from Webitel's engine
source, newer than its 2020 Swagger document):

- int64 values (ids, ``expire_at``, ``min_offering_at``, lookup ids) travel as JSON strings;
  the server accepts numbers too, so readers accept both and writers always emit strings.
- Times are epoch milliseconds.
- A member has 1..20 communications; ``type.id`` is required and >= 1; ``variables`` map
  strings to strings; ``bucket`` and ``skill`` are mutually exclusive; ``name`` <= 250 chars.
- The bulk upload is one transaction and has no idempotency key.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from ringback.domain.webitel_counts import QueueAgentCounts, _ReadModel

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "MAX_COMMUNICATIONS",
    "MAX_EPOCH_MS",
    "MAX_FILE_NAME_LENGTH",
    "MAX_MEMBER_NAME_LENGTH",
    "Agent",
    "AgentStatus",
    "BulkMembersRequest",
    "BulkMembersResponse",
    "CallEndpoint",
    "CallParams",
    "CreateCallRequest",
    "CreateCallResponse",
    "Int64",
    "Lookup",
    "MemberCommunication",
    "MemberCommunicationInQueue",
    "MemberInQueue",
    "MemberItem",
    "MemberPage",
    "QueueAgentCounts",
    "QueueReportPage",
    "QueueReportRow",
    "WebitelAuthError",
    "WebitelContractError",
    "WebitelError",
    "WebitelErrorBody",
    "WebitelQueueNotVisible",
    "WebitelRejected",
    "WebitelUnavailable",
    "epoch_ms",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT64_TEXT = re.compile(r"-?[0-9]{1,19}")

MAX_MEMBER_NAME_LENGTH = 250
MAX_FILE_NAME_LENGTH = 120
MAX_COMMUNICATIONS = 20


def _int64_as_text(value: object) -> object:
    """Normalise an int64 read as a JSON number or string to its decimal string form."""
    # bool is an int subclass; True is never a valid id. ValueError (not TypeError) because
    # that is what pydantic turns into a validation error.
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INT64_TEXT.fullmatch(value):
        number = int(value)
    else:
        raise ValueError("int64 must be a decimal string or an integer")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError("int64 out of range")
    return str(number)


Int64 = Annotated[str, BeforeValidator(_int64_as_text)]
"""An int64 on the Webitel wire: read from a string or number, always held and sent as a string."""

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]


# The latest epoch-ms time Webitel's engine can hold: it converts ms to int64 nanoseconds
# (webitel/engine, model/call.go ``Int64ToTime``: ``time.Unix(0, i*int64(time.Millisecond))``),
# so anything past 2262-04-11T23:47:16.854Z overflows. 0 means "unset" there.
MAX_EPOCH_MS = (2**63 - 1) // 1_000_000


def epoch_ms(moment: datetime) -> str:
    """Webitel's time format: epoch milliseconds as an int64 string. ``moment`` must be aware
    and inside what the engine can hold (1970 .. 2262: ``MAX_EPOCH_MS``)."""
    if moment.tzinfo is None:
        raise ValueError("epoch_ms needs a timezone-aware datetime")
    value = int(moment.timestamp() * 1000)
    if not 0 < value <= MAX_EPOCH_MS:
        raise ValueError(f"{moment.isoformat()} is outside the epoch-ms times Webitel can hold")
    return str(value)


class _WireModel(BaseModel):
    """Something ringback sends: unknown attributes are a programming error."""

    # defer_build: a model's validator is built on its first use, not at import (a cold start
    # reads a few of these models; the pinned pydantic rebuilds under a lock, so threads are safe).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    def to_wire(self) -> dict[str, Any]:
        """The exact JSON object for the request body (unset optional fields omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Lookup(BaseModel):
    """A reference to another Webitel object. The server only reads ``id``; ``name`` is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    id: Int64

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id}


# ---------------------------------------------------------------------------------------------
# Dialer members (what ringback sends)


class MemberCommunication(_WireModel):
    """One way to reach a member (a phone number for ringback)."""

    destination: str = Field(min_length=1)
    # Per-installation communication type (configuration); ids start at 1.
    type: Lookup
    priority: Int32 = 0
    description: str = ""
    display: str | None = None
    resource: Lookup | None = None
    stop_at: Int64 | None = None
    dtmf: str | None = None

    @model_validator(mode="after")
    def _type_id_is_positive(self) -> Self:
        if int(self.type.id) < 1:
            raise ValueError("communication type.id must be >= 1")
        return self


class MemberItem(_WireModel):
    """One member of a dialer queue, as created by the bulk or single-create endpoints."""

    name: str = Field(default="", max_length=MAX_MEMBER_NAME_LENGTH)
    priority: Int32 = 0
    expire_at: Int64 | None = None
    min_offering_at: Int64 | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    timezone: Lookup | None = None
    bucket: Lookup | None = None
    agent: Lookup | None = None
    skill: Lookup | None = None
    communications: list[MemberCommunication] = Field(min_length=1, max_length=MAX_COMMUNICATIONS)

    @model_validator(mode="after")
    def _bucket_excludes_skill(self) -> Self:
        # The engine rejects a member routed both by bucket and by skill.
        if self.bucket is not None and self.skill is not None:
            raise ValueError("a member must not have both bucket and skill")
        return self


class BulkMembersRequest(_WireModel):
    """Body of ``POST /call_center/queues/{queue_id}/members/bulk`` (one transaction)."""

    items: list[MemberItem] = Field(min_length=1)
    # Recorded by Webitel as the import id; useful to find an upload in the UI.
    file_name: str = Field(max_length=MAX_FILE_NAME_LENGTH)


class BulkMembersResponse(_ReadModel):
    ids: list[Int64] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Dialer members (what ringback reads)


class MemberCommunicationInQueue(_ReadModel):
    id: Int64 | None = None
    destination: str = ""
    type: Lookup | None = None
    priority: int = 0
    description: str = ""
    display: str = ""
    resource: Lookup | None = None
    state: int = 0
    attempts: int = 0
    last_cause: str = ""
    last_activity_at: Int64 | None = None
    stop_at: Int64 | None = None
    dtmf: str = ""


class MemberInQueue(_ReadModel):
    id: Int64
    queue: Lookup | None = None
    name: str = ""
    priority: int = 0
    variables: dict[str, str] = Field(default_factory=dict)
    communications: list[MemberCommunicationInQueue] = Field(default_factory=list)
    # Empty while the member is still being dialled; "cancel", "expired", "success", ...
    stop_cause: str = ""
    expire_at: Int64 | None = None
    min_offering_at: Int64 | None = None
    created_at: Int64 | None = None
    last_activity_at: Int64 | None = None
    timezone: Lookup | None = None
    bucket: Lookup | None = None
    agent: Lookup | None = None
    skill: Lookup | None = None
    attempts: int = 0
    reserved: bool = False

    @property
    def queue_id(self) -> str | None:
        return self.queue.id if self.queue is not None else None

    @property
    def is_stopped(self) -> bool:
        return self.stop_cause != ""


class MemberPage(_ReadModel):
    """One page of ``GET /call_center/queues/{queue_id}/members``."""

    next: bool = False
    items: list[MemberInQueue] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Click-to-call


class CallEndpoint(_WireModel):
    """The Webitel user whose phone rings first: by user id or by extension, never both."""

    id: Int64 | None = None
    extension: str | None = None

    @model_validator(mode="after")
    def _exactly_one_way(self) -> Self:
        if (self.id is None) == (self.extension is None):
            raise ValueError("call 'from' needs exactly one of id or extension")
        if self.extension is not None and not self.extension:
            raise ValueError("call 'from' extension must not be empty")
        return self


class CallParams(_WireModel):
    timeout: int | None = Field(default=None, ge=0, le=INT32_MAX)
    variables: dict[str, str] | None = None
    display: str | None = None
    hide_number: bool | None = None
    disable_auto_answer: bool | None = None
    cancel_distribute: bool | None = None
    is_online: bool | None = None


class CreateCallRequest(_WireModel):
    """Body of ``POST /calls``. ``from`` is a Python keyword, hence the ``from_`` attribute."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True, defer_build=True
    )

    from_: CallEndpoint = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")
    destination: str = Field(min_length=1)
    params: CallParams | None = None

    @classmethod
    def from_user(cls, user_id: str, destination: str, params: CallParams | None = None) -> CreateCallRequest:
        return cls(from_=CallEndpoint(id=user_id), destination=destination, params=params)

    @classmethod
    def from_extension(
        cls, extension: str, destination: str, params: CallParams | None = None
    ) -> CreateCallRequest:
        return cls(from_=CallEndpoint(extension=extension), destination=destination, params=params)


class CreateCallResponse(_ReadModel):
    id: str = Field(min_length=1)


# ---------------------------------------------------------------------------------------------
# Agents and availability

AgentStatus = Literal["online", "offline", "pause", "break_out"]


class Agent(_ReadModel):
    id: Int64
    name: str = ""
    status: AgentStatus
    extension: str = ""
    user: Lookup | None = None
    description: str = ""
    last_status_change: Int64 | None = None
    status_duration: Int64 | None = None


class AgentPage(_ReadModel):
    next: bool = False
    items: list[Agent] = Field(default_factory=list)


class QueueReportRow(_ReadModel):
    """One row of ``GET /call_center/queues/reports/general`` (only what ringback reads)."""

    queue: Lookup
    # Required: a row without it says nothing about availability, and zeros would be a guess.
    agent_status: QueueAgentCounts
    # Callers waiting now (for an inbound queue: attempts not yet bridged) and the average of
    # bridged_at - joined_at over the report window (engine store/sqlstore/cc_queue_store.go
    # QueueReportGeneral). ``waiting`` is an int64 string in the engine's swagger and a uint32
    # number in protos engine/queue.proto: both are read.
    waiting: int = Field(default=0, ge=0)
    avg_asa_sec: float = Field(default=0.0, ge=0)


class QueueReportPage(_ReadModel):
    next: bool = False
    items: list[QueueReportRow] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Errors


class WebitelErrorBody(_ReadModel):
    """Webitel's error body. ``id`` names the error (e.g. ``app.member.valid``)."""

    id: str = ""
    status: str = ""
    detail: str = ""
    request_id: str = ""
    code: int = 0


class WebitelError(Exception):
    """Base of every failure talking to Webitel.

    ``status`` is the HTTP status (None when no answer arrived), ``request_id`` Webitel's id for
    the request (quote it when asking Webitel support), ``error_id`` the error body's ``id``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        detail: str | None = None,
        error_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.detail = detail
        self.error_id = error_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.error_id:
            parts.append(f"error_id={self.error_id}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class WebitelRejected(WebitelError):
    """Webitel refused the request (400 and other 4xx): nothing was committed.

    For a bulk upload this means the whole bulk was rolled back; retrying the same body will
    fail the same way.
    """


class WebitelAuthError(WebitelError):
    """401/403: the token is missing, wrong, expired or lacks the permission."""


class WebitelUnavailable(WebitelError):
    """No usable answer: connection refused, timeout, dropped connection, 5xx, 408/429.

    The outcome is UNKNOWN unless ``may_have_committed`` is False (the request provably never
    reached the server, e.g. the connection was refused). Creating members again blindly would
    duplicate them (there is no idempotency key): reconcile by searching the tag variable.
    """

    def __init__(
        self,
        message: str,
        *,
        may_have_committed: bool = True,
        status: int | None = None,
        request_id: str | None = None,
        detail: str | None = None,
        error_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, detail=detail, error_id=error_id)
        self.may_have_committed = may_have_committed


class WebitelContractError(WebitelError):
    """Webitel answered, but not as the contract says. Never guess what it meant."""


class WebitelQueueNotVisible(WebitelContractError):
    """The queues' general report has no row for the queue: the token's user may not see it.

    Webitel's report (engine ``store/sqlstore/cc_queue_store.go`` ``QueueReportGeneral``) lists
    only enabled queues whose grantee group holds one of the user's roles, or that have a skill
    of the user's own agent, of agents the user supervises, or of a team the user administers.
    """

    def __init__(self, queue_id: str, *, status: int | None = None, request_id: str | None = None) -> None:
        super().__init__(
            f"the Webitel token's user needs supervisor rights on queue {queue_id} "
            "(or the queue's grantee role): the queue report shows no row for it",
            status=status,
            request_id=request_id,
        )
        self.queue_id = queue_id

    @property
    def health_reason(self) -> str:
        return f"the Webitel token's user needs supervisor rights on queue {self.queue_id}"
