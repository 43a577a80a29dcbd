"""Webitel's queue and team hooks, as Webitel builds and posts them.

A Webitel hook is not a webhook: call_center starts a flow schema with a map of string
variables, and the schema's ``httpRequest`` (flow_manager) substitutes ``${name}`` in its
``data`` and posts the result. This module transcribes both halves from Webitel's source so the
sandbox can fire the very bodies a real installation sends at ringback:

* queue hooks: ``queue/hook.go`` ``BaseQueue.Hook`` = ``Attempt.ExportSchemaVariables()``
  (``queue/attempt.go``) + the queue's variables + ``state`` (the attempt state, which is also
  the hook's name: ``Attempt.SetState`` calls ``queue.Hook(state, a)``) + ``channel``;
  the call's ``Stats()`` (``call_manager/call.go``) for the member's leg;
* the team hook ``agent_status``: ``queue/team.go`` ``HookAgent`` = ``Agent.HookData()``
  (``agent_manager/agent.go``): no timestamp;
* flow_manager ``flow/http.go`` ``buildRequest``: ``data`` is marshalled to JSON, then each
  ``${name}`` (``model/variables.go``, regexp ``\\$\\{([\\s\\S]*?)\\}``) is replaced by the
  variable's value, JSON-escaped, or by nothing when the variable is unset; the request is sent
  once (no retry), ``content-type`` defaults to ``application/json``, the method to POST.

``QUEUE_HOOK_SCHEMA`` and ``TEAM_HOOK_SCHEMA`` are the schemas of docs/events.md (a test keeps
the two the same).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from devstack.webitel_sandbox.flow_text import go_json, substitute_json, substitute_text
from devstack.webitel_sandbox.store import Store

# ``${...}`` as flow_manager's model/variables.go compiles it.

# Attempt states that start a queue hook (call_center model/member.go MemberState*, and
# queue/hook.go HookMissed: every ``Attempt.SetState`` value of queue/*.go).
QUEUE_HOOK_STATES: Final = (
    "joined",
    "wait_agent",
    "offering",
    "active",
    "bridged",
    "processing",
    "missed",
    "leaving",
)
TEAM_HOOK: Final = "agent_status"  # call_center model/team.go HookAgentStatus
# call_center model/queue.go Queue.Channel(): type 10 out_call, 6 chat, 7/8 task, 9 im, else call.
_CHANNELS: Final = {6: "chat", 7: "task", 8: "task", 9: "im", 10: "out_call"}

# Every variable ExportSchemaVariables() can set by name (member variables come on top).
ATTEMPT_VARIABLES: Final = (
    "cc_attempt_seq",
    "member_timezone",
    "destination",
    "attempt_id",
    "timestamp",
    "joined_at",
    "bridged_at",
    "destination_description",
    "destination_type",
    "destination_seq",
    "agent_description",
    "member_name",
    "member_id",
    "bucket_id",
    "agent_channel_id",
    "member_channel_id",
    "member_stop_cause",
    "cc_result",
    "cc_resource_id",
    "communication_id",
    "queue_id",
    "use_processing",
    "agent_name",
    "agent_id",
    "user_id",
    "agent_extension",
)
# call_manager/call.go CallImpl.Stats(), merged in for the member's channel.
CALL_STATS_VARIABLES: Final = (
    "call_bill_sec",
    "call_duration",
    "call_cause",
    "call_sip_code",
    "amd_result",
    "amd_ai_result",
    "call_voice_sec",
)
# queue/hook.go: added to every queue hook.
HOOK_VARIABLES: Final = ("state", "channel")
# agent_manager/agent.go HookData(): status_payload and extension only when set.
TEAM_VARIABLES: Final = (
    "agent_id",
    "user_id",
    "team_id",
    "agent_name",
    "status",
    "status_payload",
    "extension",
)
# Member variables ringback itself sets (ringback.domain.outbox, docs/events.md).
RINGBACK_MEMBER_VARIABLES: Final = ("ringback_callback_id", "ringback_id", "ringback_provider")

_PLACEHOLDER_URL: Final = "https://<api>/v1/events/webitel"
_PLACEHOLDER_AUTH: Final = "Bearer <a value of WebitelHookTokensSecret>"


def _request(data: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "httpRequest": {
                "url": _PLACEHOLDER_URL,
                "method": "POST",
                "timeout": 1000,
                "headers": {"Content-Type": "application/json", "Authorization": _PLACEHOLDER_AUTH},
                "data": data,
                "responseCode": "ringback_events_status",
            }
        }
    ]


QUEUE_HOOK_SCHEMA: Final = _request(
    {
        "event": "${state}",
        "channel": "${channel}",
        **{
            name: f"${{{name}}}"
            for name in (*ATTEMPT_VARIABLES, *CALL_STATS_VARIABLES, *RINGBACK_MEMBER_VARIABLES)
        },
    }
)
TEAM_HOOK_SCHEMA: Final = _request({"event": TEAM_HOOK, **{name: f"${{{name}}}" for name in TEAM_VARIABLES}})


def queue_channel(queue_type: int) -> str:
    return _CHANNELS.get(queue_type, "call")


@dataclass(frozen=True)
class AttemptFacts:
    """What ExportSchemaVariables() reads from an attempt, as the sandbox knows it."""

    state: str
    queue_id: str
    queue_type: int
    attempt_id: str
    destination: str
    timestamp_ms: int
    joined_at_ms: int
    bridged_at_ms: int = 0
    member_id: str | None = None
    member_name: str = ""
    member_variables: Mapping[str, str] | None = None
    member_timezone: str | None = None
    member_seq: int | None = None
    bucket_id: str | None = None
    communication_type_id: int = 0
    communication_description: str = ""
    communication_attempts: int = 0
    communication_idx: int | None = None
    resource_id: str | None = None
    agent_id: str | None = None
    agent_name: str = ""
    user_id: str = ""
    agent_extension: str = ""
    agent_channel_id: str | None = None
    member_channel_id: str | None = None
    call_stats: Mapping[str, str] | None = None
    member_stop_cause: str = ""
    result: str = ""
    result_description: str = ""
    use_processing: bool = False
    queue_variables: Mapping[str, str] | None = None


def attempt_variables(facts: AttemptFacts) -> dict[str, str]:
    """The variables a queue hook starts its schema with (queue/hook.go + queue/attempt.go)."""
    res: dict[str, str] = dict(facts.member_variables or {})
    if facts.member_seq is not None:
        res["cc_attempt_seq"] = str(facts.member_seq)
    if facts.member_timezone is not None:
        res["member_timezone"] = facts.member_timezone
    res["destination"] = facts.destination
    res["attempt_id"] = facts.attempt_id
    res["timestamp"] = str(facts.timestamp_ms)
    res["joined_at"] = str(facts.joined_at_ms)
    if facts.bridged_at_ms > 0:
        res["bridged_at"] = str(facts.bridged_at_ms)
    if facts.communication_description:
        res["destination_description"] = facts.communication_description
    if facts.communication_type_id > 0:
        res["destination_type"] = str(facts.communication_type_id)
    if facts.communication_attempts >= 0:
        res["destination_seq"] = str(facts.communication_attempts + 1)
    if facts.result_description:
        res["agent_description"] = facts.result_description
    if facts.member_name:
        res["member_name"] = facts.member_name
    if facts.member_id is not None:
        res["member_id"] = facts.member_id
    if facts.bucket_id is not None:
        res["bucket_id"] = facts.bucket_id
    if facts.agent_channel_id is not None:
        res["agent_channel_id"] = facts.agent_channel_id
    if facts.member_channel_id is not None:
        res["member_channel_id"] = facts.member_channel_id
        res.update(facts.call_stats or {})
    if facts.member_stop_cause:
        res["member_stop_cause"] = facts.member_stop_cause
    if facts.result:
        res["cc_result"] = facts.result
    if facts.resource_id is not None:
        res["cc_resource_id"] = facts.resource_id
    if facts.communication_idx is not None:
        res["communication_id"] = str(facts.communication_idx)
    res["queue_id"] = facts.queue_id
    if facts.use_processing:
        res["use_processing"] = "true"
    if facts.agent_id is not None:
        res["agent_name"] = facts.agent_name
        res["agent_id"] = facts.agent_id
        res["user_id"] = facts.user_id
        res["agent_extension"] = facts.agent_extension
    # queue/hook.go: model.UnionStringMaps(attempt vars, queue variables, {state, channel}).
    res.update(facts.queue_variables or {})
    res["state"] = facts.state
    res["channel"] = queue_channel(facts.queue_type)
    return res


def call_stats(*, bill_sec: int, duration: int, cause: str, sip_code: int = 0) -> dict[str, str]:
    """call_manager/call.go Stats() of a hung-up call (the call's own variables left out)."""
    stats = {"call_bill_sec": str(bill_sec), "call_duration": str(duration), "call_cause": cause}
    if sip_code > 0:
        stats["call_sip_code"] = str(sip_code)
    return stats


def team_variables(
    *,
    agent_id: str,
    user_id: str,
    team_id: str,
    name: str,
    status: str,
    status_payload: str | None,
    extension: str | None,
) -> dict[str, str]:
    """agent_manager/agent.go HookData()."""
    data = {
        "agent_id": agent_id,
        "user_id": user_id,
        "team_id": team_id,
        "agent_name": name,
        "status": status,
    }
    if status_payload is not None:
        data["status_payload"] = status_payload
    if extension is not None:
        data["extension"] = extension
    return data


def render(schema: list[dict[str, Any]], variables: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
    """The headers and body the schema's first httpRequest sends (flow/http.go buildRequest)."""
    request = next(step["httpRequest"] for step in schema if "httpRequest" in step)
    headers = {str(k): substitute_text(str(v), variables) for k, v in (request.get("headers") or {}).items()}
    data = request.get("data")
    if isinstance(data, str):
        return headers, substitute_text(data, variables).encode()
    # An object: marshalled, then each value JSON-escaped (ParseOptionJson), as the caller knob.
    return headers, substitute_json(go_json(data), variables).encode()


def body_of(schema: list[dict[str, Any]], variables: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(render(schema, variables)[1])
    return body


@dataclass
class HookTarget:
    """Where fired hooks go: ringback's ``/v1/events/webitel`` on this machine, and its token."""

    url: str
    token: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("hooks can only be fired at a URL on 127.0.0.1")
        if not self.token:
            raise ValueError("a hook token is required")


def post(target: HookTarget, schema: list[dict[str, Any]], variables: Mapping[str, str]) -> dict[str, Any]:
    """Render and send once (flow_manager does not retry); the answer as the sandbox saw it."""
    headers, body = render(schema, variables)
    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    headers["Authorization"] = f"Bearer {target.token}"
    request = urllib.request.Request(target.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # HookTarget: loopback only
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return {"url": target.url, "status": status, "sent": json.loads(body), "answer": parsed}


# -- firing from the sandbox's state --------------------------------------------------------

_TALKING_STATES: Final = frozenset({"bridged", "processing", "leaving"})
_WITH_CALL_STATES: Final = frozenset({"offering", "active", "bridged", "processing", "missed", "leaving"})


def queue_hook_variables(store: Store, spec: Mapping[str, Any], now_ms: int) -> dict[str, str]:
    """ExportSchemaVariables() of an attempt the sandbox makes up from its state and ``spec``.

    ``spec``: ``state`` (required), ``queue_id`` (required), ``member_id`` (a member of the
    queue: its name, variables, communication; absent for an inbound call), ``destination``
    (the caller, for an inbound call), ``agent_id``, ``call_id``, ``bill_sec``, ``duration``,
    ``cause``, ``sip_code``, ``result``, ``member_stop_cause``, ``attempt_id``.
    """
    state = str(spec.get("state") or "")
    if state not in QUEUE_HOOK_STATES:
        raise ValueError(f"state must be one of {', '.join(QUEUE_HOOK_STATES)}")
    queue = store.get_queue(str(spec.get("queue_id") or ""))
    member = None
    if spec.get("member_id"):
        member = store.get_member(queue.id, str(spec["member_id"]))
    destination = str(spec.get("destination") or "")
    communication: Mapping[str, Any] = {}
    if member is not None and member.communications:
        communication = member.communications[0]
        destination = destination or str(communication.get("destination") or "")
    if not destination:
        raise ValueError("destination (or a member_id with a communication) is required")
    agent = None
    if spec.get("agent_id"):
        agent = store.agents.get(str(spec["agent_id"]))
        if agent is None:
            raise ValueError(f"agent {spec['agent_id']} not found")
    attempt_id = str(spec.get("attempt_id") or next(store.attempt_ids))
    call_id = str(spec.get("call_id") or f"sandbox-call-{attempt_id}")
    with_call = state in _WITH_CALL_STATES
    talking = state in _TALKING_STATES and agent is not None
    stats = None
    if state in ("processing", "leaving"):
        stats = call_stats(
            bill_sec=int(spec.get("bill_sec") or 0),
            duration=int(spec.get("duration") or 0),
            cause=str(spec.get("cause") or "NORMAL_CLEARING"),
            sip_code=int(spec.get("sip_code") or 0),
        )
    facts = AttemptFacts(
        state=state,
        queue_id=queue.id,
        queue_type=queue.type,
        attempt_id=attempt_id,
        destination=destination,
        timestamp_ms=now_ms,
        joined_at_ms=int(spec.get("joined_at") or now_ms - 30_000),
        bridged_at_ms=int(spec.get("bridged_at") or (now_ms - 5_000 if talking else 0)),
        member_id=member.id if member is not None else None,
        member_name=member.name if member is not None else "",
        member_variables=member.variables if member is not None else None,
        member_seq=1 if member is not None else None,
        bucket_id=(member.lookups.get("bucket") or {}).get("id") if member is not None else None,
        communication_type_id=int((communication.get("type") or {}).get("id") or 0) if communication else 0,
        communication_description=str(communication.get("description") or "") if communication else "",
        communication_attempts=0,
        communication_idx=0 if member is not None else None,
        agent_id=agent.id if agent is not None else None,
        agent_name=agent.name if agent is not None else "",
        user_id=agent.user_id if agent is not None else "",
        agent_extension=agent.extension if agent is not None else "",
        agent_channel_id=f"{call_id}-agent" if talking else None,
        member_channel_id=call_id if with_call else None,
        call_stats=stats,
        member_stop_cause=str(spec.get("member_stop_cause") or ""),
        result=str(spec.get("result") or ""),
        queue_variables=queue.variables,
    )
    return attempt_variables(facts)


def team_hook_variables(store: Store, agent_id: str) -> dict[str, str]:
    agent = store.agents.get(agent_id)
    if agent is None:
        raise ValueError(f"agent {agent_id} not found")
    return team_variables(
        agent_id=agent.id,
        user_id=agent.user_id,
        team_id=agent.team_id,
        name=agent.name,
        status=agent.status,
        status_payload=agent.status_payload,
        extension=agent.extension or None,
    )
