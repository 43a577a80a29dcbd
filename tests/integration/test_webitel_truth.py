"""The sandbox refuses what Webitel refuses and answers what it answers (docs/webitel-contract.md).

Report visibility (engine store/sqlstore/cc_queue_store.go QueueReportGeneral), DELETE members
by ``id`` (protos engine/member.proto), the one-item bulk (engine app/cc_member.go), and the
hook knob that fires Webitel's real queue and team hook bodies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from devstack.webitel_sandbox import (
    CALLBACK_QUEUE_ID,
    DEBTOR_QUEUE_ID,
    INBOUND_QUEUE_ID,
    WebitelSandbox,
    hooks,
)
from ringback.adapters.webitel_http import HttpWebitelClient
from ringback.domain.events.webitel import WebitelEvent
from ringback.domain.webitel import Lookup, MemberCommunication, MemberItem, WebitelQueueNotVisible

pytestmark = pytest.mark.integration

TOKEN = "sandbox-truth-token"
TIMEOUT = httpx.Timeout(5.0, connect=2.0)


@pytest.fixture
def sandbox() -> Iterator[WebitelSandbox]:
    with WebitelSandbox(token=TOKEN) as running:
        running.seed_demo()
        yield running


@pytest.fixture
def client(sandbox: WebitelSandbox) -> Iterator[HttpWebitelClient]:
    with HttpWebitelClient(sandbox.url, TOKEN, timeout=TIMEOUT) as webitel:
        yield webitel


def item(tag: str) -> MemberItem:
    return MemberItem(
        name=tag,
        variables={"ringback_id": tag},
        communications=[MemberCommunication(destination="+420777666555", type=Lookup(id="1"))],
    )


def control(sandbox: WebitelSandbox, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{sandbox.root_url}/_sandbox/{path}", json=body, timeout=TIMEOUT)


# -- reports: only queues the token's user may see ---------------------------------------------


def test_a_token_without_rights_sees_an_empty_report(
    sandbox: WebitelSandbox, client: HttpWebitelClient
) -> None:
    assert control(sandbox, "token-user", {"user_id": "300", "roles": []}).status_code == 200
    answer = httpx.get(
        f"{sandbox.url}/call_center/queues/reports/general",
        params={"joined_at.from": "0", "joined_at.to": "1"},
        headers={"X-Webitel-Access": TOKEN},
    )
    assert answer.status_code == 200 and answer.json()["items"] == []
    no_window = httpx.get(
        f"{sandbox.url}/call_center/queues/reports/general", headers={"X-Webitel-Access": TOKEN}
    )
    assert no_window.status_code == 400 and no_window.json()["detail"] == "filter joined_at is required"
    with pytest.raises(WebitelQueueNotVisible) as hidden:
        client.queue_agent_counts(CALLBACK_QUEUE_ID)
    assert hidden.value.health_reason == "the Webitel token's user needs supervisor rights on queue 1"


def test_a_supervisor_sees_the_queues_of_the_agents_they_supervise(sandbox: WebitelSandbox) -> None:
    sandbox.add_queue("61", "supervised", 4, grantee_id=None)
    sandbox.add_queue("62", "someone else's", 4, grantee_id=None)
    sandbox.add_agent("60", "Sue Supervisor", "1060", user_id="600")
    sandbox.add_agent("63", "Agent of Sue", "1063", queue_ids=["61"], supervisor_ids=["60"])
    sandbox.add_agent("64", "Agent of nobody", "1064", queue_ids=["62"])
    sandbox.set_token_user(user_id="600", roles=[], agent_id="60")
    assert sandbox.store.visible_queue_ids() == {"61"}
    with HttpWebitelClient(sandbox.url, TOKEN, timeout=TIMEOUT) as webitel:
        assert webitel.queue_agent_counts("61").online == 1
        with pytest.raises(WebitelQueueNotVisible):
            webitel.queue_agent_counts("62")
    # The grantee group: a role of the user on the queue shows it too.
    sandbox.store.queues["62"].grantee_id = "7"
    sandbox.set_token_user(user_id="600", roles=["7"], agent_id="60")
    assert sandbox.store.visible_queue_ids() == {"61", "62"}


def test_break_out_counts_as_pause_in_the_report(sandbox: WebitelSandbox, client: HttpWebitelClient) -> None:
    before = client.queue_agent_counts(DEBTOR_QUEUE_ID)
    sandbox.set_agent_status("11", "break_out")  # Alice: online -> break_out
    after = client.queue_agent_counts(DEBTOR_QUEUE_ID)
    assert (after.pause, after.online, after.total) == (before.pause + 1, before.online - 1, before.total)


# -- members ------------------------------------------------------------------------------------


def test_delete_members_sends_id_and_the_deprecated_ids_still_works(
    sandbox: WebitelSandbox, client: HttpWebitelClient
) -> None:
    ids = client.create_members_bulk(CALLBACK_QUEUE_ID, [item("a"), item("b"), item("c")], file_name="f")
    client.delete_members(CALLBACK_QUEUE_ID, ids=[ids[0]])
    remaining = {m["id"] for m in sandbox.members(CALLBACK_QUEUE_ID)}
    assert remaining == {ids[1], ids[2]}
    answer = httpx.request(
        "DELETE",
        f"{sandbox.url}/call_center/queues/{CALLBACK_QUEUE_ID}/members",
        json={"ids": [ids[1]]},
        headers={"X-Webitel-Access": TOKEN},
    )
    assert answer.status_code == 200 and [m["id"] for m in answer.json()["items"]] == [ids[1]]
    answer = httpx.request(
        "DELETE",
        f"{sandbox.url}/call_center/queues/{CALLBACK_QUEUE_ID}/members",
        json={"id": [ids[2]]},
        headers={"X-Webitel-Access": TOKEN},
    )
    assert answer.status_code == 200 and sandbox.members(CALLBACK_QUEUE_ID) == []


def test_the_client_puts_the_ids_under_id(sandbox: WebitelSandbox) -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"items": []})

    with HttpWebitelClient(
        sandbox.url, TOKEN, timeout=TIMEOUT, transport=httpx.MockTransport(handler)
    ) as mock:
        mock.delete_members(CALLBACK_QUEUE_ID, ids=["5", "6"])
    assert bodies == [{"id": ["5", "6"]}]


def test_a_one_item_bulk_drops_the_file_name_as_webitels_create_does(
    sandbox: WebitelSandbox, client: HttpWebitelClient
) -> None:
    [one] = client.create_members_bulk(CALLBACK_QUEUE_ID, [item("solo")], file_name="batch-1")
    two = client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x"), item("y")], file_name="batch-2")
    imports = {m["id"]: m["import_id"] for m in sandbox.members(CALLBACK_QUEUE_ID)}
    assert imports[one] is None and {imports[i] for i in two} == {"batch-2"}


# -- the hook knob ------------------------------------------------------------------------------


class _Catcher(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        data = json.dumps({"accepted": 1}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def catcher() -> Iterator[tuple[str, list[tuple[dict[str, str], Any]]]]:
    received: list[tuple[dict[str, str], Any]] = []
    handler = type("Catcher", (_Catcher,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/events/webitel", received
    server.shutdown()
    server.server_close()


def test_the_hook_knob_fires_webitels_queue_hook_body(
    sandbox: WebitelSandbox, client: HttpWebitelClient, catcher: tuple[str, list[Any]]
) -> None:
    url, received = catcher
    assert control(sandbox, "hooks", {"url": url, "token": "hook-token"}).status_code == 200
    [member_id] = client.create_members_bulk(CALLBACK_QUEUE_ID, [item("cb-1")], file_name="f")
    fired = control(
        sandbox,
        "hooks/fire",
        {
            "hook": "queue",
            "state": "offering",
            "queue_id": CALLBACK_QUEUE_ID,
            "member_id": member_id,
            "agent_id": "11",
        },
    )
    assert fired.status_code == 200 and fired.json()["status"] == 202
    [(headers, body)] = received
    assert headers["authorization"] == "Bearer hook-token" and headers["content-type"] == "application/json"
    # Exactly the schema's keys, each a string; Webitel's names.
    assert set(body) == set(hooks.QUEUE_HOOK_SCHEMA[0]["httpRequest"]["data"])
    assert all(isinstance(value, str) for value in body.values())
    assert (body["event"], body["channel"], body["queue_id"], body["member_id"]) == (
        "offering",
        "call",
        CALLBACK_QUEUE_ID,
        member_id,
    )
    assert body["ringback_id"] == "cb-1" and body["agent_id"] == "11" and body["destination_seq"] == "1"
    assert body["timestamp"].isdigit() and body["bridged_at"] == ""
    hook = WebitelEvent.model_validate(body)
    assert hook.known and hook.problems() == [] and hook.outbox_id == "cb-1"


def test_the_hook_knob_fires_the_team_hook_on_a_status_change(
    sandbox: WebitelSandbox, catcher: tuple[str, list[Any]]
) -> None:
    url, received = catcher
    sandbox.set_hook_target(hooks.HookTarget(url=url, token="t"))
    for status in ("pause", "online"):
        fired = sandbox.fire_hook(
            {
                "hook": "team",
                "agent_id": "12",
                "status": status,
                "status_payload": "lunch" if status == "pause" else None,
            }
        )
        assert fired["status"] == 202
    assert [body for _, body in received] == [
        {
            "event": "agent_status",
            "agent_id": "12",
            "user_id": "102",
            "team_id": "1",
            "agent_name": "Bob Dvorak",
            "status": "pause",
            "status_payload": "lunch",
            "extension": "1002",
        },
        {
            "event": "agent_status",
            "agent_id": "12",
            "user_id": "102",
            "team_id": "1",
            "agent_name": "Bob Dvorak",
            "status": "online",
            "status_payload": "",
            "extension": "1002",
        },
    ]
    assert sandbox.state()["agents"][1]["status"] == "online"


def test_the_hook_knob_refuses_what_it_cannot_build(
    sandbox: WebitelSandbox, catcher: tuple[str, list[Any]]
) -> None:
    assert (
        control(sandbox, "hooks/fire", {"hook": "queue", "state": "bridged"}).status_code == 400
    )  # no target
    assert (
        control(sandbox, "hooks", {"url": "http://192.0.2.1/v1/events/webitel", "token": "t"}).status_code
        == 400
    )
    url, _ = catcher
    assert control(sandbox, "hooks", {"url": url, "token": "t"}).status_code == 200
    assert (
        control(sandbox, "hooks/fire", {"hook": "queue", "state": "lunch", "queue_id": "1"}).status_code
        == 400
    )
    no_number = {"hook": "queue", "state": "joined", "queue_id": INBOUND_QUEUE_ID}
    assert control(sandbox, "hooks/fire", no_number).status_code == 400
    assert control(sandbox, "hooks/fire", {"hook": "other"}).status_code == 400
