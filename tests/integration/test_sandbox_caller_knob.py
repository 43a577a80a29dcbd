"""The caller knob over HTTP: ``POST /_sandbox/caller`` sends the flow's requests over a real
socket to the hook target's host (here a recording stand-in for ringback on 127.0.0.1), with the
bytes and headers flow_manager would send, and answers the transcript."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from devstack.webitel_sandbox import WebitelSandbox, hooks
from tests.support.sockets import SilentServer

pytestmark = pytest.mark.integration

TOKENS = {"routing": "routing-token-1", "ivr": "ivr-token-1"}
ROUTING = {
    "found": False,
    "debt": False,
    "language": "en",
    "pending_callback": False,
    "callback_id": None,
    "offer_callback": True,
    "estimated_wait_s": "90",
    "wait_queue_id": "3",
    "offer_say": "Your expected wait is about 2 minutes. To keep your place in line and be called back, press 1.",
    "pending_say": None,
    "kept_say": None,
}
ACCEPTED = {
    "accepted": "true",
    "callback_id": "cb-7",
    "linked": "false",
    "expected_call_in_s": "120",
    "position": "1",
    "say": "We will call you in about 2 minutes.",
    "reason": "",
}


class _Ringback(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Ringback

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append({"path": self.path, "headers": dict(self.headers), "raw": raw})
        answer = {"/v1/routing": ROUTING, "/v1/callbacks/ivr": ACCEPTED}.get(self.path)
        data = json.dumps(answer or {"error": "not_found"}).encode()
        self.send_response(200 if answer else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def ringback() -> Iterator[_Ringback]:
    server = _Ringback()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox() -> Iterator[WebitelSandbox]:
    with WebitelSandbox(token="caller-knob") as running:
        running.seed_demo()
        yield running


def knob(sandbox: WebitelSandbox, path: str, body: Any = None, method: str = "POST") -> httpx.Response:
    return httpx.request(method, f"{sandbox.root_url}/_sandbox/{path}", json=body, timeout=30)


def target(sandbox: WebitelSandbox, url: str) -> None:
    answer = knob(sandbox, "hooks", {"url": f"{url}/v1/events/webitel", "token": "events"})
    assert answer.status_code == 200, answer.text


def test_a_caller_sends_the_flows_requests_over_http_to_the_hook_targets_host(
    sandbox: WebitelSandbox, ringback: _Ringback
) -> None:
    target(sandbox, f"http://127.0.0.1:{ringback.server_address[1]}")
    answer = knob(
        sandbox, "caller", {"cid": "+420777000111", "press": "1", "tokens": TOKENS, "call_id": "u-1"}
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["state"] == "hung_up" and report["call_id"] == "u-1"
    lookup, accept = ringback.received
    assert lookup["path"] == "/v1/routing" and lookup["raw"] == b'{"cid":"+420777000111"}'
    assert lookup["headers"]["Authorization"] == "Bearer routing-token-1"
    assert lookup["headers"]["Content-Type"] == "application/json"
    assert accept["path"] == "/v1/callbacks/ivr"
    assert accept["headers"]["Authorization"] == "Bearer ivr-token-1"
    body = json.loads(accept["raw"])
    assert body["call_id"] == "u-1" and body["queue_id"] == "3" and body["language"] == "en"
    assert body["joined_at"] == report["variables"]["ringback_joined_at"] and body["joined_at"].isdigit()
    spoken = [s["text"] for s in report["transcript"] if s["app"] == "tts"]
    assert "about 2 minutes" in spoken[0] and spoken[-1] == ACCEPTED["say"]
    assert "token-1" not in json.dumps(report["transcript"])
    # The played call can be read again; a reset forgets it.
    assert knob(sandbox, "caller/u-1", method="GET").json() == report
    assert knob(sandbox, "reset", {"seed": True}).status_code == 200
    assert knob(sandbox, "caller/u-1", method="GET").status_code == 400


def test_a_held_caller_presses_when_the_timers_fire(sandbox: WebitelSandbox, ringback: _Ringback) -> None:
    target(sandbox, f"http://127.0.0.1:{ringback.server_address[1]}")
    held = knob(sandbox, "caller", {"cid": "+420777000112", "tokens": TOKENS, "hold": True}).json()
    assert held["state"] == "waiting" and [r["path"] for r in ringback.received] == ["/v1/routing"]
    fired = knob(sandbox, f"caller/{held['call_id']}/timers", {"press": "1"}).json()
    assert fired["state"] == "hung_up" and [r["path"] for r in ringback.received][-1] == "/v1/callbacks/ivr"


def test_a_silent_ringback_leaves_the_caller_in_the_queue_without_an_offer(sandbox: WebitelSandbox) -> None:
    silent = SilentServer()
    try:
        target(sandbox, silent.url)
        report = knob(sandbox, "caller", {"cid": "+420777000113", "press": "1", "tokens": TOKENS}).json()
    finally:
        silent.close()
    lookup = report["transcript"][0]
    assert lookup["app"] == "httpRequest" and "error" in lookup and "status" not in lookup
    assert report["state"] == "waiting"
    assert [s["app"] for s in report["transcript"] if s["app"] in ("tts", "hangup")] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tokens": TOKENS}, "cid"),
        ({"cid": "+420777000114"}, "tokens"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_knob_requests_are_400_naming_the_field(sandbox: WebitelSandbox, body: Any, field: str) -> None:
    sandbox.set_hook_target(hooks.HookTarget(url="http://127.0.0.1:9/v1/events/webitel", token="t"))
    answer = knob(sandbox, "caller", body)
    assert answer.status_code == 400 and field in answer.json()["detail"], answer.text


def test_without_a_hook_target_the_knob_says_what_to_set(sandbox: WebitelSandbox) -> None:
    answer = knob(sandbox, "caller", {"cid": "+420777000115", "tokens": TOKENS})
    assert answer.status_code == 400 and "/_sandbox/hooks" in answer.text
