"""The engine endpoints the sandbox serves (below ``/api``), as handlers over the Store."""

from __future__ import annotations

from typing import Any

from devstack.webitel_sandbox import validation
from devstack.webitel_sandbox.errors import bad_request
from devstack.webitel_sandbox.routing import ApiRequest, ApiResponse, Router
from devstack.webitel_sandbox.store import PATCHABLE_MEMBER_FIELDS, Member, Store

_DEFAULT_PAGE_SIZE = 40

_QUEUES = "/call_center/queues"
_MEMBERS = "/call_center/queues/{queue_id}/members"


def _ok(body: Any, *, committed: bool = False) -> ApiResponse:
    return ApiResponse(200, body, committed=committed)


class EngineApi:
    """One handler per engine operation ringback uses. State lives in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def router(self) -> Router:
        router = Router()
        router.add("GET", _QUEUES, self.list_queues)
        router.add("GET", f"{_QUEUES}/reports/general", self.queue_report)
        router.add("GET", f"{_QUEUES}/{{id}}", self.read_queue)
        router.add("POST", f"{_MEMBERS}/bulk", self.create_members_bulk)
        router.add("POST", _MEMBERS, self.create_member)
        router.add("GET", _MEMBERS, self.search_members)
        router.add("DELETE", _MEMBERS, self.delete_members)
        router.add("GET", f"{_MEMBERS}/{{id}}", self.read_member)
        router.add("PATCH", f"{_MEMBERS}/{{id}}", self.patch_member)
        router.add("DELETE", f"{_MEMBERS}/{{id}}", self.delete_member)
        router.add("GET", "/call_center/communication_type", self.list_communication_types)
        router.add("GET", "/call_center/agents", self.list_agents)
        router.add("PATCH", "/call_center/agents/{id}/status", self.set_agent_status)
        router.add("POST", "/calls", self.create_call)
        router.add("DELETE", "/calls/active/{id}", self.hangup_call)
        return router

    # -- queues ---------------------------------------------------------------------------

    def list_queues(self, request: ApiRequest) -> ApiResponse:
        return self._page(self.store.list_queues_json(request.query.get("id", [])), request)

    def read_queue(self, request: ApiRequest) -> ApiResponse:
        queue = self.store.get_queue(request.param("id"))
        return _ok(self.store.queue_json(queue))

    def queue_report(self, request: ApiRequest) -> ApiResponse:
        # engine grpc_api/cc_queue.go SearchQueueReportGeneral: no joined_at filter, no report.
        if request.query_one("joined_at.from") is None and request.query_one("joined_at.to") is None:
            raise bad_request("grpc.queue.report.general", "filter joined_at is required")
        return self._page(self.store.queue_report(request.query.get("queue_id", [])), request)

    # -- members --------------------------------------------------------------------------

    def create_members_bulk(self, request: ApiRequest) -> ApiResponse:
        validation.validate_body(validation.BULK_MEMBERS, request.body)
        items = request.body["items"]
        # engine app/cc_member.go BulkCreateMember: one item goes through Member().Create, which
        # takes no file name (the member has no import id); two or more through BulkCreate.
        file_name = request.body.get("file_name") if len(items) > 1 else None
        members = self.store.create_members(request.param("queue_id"), items, file_name)
        return _ok({"ids": [member.id for member in members]}, committed=True)

    def create_member(self, request: ApiRequest) -> ApiResponse:
        validation.validate_body(validation.CREATE_MEMBER, request.body)
        item = {key: value for key, value in request.body.items() if key in PATCHABLE_MEMBER_FIELDS}
        (member,) = self.store.create_members(request.param("queue_id"), [item])
        return _ok(self.store.member_json(member), committed=True)

    def search_members(self, request: ApiRequest) -> ApiResponse:
        page = request.query_int("page", 1)
        size = request.query_int("size", _DEFAULT_PAGE_SIZE)
        members, more = self.store.search_members(
            request.param("queue_id"),
            variables=request.query_map("variables"),
            ids=request.query.get("id", []),
            name_query=request.query_one("q"),
            page=page,
            size=size,
        )
        return _ok({"next": more, "items": self._members_json(members)})

    def read_member(self, request: ApiRequest) -> ApiResponse:
        member = self.store.get_member(request.param("queue_id"), request.param("id"))
        return _ok(self.store.member_json(member))

    def patch_member(self, request: ApiRequest) -> ApiResponse:
        body = request.body
        validation.validate_body(validation.PATCH_MEMBER, body)
        # ``fields`` names what changes; without it, every member field present in the body.
        fields = body.get("fields") or [key for key in body if key in PATCHABLE_MEMBER_FIELDS]
        unknown = sorted(set(fields) - PATCHABLE_MEMBER_FIELDS)
        if unknown:
            raise bad_request("app.member.patch.fields", f"fields: cannot patch {', '.join(unknown)}")
        changes = {name: body.get(name) for name in fields}
        member = self.store.patch_member(request.param("queue_id"), request.param("id"), changes)
        return _ok(self.store.member_json(member), committed=True)

    def delete_member(self, request: ApiRequest) -> ApiResponse:
        member = self.store.delete_member(request.param("queue_id"), request.param("id"))
        return _ok(self.store.member_json(member), committed=True)

    def delete_members(self, request: ApiRequest) -> ApiResponse:
        body = request.body if request.body is not None else {}
        validation.validate_body(validation.DELETE_MEMBERS, body)
        deleted = self.store.delete_members(
            request.param("queue_id"),
            # ``id`` (current) and ``ids`` (deprecated): engine grpc_api/cc_member.go uses ``ids``
            # instead of ``id`` when both are sent.
            ids=[str(member_id) for member_id in (body.get("ids") or body.get("id") or [])],
            variables=body.get("variables"),
        )
        return _ok({"next": False, "items": self._members_json(deleted)}, committed=True)

    # -- agents and calls -----------------------------------------------------------------

    def list_communication_types(self, request: ApiRequest) -> ApiResponse:
        return self._page(self.store.communication_types_json(), request)

    def list_agents(self, request: ApiRequest) -> ApiResponse:
        agents, more = self.store.list_agents(
            queue_id=request.query_one("queue_id"),
            name_query=request.query_one("q"),
            page=request.query_int("page", 1),
            size=request.query_int("size", _DEFAULT_PAGE_SIZE),
        )
        return _ok({"next": more, "items": agents})

    def set_agent_status(self, request: ApiRequest) -> ApiResponse:
        validation.validate_body(validation.AGENT_STATUS, request.body)
        self.store.set_agent_status(request.param("id"), request.body["status"])
        return _ok({}, committed=True)

    def create_call(self, request: ApiRequest) -> ApiResponse:
        validation.validate_body(validation.CREATE_CALL, request.body)
        call = self.store.create_call(
            from_endpoint=request.body["from"],
            destination=request.body["destination"],
            params=request.body.get("params") or {},
        )
        return _ok({"id": call.id}, committed=True)

    def hangup_call(self, request: ApiRequest) -> ApiResponse:
        self.store.end_call(request.path_params["id"])
        return _ok({}, committed=True)

    # -- helpers --------------------------------------------------------------------------

    def _members_json(self, members: list[Member]) -> list[dict[str, Any]]:
        return [self.store.member_json(member) for member in members]

    @staticmethod
    def _page(items: list[dict[str, Any]], request: ApiRequest) -> ApiResponse:
        page = request.query_int("page", 1)
        size = request.query_int("size", _DEFAULT_PAGE_SIZE)
        start = (page - 1) * size
        return _ok({"next": len(items) > start + size, "items": items[start : start + size]})
