"""Builders of the events Lambda receives, shaped exactly like AWS sends them."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode


def http_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    path_params: dict[str, str] | None = None,
    route_key: str | None = None,
    source_ip: str = "198.51.100.7",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event.

    ``body`` may be a dict/list (sent as JSON), a str, or bytes. Header names are lower-cased,
    as API Gateway does.
    """
    now = datetime.now(UTC)
    raw_body: str | None
    is_b64 = base64_body
    if body is None:
        raw_body = None
    elif isinstance(body, bytes):
        raw_body, is_b64 = base64.b64encode(body).decode(), True
    elif isinstance(body, str):
        raw_body = base64.b64encode(body.encode()).decode() if base64_body else body
    else:
        raw_body = json.dumps(body)
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    if body is not None and not isinstance(body, (str, bytes)):
        hdrs.setdefault("content-type", "application/json")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method.upper()} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"host": "api.example.com", "user-agent": "tests", **hdrs},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "tests",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key or f"{method.upper()} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_params:
        event["pathParameters"] = dict(path_params)
    if raw_body is not None:
        event["body"] = raw_body
    return event


def response_json(response: dict[str, Any]) -> Any:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None
