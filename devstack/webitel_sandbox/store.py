"""The sandbox's in-memory Webitel: queues, agents, members and calls, behind one lock.

Bodies reaching the store have passed schema validation (validation.py); the store enforces
the rules that need state: queue types, known communication types, busy users.
Output dicts have Webitel's JSON shape: snake_case, int64 as strings, times in epoch ms.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.webitel_sandbox.errors import ApiError, bad_request, not_found

AGENT_STATUSES = ("online", "offline", "pause", "break_out")
# The role every queue's grantee is by default, and the token user's role (see TokenUser).
DEFAULT_ROLE = "1"
# Queue types that take no members: 1 inbound call, 6 inbound chat.
INBOUND_QUEUE_TYPES = frozenset({1, 6})
# Fields a member PATCH may name in ``fields``.
PATCHABLE_MEMBER_FIELDS = frozenset(
    {
        "name",
        "priority",
        "expire_at",
        "min_offering_at",
        "variables",
        "timezone",
        "bucket",
        "skill",
        "agent",
        "communications",
        "stop_cause",
    }
)
_LOOKUP_FIELDS = ("timezone", "bucket", "skill", "agent")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _int64_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _lookup(value: Any) -> dict[str, str] | None:
    # Webitel only reads the id of a lookup.
    return None if value is None else {"id": str(value["id"])}


@dataclass
class Queue:
    id: str
    name: str
    type: int
    enabled: bool = True
    # The role group granted the queue (engine cc_queue.grantee_id); None = nobody by role.
    grantee_id: str | None = DEFAULT_ROLE
    # The queue's variables: call_center adds them to every hook of the queue (queue/hook.go).
    variables: dict[str, str] = field(default_factory=dict)
    # Waiting stats the general report shows (set by POST /_sandbox/queues/{id}/waiting): None =
    # count the queue's members; avg_asa_sec is the engine's avg(bridged_at - joined_at).
    waiting: int | None = None
    avg_asa_sec: float = 0.0
    # Its dialer strategy (engine cc_queue.strategy): lifo takes the newest member id first.
    strategy: str = "fifo"

    @property
    def accepts_members(self) -> bool:
        return self.type not in INBOUND_QUEUE_TYPES


@dataclass
class TokenUser:
    """The Webitel user the access token belongs to, and what the queue report lets it see.

    engine store/sqlstore/cc_queue_store.go QueueReportGeneral: a queue has a row only when it
    is enabled and either its ``grantee_id`` is one of the user's roles, or the user is an agent
    (cc_agent.user_id) and the queue has a skill held (enabled, capacity in range) by the user's
    own agent, by an agent whose ``supervisor_ids`` name the user's agent, or by an agent of a
    team whose ``admin_ids`` name it. Sandbox agents hold a queue's skill by ``queue_ids``.
    """

    user_id: str = "100"
    roles: tuple[str, ...] = (DEFAULT_ROLE,)
    # The user's own agent id, when the user is an agent (a supervisor is one).
    agent_id: str | None = None


@dataclass
class Agent:
    id: str
    name: str
    user_id: str
    extension: str
    status: str
    queue_ids: list[str]
    last_status_change: int
    # Id of the call the agent's phone is on; a busy user cannot place another call.
    active_call_id: str | None = None
    team_id: str = "1"
    # Agent ids supervising this agent (engine cc_agent.supervisor_ids).
    supervisor_ids: list[str] = field(default_factory=list)
    status_payload: str | None = None

    def to_json(self, now_ms: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": {"id": self.user_id, "name": self.name},
            "name": self.name,
            "status": self.status,
            "extension": self.extension,
            "description": "",
            "last_status_change": str(self.last_status_change),
            "status_duration": str(max(0, (now_ms - self.last_status_change) // 1000)),
            "progressive_count": 1,
            "channels": [],
        }


@dataclass
class Member:
    id: str
    queue_id: str
    name: str
    priority: int
    variables: dict[str, str]
    communications: list[dict[str, Any]]
    created_at: int
    expire_at: str | None = None
    min_offering_at: str | None = None
    lookups: dict[str, dict[str, str] | None] = field(default_factory=dict)
    stop_cause: str = ""
    # The bulk's file_name: Webitel records it as the import id.
    import_id: str | None = None

    def to_json(self, queue_name: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "queue": {"id": self.queue_id, "name": queue_name},
            "name": self.name,
            "priority": self.priority,
            # Unset int64 come back as "0", unset lookups as null (grpc-gateway, emit defaults).
            "expire_at": self.expire_at or "0",
            "min_offering_at": self.min_offering_at or "0",
            "created_at": str(self.created_at),
            "variables": dict(self.variables),
            "communications": copy.deepcopy(self.communications),
            "stop_cause": self.stop_cause,
            "attempts": 0,
            "reserved": False,
        }
        for name in _LOOKUP_FIELDS:
            body[name] = self.lookups.get(name)
        return body

    def contains_variables(self, wanted: Mapping[str, str]) -> bool:
        return all(self.variables.get(key) == value for key, value in wanted.items())


@dataclass
class Call:
    id: str
    user_id: str
    agent_id: str | None
    extension: str
    destination: str
    params: dict[str, Any]
    created_at: int
    ended_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": {"id": self.user_id, "extension": self.extension},
            "agent_id": self.agent_id,
            "destination": self.destination,
            "params": copy.deepcopy(self.params),
            "created_at": str(self.created_at),
            "ended_at": None if self.ended_at is None else str(self.ended_at),
        }


class Store:
    """All sandbox state. Every public method takes the lock, so handlers may run in parallel."""

    def __init__(self, clock_ms: Callable[[], int] = _now_ms) -> None:
        self._lock = threading.RLock()
        self._clock_ms = clock_ms
        self._clear()

    def _clear(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.agents: dict[str, Agent] = {}
        self.members: dict[str, Member] = {}
        self.calls: dict[str, Call] = {}
        # Communication type "1" is the phone on every installation ringback targets.
        self.communication_types: dict[str, str] = {"1": "Phone"}
        self._member_ids = itertools.count(1001)
        self.attempt_ids = itertools.count(50001)
        self.token_user = TokenUser()
        # Team id -> agent ids administering it (engine cc_team.admin_ids).
        self.team_admins: dict[str, list[str]] = {}

    def reset(self) -> None:
        with self._lock:
            self._clear()

    # -- configuration (Python API and seeding) -------------------------------------------

    def add_queue(
        self, queue_id: str, name: str, queue_type: int, *, grantee_id: str | None = DEFAULT_ROLE
    ) -> Queue:
        with self._lock:
            queue = Queue(id=str(queue_id), name=name, type=queue_type, grantee_id=grantee_id)
            self.queues[queue.id] = queue
            return queue

    def set_token_user(
        self, *, user_id: str = "100", roles: Iterable[str] = (), agent_id: str | None = None
    ) -> TokenUser:
        with self._lock:
            self.token_user = TokenUser(
                user_id=str(user_id), roles=tuple(str(r) for r in roles), agent_id=agent_id
            )
            return self.token_user

    def visible_queue_ids(self) -> set[str]:
        """The queues the token's user may see in reports (TokenUser says how, per engine SQL)."""
        with self._lock:
            user = self.token_user
            seen: set[str] = set()
            own = self.agents.get(user.agent_id) if user.agent_id is not None else None
            if own is not None and own.user_id == user.user_id:
                admins_of = {team for team, admins in self.team_admins.items() if own.id in admins}
                for agent in self.agents.values():
                    if agent.id == own.id or own.id in agent.supervisor_ids or agent.team_id in admins_of:
                        seen.update(agent.queue_ids)
            roles = set(user.roles)
            seen.update(queue.id for queue in self.queues.values() if queue.grantee_id in roles)
            return {
                queue_id for queue_id in seen if queue_id in self.queues and self.queues[queue_id].enabled
            }

    def add_communication_type(self, type_id: str, name: str) -> None:
        with self._lock:
            self.communication_types[str(type_id)] = name

    def add_agent(
        self,
        agent_id: str,
        name: str,
        extension: str,
        *,
        user_id: str | None = None,
        status: str = "online",
        queue_ids: Iterable[str] = (),
        supervisor_ids: Iterable[str] = (),
        team_id: str = "1",
    ) -> Agent:
        _check_agent_status(status)
        with self._lock:
            agent = Agent(
                id=str(agent_id),
                name=name,
                user_id=str(user_id if user_id is not None else agent_id),
                extension=extension,
                status=status,
                queue_ids=[str(queue_id) for queue_id in queue_ids],
                last_status_change=self._clock_ms(),
                supervisor_ids=[str(s) for s in supervisor_ids],
                team_id=str(team_id),
            )
            self.agents[agent.id] = agent
            return agent

    def set_agent_status(self, agent_id: str, status: str, payload: str | None = None) -> Agent:
        _check_agent_status(status)
        with self._lock:
            agent = self._agent(agent_id)
            if agent.status != status or agent.status_payload != payload:
                agent.status = status
                agent.status_payload = payload
                agent.last_status_change = self._clock_ms()
            return agent

    # -- queues ---------------------------------------------------------------------------

    def queue_json(self, queue: Queue) -> dict[str, Any]:
        with self._lock:
            members = [member for member in self.members.values() if member.queue_id == queue.id]
            return {
                "id": queue.id,
                "name": queue.name,
                "type": queue.type,
                "enabled": queue.enabled,
                "priority": 0,
                "count": len(members),
                "waiting": sum(1 for member in members if not member.stop_cause),
                "active": 0,
            }

    def list_queues_json(self, ids: Iterable[str] = ()) -> list[dict[str, Any]]:
        wanted = set(ids)
        with self._lock:
            return [
                self.queue_json(queue) for queue in self.queues.values() if not wanted or queue.id in wanted
            ]

    def communication_types_json(self) -> list[dict[str, str]]:
        with self._lock:
            return [{"id": type_id, "name": name} for type_id, name in self.communication_types.items()]

    def get_queue(self, queue_id: str) -> Queue:
        with self._lock:
            queue = self.queues.get(queue_id)
            if queue is None:
                raise not_found("app.queue.get.not_found", f"queue {queue_id} not found")
            return queue

    def queue_report(self, queue_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Rows of the general report: ``agent_status`` counts the agents bound to the queue.

        Only queues the token's user may see have a row (``visible_queue_ids``); agents on
        ``pause`` and ``break_out`` both count as ``pause`` (agent_p_ids in the engine's SQL).
        """
        wanted = set(queue_ids)
        with self._lock:
            visible = self.visible_queue_ids()
            rows = []
            for queue in self.queues.values():
                if (wanted and queue.id not in wanted) or queue.id not in visible:
                    continue
                agents = [agent for agent in self.agents.values() if queue.id in agent.queue_ids]
                online = [agent for agent in agents if agent.status == "online"]
                members = [member for member in self.members.values() if member.queue_id == queue.id]
                rows.append(
                    {
                        "queue": {"id": queue.id, "name": queue.name},
                        "team": None,
                        "agent_status": {
                            "online": len(online),
                            "pause": sum(1 for agent in agents if agent.status in ("pause", "break_out")),
                            "offline": sum(1 for agent in agents if agent.status == "offline"),
                            "free": sum(1 for agent in online if agent.active_call_id is None),
                            "total": len(agents),
                            "busy": sum(1 for agent in agents if agent.active_call_id is not None),
                        },
                        "count": str(len(members)),
                        # int64 as a string (the engine's swagger); avg_* are floats.
                        "waiting": str(
                            queue.waiting
                            if queue.waiting is not None
                            else sum(1 for member in members if not member.stop_cause)
                        ),
                        "processed": "0",
                        "avg_asa_sec": queue.avg_asa_sec,
                    }
                )
            return rows

    def set_queue_waiting(self, queue_id: str, *, waiting: int | None, avg_asa_sec: float) -> Queue:
        with self._lock:
            queue = self.get_queue(queue_id)
            queue.waiting = waiting
            queue.avg_asa_sec = avg_asa_sec
            return queue

    def dial_order(self, queue_id: str) -> list[Member]:
        """The members the dialer would offer now, in its order: call_center
        store/sqlstore/call_center-schema.sql cc_distribute_members_list (stop_at isnull, no
        skill, expire_at and ready_at = min_offering_at checked against now; ordered by
        bucket_id nulls last, agent_id, priority desc, ready_at asc nulls last, then id asc, or
        desc for the lifo strategy)."""
        with self._lock:
            queue = self.get_queue(queue_id)
            now = self._clock_ms()

            def due(member: Member) -> bool:
                expire = int(member.expire_at or 0)
                ready = int(member.min_offering_at or 0)
                return (
                    not member.stop_cause
                    and not member.lookups.get("skill")
                    and (not expire or expire > now)
                    and (not ready or ready < now)
                )

            def lookup_id(member: Member, name: str) -> int | None:
                found = member.lookups.get(name)
                return int(found["id"]) if found and found.get("id") else None

            def key(member: Member) -> tuple[Any, ...]:
                bucket, agent = lookup_id(member, "bucket"), lookup_id(member, "agent")
                ready = int(member.min_offering_at or 0) or None
                number = int(member.id)
                return (
                    bucket is None,
                    bucket or 0,
                    agent is None,
                    agent or 0,
                    -member.priority,
                    ready is None,
                    ready or 0,
                    -number if queue.strategy == "lifo" else number,
                )

            members = [m for m in self.members.values() if m.queue_id == queue.id and due(m)]
            return sorted(members, key=key)

    # -- members --------------------------------------------------------------------------

    def create_members(
        self, queue_id: str, items: list[Mapping[str, Any]], import_id: str | None = None
    ) -> list[Member]:
        """All items or none: one invalid item rejects the whole request, as in the engine."""
        with self._lock:
            queue = self._queue_for_members(queue_id)
            for index, item in enumerate(items):
                self._check_member_references(item, f"items[{index}]")
            created = [self._new_member(queue, item, import_id) for item in items]
            for member in created:
                self.members[member.id] = member
            return created

    def search_members(
        self,
        queue_id: str,
        *,
        variables: Mapping[str, str],
        ids: Iterable[str] = (),
        name_query: str | None = None,
        page: int = 1,
        size: int = 40,
    ) -> tuple[list[Member], bool]:
        """One page of matching members (oldest first) and whether another page follows."""
        wanted_ids = set(ids)
        with self._lock:
            matches = [
                member
                for member in self.members.values()
                if member.queue_id == queue_id
                and member.contains_variables(variables)
                and (not wanted_ids or member.id in wanted_ids)
                and (name_query is None or name_query.lower() in member.name.lower())
            ]
        start = (page - 1) * size
        return matches[start : start + size], len(matches) > start + size

    def get_member(self, queue_id: str, member_id: str) -> Member:
        with self._lock:
            member = self.members.get(member_id)
            if member is None or member.queue_id != queue_id:
                raise not_found(
                    "app.member.get.not_found", f"member {member_id} not found in queue {queue_id}"
                )
            return member

    def patch_member(self, queue_id: str, member_id: str, changes: Mapping[str, Any]) -> Member:
        with self._lock:
            member = self.get_member(queue_id, member_id)
            self._check_member_references(changes, "body")
            updated = copy.deepcopy(member)
            for name, value in changes.items():
                _apply_member_field(updated, name, value)
            if updated.lookups.get("bucket") and updated.lookups.get("skill"):
                raise bad_request("app.member.valid.bucket", "bucket and skill must not both be set")
            self.members[member_id] = updated
            return updated

    def delete_member(self, queue_id: str, member_id: str) -> Member:
        with self._lock:
            member = self.get_member(queue_id, member_id)
            del self.members[member_id]
            return member

    def delete_members(
        self, queue_id: str, *, ids: Iterable[str] = (), variables: Mapping[str, str] | None = None
    ) -> list[Member]:
        """Delete by filter; with no filter at all, every member of the queue (like Webitel)."""
        wanted_ids = set(ids)
        with self._lock:
            doomed = [
                member
                for member in self.members.values()
                if member.queue_id == queue_id
                and (not wanted_ids or member.id in wanted_ids)
                and member.contains_variables(variables or {})
            ]
            for member in doomed:
                del self.members[member.id]
            return doomed

    # -- agents and calls -----------------------------------------------------------------

    def list_agents(
        self, *, queue_id: str | None, name_query: str | None, page: int, size: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of agents as engine JSON, and whether another page follows."""
        with self._lock:
            now = self._clock_ms()
            matches = [
                agent.to_json(now)
                for agent in self.agents.values()
                if (queue_id is None or queue_id in agent.queue_ids)
                and (name_query is None or name_query.lower() in agent.name.lower())
            ]
        start = (page - 1) * size
        return matches[start : start + size], len(matches) > start + size

    def create_call(
        self, *, from_endpoint: Mapping[str, Any], destination: str, params: Mapping[str, Any]
    ) -> Call:
        with self._lock:
            agent = self._caller(from_endpoint)
            if agent.active_call_id is not None:
                raise bad_request("app.call.create.busy", f"user {agent.user_id} is busy")
            call = Call(
                id=str(uuid.uuid4()),
                user_id=agent.user_id,
                agent_id=agent.id,
                extension=agent.extension,
                destination=destination,
                params=copy.deepcopy(dict(params)),
                created_at=self._clock_ms(),
            )
            self.calls[call.id] = call
            agent.active_call_id = call.id
            return call

    def end_call(self, call_id: str) -> Call:
        """Hang up: the agent's phone is free again."""
        with self._lock:
            call = self.calls.get(call_id)
            if call is None or call.ended_at is not None:
                raise not_found("app.call.hangup.not_found", f"active call {call_id} not found")
            call.ended_at = self._clock_ms()
            for agent in self.agents.values():
                if agent.active_call_id == call_id:
                    agent.active_call_id = None
            return call

    # -- inspection -----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Everything, JSON-ready, for tests (``GET /_sandbox/state``) and the page."""
        with self._lock:
            now = self._clock_ms()
            return {
                "queues": [self.queue_json(queue) for queue in self.queues.values()],
                "communication_types": self.communication_types_json(),
                "agents": [
                    {
                        **agent.to_json(now),
                        "queue_ids": list(agent.queue_ids),
                        "active_call_id": agent.active_call_id,
                    }
                    for agent in self.agents.values()
                ],
                "members": [
                    {**self._member_json(member), "import_id": member.import_id}
                    for member in self.members.values()
                ],
                "calls": [call.to_json() for call in self.calls.values()],
            }

    def member_json(self, member: Member) -> dict[str, Any]:
        with self._lock:
            return self._member_json(member)

    # -- internals ------------------------------------------------------------------------

    def _member_json(self, member: Member) -> dict[str, Any]:
        queue = self.queues.get(member.queue_id)
        return member.to_json(queue.name if queue else "")

    def _queue_for_members(self, queue_id: str) -> Queue:
        queue = self.queues.get(queue_id)
        if queue is None:
            # A foreign-key failure in the engine, hence 400 and not 404.
            raise bad_request("app.member.create.queue", f"queue {queue_id} does not exist")
        if not queue.accepts_members:
            raise bad_request(
                "app.member.create.queue_type",
                f"queue {queue_id} has type {queue.type}: inbound queues take no members",
            )
        return queue

    def _check_member_references(self, item: Mapping[str, Any], where: str) -> None:
        for index, communication in enumerate(item.get("communications") or []):
            type_id = str(communication["type"]["id"])
            if type_id not in self.communication_types:
                raise bad_request(
                    "app.member.valid.communication_type",
                    f"{where}.communications[{index}].type: unknown communication type {type_id}",
                )

    def _new_member(self, queue: Queue, item: Mapping[str, Any], import_id: str | None) -> Member:
        member = Member(
            id=str(next(self._member_ids)),
            queue_id=queue.id,
            name="",
            priority=0,
            variables={},
            communications=[],
            created_at=self._clock_ms(),
            import_id=import_id,
        )
        for name, value in item.items():
            if name in PATCHABLE_MEMBER_FIELDS:
                _apply_member_field(member, name, value)
        return member

    def _agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise not_found("app.agent.get.not_found", f"agent {agent_id} not found")
        return agent

    def _caller(self, from_endpoint: Mapping[str, Any]) -> Agent:
        user_id = from_endpoint.get("id")
        extension = from_endpoint.get("extension")
        for agent in self.agents.values():
            if (user_id is not None and agent.user_id == str(user_id)) or (
                extension is not None and agent.extension == extension
            ):
                return agent
        raise bad_request("app.call.create.from", "the calling user (from) is unknown")


def _check_agent_status(status: str) -> None:
    if status not in AGENT_STATUSES:
        raise ApiError(400, "app.agent.status.valid", f"status must be one of {', '.join(AGENT_STATUSES)}")


def _communication(value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "destination": value.get("destination", ""),
        "type": _lookup(value["type"]),
        "priority": value.get("priority", 0),
        "description": value.get("description", ""),
        "display": value.get("display", ""),
        "resource": _lookup(value.get("resource")),
        "stop_at": _int64_text(value.get("stop_at")) or "0",
        "dtmf": value.get("dtmf", ""),
        "state": 0,
        "attempts": 0,
        "last_cause": "",
    }


def _apply_member_field(member: Member, name: str, value: Any) -> None:
    if name == "name":
        member.name = value or ""
    elif name == "priority":
        member.priority = int(value or 0)
    elif name in ("expire_at", "min_offering_at"):
        setattr(member, name, _int64_text(value))
    elif name == "variables":
        member.variables = dict(value or {})
    elif name in _LOOKUP_FIELDS:
        member.lookups[name] = _lookup(value)
    elif name == "communications":
        member.communications = [_communication(item) for item in value or []]
    elif name == "stop_cause":
        member.stop_cause = value or ""
    else:
        raise bad_request("app.member.patch.fields", f"field {name!r} cannot be changed")
