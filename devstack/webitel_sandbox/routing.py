"""A tiny router: ``/call_center/queues/{queue_id}/members`` templates to handler callables."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.webitel_sandbox.errors import ApiError, bad_request

_INT64_TEXT = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    # Below the /api base path, without the query string.
    path: str
    query: Mapping[str, list[str]]
    body: Any
    request_id: str
    path_params: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str:
        """A path parameter that the engine declares as int64."""
        value = self.path_params[name]
        if not _INT64_TEXT.fullmatch(value):
            raise bad_request("app.request.valid", f"{name}: must be an int64")
        return value

    def query_one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def query_int(self, name: str, default: int, *, minimum: int = 1) -> int:
        raw = self.query_one(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request("app.request.valid", f"{name}: must be an integer") from None
        # Webitel treats page/size below 1 as their defaults.
        return value if value >= minimum else default

    def query_map(self, name: str) -> dict[str, str]:
        """grpc-gateway's map syntax: ``name[KEY]=VALUE`` query parameters."""
        prefix = f"{name}["
        return {
            key[len(prefix) : -1]: values[-1]
            for key, values in self.query.items()
            if key.startswith(prefix) and key.endswith("]") and len(key) > len(prefix) + 1
        }


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    # True when the request changed state (the timeout_after_commit knob applies to these).
    committed: bool = False
    # JSON unless a handler answers a page (``body`` is then the text).
    content_type: str = "application/json"


Handler = Callable[[ApiRequest], ApiResponse]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Register a route; earlier routes win, so add literal paths before templated ones."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append(_Route(method.upper(), re.compile(f"^{regex}/?$"), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        path_matched = False
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if route.method == method.upper():
                return route.handler, match.groupdict()
        if path_matched:
            raise ApiError(405, "app.request.method", f"{method} is not allowed on {path}")
        raise ApiError(404, "app.request.not_found", f"no such endpoint: {method} {path}")
