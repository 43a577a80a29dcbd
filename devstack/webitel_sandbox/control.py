"""Sandbox-only endpoints (no token, no faults): the page, state dump, fault knobs, reset.

They live outside ``/api`` so they can never be mistaken for engine endpoints, and keep
answering while the ``down`` or ``fail_5xx`` knobs are on, so a test can turn them off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.webitel_sandbox import html_page
from devstack.webitel_sandbox.errors import bad_request
from devstack.webitel_sandbox.faults import Faults
from devstack.webitel_sandbox.routing import ApiRequest, ApiResponse, Router
from devstack.webitel_sandbox.store import Store

CONTROL_PREFIX = "/_sandbox"


class ControlApi:
    def __init__(self, store: Store, faults: Faults, reset: Callable[[bool], None]) -> None:
        self.store = store
        self.faults = faults
        # reset(seed): clear state and faults, then optionally seed the demo data.
        self._reset = reset

    def router(self) -> Router:
        router = Router()
        router.add("GET", "/", self.page)
        router.add("GET", CONTROL_PREFIX, self.page)
        router.add("GET", f"{CONTROL_PREFIX}/state", self.state)
        router.add("GET", f"{CONTROL_PREFIX}/faults", self.get_faults)
        router.add("POST", f"{CONTROL_PREFIX}/faults", self.set_faults)
        router.add("POST", f"{CONTROL_PREFIX}/reset", self.reset)
        return router

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
