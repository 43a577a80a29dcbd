"""Sandbox-only endpoints (no token, no faults): the page, state dump, fault knobs, reset.

They live outside ``/api`` so they can never be mistaken for engine endpoints, and keep
answering while the ``down`` or ``fail_5xx`` knobs are on, so a test can turn them off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.webitel_sandbox import caller, hooks, html_page
from devstack.webitel_sandbox.errors import bad_request
from devstack.webitel_sandbox.faults import Faults
from devstack.webitel_sandbox.routing import ApiRequest, ApiResponse, Router
from devstack.webitel_sandbox.store import Store

CONTROL_PREFIX = "/_sandbox"


class ControlApi:
    def __init__(
        self,
        store: Store,
        faults: Faults,
        reset: Callable[[bool], None],
        fire: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        set_target: Callable[[hooks.HookTarget], None] | None = None,
        callers: caller.CallerDesk | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        # reset(seed): clear state and faults, then optionally seed the demo data.
        self._reset = reset
        self._fire = fire
        self._set_target = set_target
        self._callers = callers

    def router(self) -> Router:
        router = Router()
        router.add("GET", "/", self.page)
        router.add("GET", CONTROL_PREFIX, self.page)
        router.add("GET", f"{CONTROL_PREFIX}/state", self.state)
        router.add("GET", f"{CONTROL_PREFIX}/faults", self.get_faults)
        router.add("POST", f"{CONTROL_PREFIX}/faults", self.set_faults)
        router.add("POST", f"{CONTROL_PREFIX}/reset", self.reset)
        router.add("POST", f"{CONTROL_PREFIX}/token-user", self.token_user)
        router.add("POST", f"{CONTROL_PREFIX}/hooks", self.hook_target)
        router.add("POST", f"{CONTROL_PREFIX}/hooks/fire", self.fire_hook)
        router.add("POST", f"{CONTROL_PREFIX}/caller", self.play_caller)
        router.add("GET", f"{CONTROL_PREFIX}/caller/{{call_id}}", self.played_call)
        router.add("POST", f"{CONTROL_PREFIX}/caller/{{call_id}}/timers", self.caller_timers)
        router.add("POST", f"{CONTROL_PREFIX}/queues/{{queue_id}}/waiting", self.queue_waiting)
        router.add("GET", f"{CONTROL_PREFIX}/queues/{{queue_id}}/dial-order", self.dial_order)
        return router

    def play_caller(self, request: ApiRequest) -> ApiResponse:
        """An inbound caller through the flow of docs/ivr-callbacks.md (devstack/webitel_sandbox/caller.py)."""
        if self._callers is None or not isinstance(request.body, dict):
            raise bad_request("sandbox.caller.valid", "body must be a JSON object with cid and tokens")
        try:
            return ApiResponse(200, self._callers.play(request.body))
        except caller.FlowError as exc:
            raise bad_request("sandbox.caller.valid", str(exc)) from None

    def played_call(self, request: ApiRequest) -> ApiResponse:
        if self._callers is None:
            raise bad_request("sandbox.caller.valid", "this sandbox plays no callers")
        try:
            return ApiResponse(200, self._callers.call(request.path_params["call_id"]))
        except caller.FlowError as exc:
            raise bad_request("sandbox.caller.valid", str(exc)) from None

    def caller_timers(self, request: ApiRequest) -> ApiResponse:
        """The timers of a held caller's queue fire now: ``{"press": "1"}``."""
        if self._callers is None:
            raise bad_request("sandbox.caller.valid", "this sandbox plays no callers")
        body = request.body if isinstance(request.body, dict) else {}
        try:
            return ApiResponse(200, self._callers.fire_timers(request.path_params["call_id"], body))
        except caller.FlowError as exc:
            raise bad_request("sandbox.caller.valid", str(exc)) from None

    def queue_waiting(self, request: ApiRequest) -> ApiResponse:
        """Set the queue's waiting stats of the general report: ``{"waiting": N, "avg_wait_s":
        S}`` (``avg_asa_sec`` is accepted too); ``{"waiting": null}`` counts members again."""
        body = request.body if isinstance(request.body, dict) else {}
        waiting = body.get("waiting")
        average = body.get("avg_asa_sec", body.get("avg_wait_s", 0))
        if waiting is not None and (isinstance(waiting, bool) or not isinstance(waiting, int) or waiting < 0):
            raise bad_request("sandbox.queue.waiting.valid", "waiting must be a whole number >= 0 or null")
        if isinstance(average, bool) or not isinstance(average, (int, float)) or average < 0:
            raise bad_request("sandbox.queue.waiting.valid", "avg_wait_s must be a number >= 0")
        queue = self.store.set_queue_waiting(
            request.param("queue_id"), waiting=waiting, avg_asa_sec=float(average)
        )
        return ApiResponse(200, {"id": queue.id, "waiting": queue.waiting, "avg_asa_sec": queue.avg_asa_sec})

    def dial_order(self, request: ApiRequest) -> ApiResponse:
        """The queue's members in the order Webitel's dialer would offer them now."""
        members = self.store.dial_order(request.param("queue_id"))
        return ApiResponse(
            200,
            {
                "members": [
                    {
                        "id": member.id,
                        "name": member.name,
                        "communication": str(member.communications[0].get("destination", ""))
                        if member.communications
                        else "",
                        "priority": member.priority,
                        "min_offering_at": member.min_offering_at or "0",
                        "variables": dict(member.variables),
                    }
                    for member in members
                ]
            },
        )

    def token_user(self, request: ApiRequest) -> ApiResponse:
        """Who the access token is: ``{"user_id", "roles": [...], "agent_id"}`` (report rights)."""
        body = request.body if isinstance(request.body, dict) else {}
        roles = body.get("roles", [])
        if not isinstance(roles, list):
            raise bad_request("sandbox.token_user.valid", "roles must be a list of role ids")
        agent_id = body.get("agent_id")
        user = self.store.set_token_user(
            user_id=str(body.get("user_id") or "100"),
            roles=[str(role) for role in roles],
            agent_id=None if agent_id in (None, "") else str(agent_id),
        )
        return ApiResponse(
            200, {"user_id": user.user_id, "roles": list(user.roles), "agent_id": user.agent_id}
        )

    def hook_target(self, request: ApiRequest) -> ApiResponse:
        """Where fired hooks are posted: ``{"url": ".../v1/events/webitel", "token": "..."}``."""
        body = request.body if isinstance(request.body, dict) else {}
        if self._set_target is None:
            raise bad_request("sandbox.hooks.valid", "this sandbox cannot fire hooks")
        try:
            target = hooks.HookTarget(url=str(body.get("url") or ""), token=str(body.get("token") or ""))
        except ValueError as exc:
            raise bad_request("sandbox.hooks.valid", str(exc)) from None
        self._set_target(target)
        return ApiResponse(200, {"url": target.url})

    def fire_hook(self, request: ApiRequest) -> ApiResponse:
        """Fire a queue hook (``{"hook": "queue", "state", "queue_id", ...}``) or the team hook
        (``{"hook": "team", "agent_id", "status", "status_payload"}``) at the hook target."""
        if self._fire is None or not isinstance(request.body, dict):
            raise bad_request("sandbox.hooks.valid", "body must be a JSON object naming the hook")
        try:
            return ApiResponse(200, self._fire(request.body))
        except ValueError as exc:
            raise bad_request("sandbox.hooks.valid", str(exc)) from None

    def page(self, request: ApiRequest) -> ApiResponse:
        text = html_page.render(self.store.dump(), self.faults.snapshot())
        return ApiResponse(200, text, content_type="text/html; charset=utf-8")

    def state(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(200, {**self.store.dump(), "faults": self.faults.snapshot()})

    def get_faults(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse(200, self.faults.snapshot())

    def set_faults(self, request: ApiRequest) -> ApiResponse:
        if not isinstance(request.body, dict):
            raise bad_request("sandbox.faults.valid", "body must be a JSON object of knob: value")
        try:
            self.faults.update(request.body)
        except ValueError as exc:
            raise bad_request("sandbox.faults.valid", str(exc)) from None
        return ApiResponse(200, self.faults.snapshot())

    def reset(self, request: ApiRequest) -> ApiResponse:
        body: Any = request.body if request.body is not None else {}
        seed = isinstance(body, dict) and bool(body.get("seed", False))
        self._reset(seed)
        return ApiResponse(200, {"reset": True, "seeded": seed})
