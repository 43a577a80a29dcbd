"""What Webitel's flow schemas post to ``POST /v1/events/webitel``.

Webitel never calls out by itself: a queue *hook* (``joined``, ``wait_agent``, ``offering``,
``active``, ``bridged``, ``processing``, ``missed``, ``leaving``; the team hook
``agent_status``) starts a flow schema whose ``httpRequest`` posts JSON built from the hook
variables. Two shapes are accepted in one model, because customers use both:

* the integration guide's call event body: ``event`` (offering | bridged), ``direction``
  (inbound | outbound), ``queue``, ``member``, ``attempt``, ``uuid``, ``agent``, ``cid``;
* Webitel's own hook variable names (``attempt_id``, ``member_id``, ``queue_id``,
  ``member_channel_id``, ``timestamp``, ``bridged_at``, ``call_cause``, ``cc_result``, ...):
  a queue hook starts its schema with the attempt's ``ExportSchemaVariables()`` plus ``state``
  (the hook name) and ``channel`` (webitel/call_center ``queue/attempt.go``, ``queue/hook.go``);
  the team hook ``agent_status`` with ``agent_id``, ``user_id``, ``team_id``, ``agent_name``,
  ``status``, ``status_payload``, ``extension`` and no timestamp (``agent_manager/agent.go``
  ``HookData``). docs/webitel-contract.md lists every variable with its source.

Every hook variable arrives as a string; an empty string means unset; times are epoch
milliseconds as strings. Member variables come flat (``"ringback_callback_id": "..."``) or in a
``variables`` map; both are read.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ringback.domain.errors import FieldProblem
from ringback.domain.events._types import EpochMs, HookStr, LooseInt
from ringback.domain.outbox import CALLBACK_TAG, ID_TAG

CALL_EVENTS: Final = frozenset(
    {"joined", "wait_agent", "offering", "active", "bridged", "processing", "missed", "leaving"}
)
AGENT_STATUS: Final = "agent_status"
KNOWN_EVENTS: Final = CALL_EVENTS | {AGENT_STATUS}
WEBITEL_AGENT_STATUSES: Final = frozenset({"online", "offline", "pause", "break_out"})
# Member variables that name where a website request came from (see docs/events.md).
PROVIDER_VARIABLES: Final = ("ringback_provider", "provider")


class WebitelEvent(BaseModel):
    """One Webitel hook event. Unknown extra fields (more member variables) are kept."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    event: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    # -- what call_center adds to every queue hook: the attempt state (= the hook name) and the
    # queue's channel (call, out_call, chat, task, im)
    state: HookStr = ""
    channel: HookStr = ""
    # -- the integration guide's body
    direction: HookStr = ""
    queue: HookStr = ""
    member: HookStr = ""
    attempt: HookStr = ""
    uuid: HookStr = ""
    agent: HookStr = ""
    cid: HookStr = ""
    # -- Webitel hook variables
    attempt_id: HookStr = ""
    member_id: HookStr = ""
    member_name: HookStr = ""
    queue_id: HookStr = ""
    bucket_id: HookStr = ""
    communication_id: HookStr = ""
    destination: HookStr = ""
    destination_type: HookStr = ""
    destination_description: HookStr = ""
    destination_seq: LooseInt = None
    cc_resource_id: HookStr = ""
    use_processing: HookStr = ""
    agent_description: HookStr = ""
    member_timezone: HookStr = ""
    timestamp: EpochMs = None
    joined_at: EpochMs = None
    bridged_at: EpochMs = None
    agent_id: HookStr = ""
    agent_name: HookStr = ""
    user_id: HookStr = ""
    agent_extension: HookStr = ""
    # the team hook names the agent's extension ``extension`` (queue hooks: agent_extension)
    extension: HookStr = ""
    agent_channel_id: HookStr = ""
    member_channel_id: HookStr = ""
    call_bill_sec: LooseInt = None
    call_duration: LooseInt = None
    call_cause: HookStr = ""
    call_sip_code: LooseInt = None
    amd_result: HookStr = ""
    cc_result: HookStr = ""
    member_stop_cause: HookStr = ""
    cc_attempt_seq: LooseInt = None
    # -- team hook agent_status
    status: HookStr = ""
    status_payload: HookStr = ""
    team_id: HookStr = ""
    # -- member variables as a map (the flow may also post them flat)
    variables: dict[str, HookStr] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _event_from_state(cls, data: Any) -> Any:
        # A queue hook schema may post Webitel's ``state`` alone: it is the hook's name.
        if isinstance(data, dict) and not data.get("event") and isinstance(data.get("state"), str):
            return {**data, "event": data["state"]}
        return data

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: str) -> str:
        value = value.lower()
        if value not in ("", "inbound", "outbound"):
            raise ValueError("must be inbound or outbound")
        return value

    @field_validator("event")
    @classmethod
    def _event(cls, value: str) -> str:
        return value.lower() if value.lower() in KNOWN_EVENTS else value

    # -- what the projections read, whichever naming the flow used -----------------------------

    @property
    def known(self) -> bool:
        return self.event in KNOWN_EVENTS

    @property
    def call_uuid(self) -> str:
        return self.uuid or self.member_channel_id

    @property
    def attempt_key(self) -> str:
        return self.attempt_id or self.attempt

    @property
    def member_key(self) -> str:
        return self.member_id or self.member

    @property
    def queue_key(self) -> str:
        return self.queue_id or self.queue

    @property
    def agent_key(self) -> str:
        return self.agent_id or self.agent

    @property
    def extension_key(self) -> str:
        return self.agent_extension or self.extension

    @property
    def customer_number(self) -> str:
        return self.cid or self.destination

    def variable(self, name: str) -> str:
        """A member variable, from the ``variables`` map or posted flat."""
        value = self.variables.get(name, "")
        if not value and self.model_extra:
            extra = self.model_extra.get(name)
            value = extra.strip() if isinstance(extra, str) else ""
        return value

    @property
    def callback_id(self) -> str:
        return self.variable(CALLBACK_TAG)

    @property
    def outbox_id(self) -> str:
        return self.variable(ID_TAG)

    @property
    def provider(self) -> str:
        for name in PROVIDER_VARIABLES:
            value = self.variable(name)
            if value:
                return value
        return ""

    def occurred_at(self) -> int | None:
        """When it happened: the hook ``timestamp``, else the time the event itself carries."""
        if self.timestamp:
            return self.timestamp
        if self.event == "bridged" and self.bridged_at:
            return self.bridged_at
        if self.event == "joined" and self.joined_at:
            return self.joined_at
        return None

    def problems(self) -> list[FieldProblem]:
        """Cross-field rules of known events (unknown events are stored as they are)."""
        if self.event == AGENT_STATUS:
            found: list[FieldProblem] = []
            if not self.agent_key:
                found.append(FieldProblem("agent_id", "agent_status needs agent_id (or agent)"))
            if self.status.lower() not in WEBITEL_AGENT_STATUSES:
                found.append(FieldProblem("status", "must be one of online, offline, pause, break_out"))
            return found
        if self.event in CALL_EVENTS and not (self.call_uuid or self.attempt_key):
            return [FieldProblem("uuid", f"{self.event} needs uuid/member_channel_id or attempt/attempt_id")]
        return []

    def identity_parts(self) -> dict[str, Any]:
        """The whole body: Webitel has no event id and a redelivered hook is the same body.

        A body without ``timestamp`` (the team hook never sends one) cannot tell two real
        changes with the same content apart (online, pause, online): ingest adds its arrival.
        """
        return self.model_dump(mode="json")

    @property
    def has_sender_time(self) -> bool:
        return self.timestamp is not None
