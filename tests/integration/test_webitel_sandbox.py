"""HttpWebitelClient against the Webitel sandbox (a real HTTP server on a free port).

Covers the contract both sides encode (bulk, search by tag, stop, delete, calls, agents,
availability), error mapping, and every fault knob. No timing assertions: latency is checked
through its effect (a client timeout shorter than the latency).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.webitel_sandbox import (
    CALLBACK_QUEUE_ID,
    DEBTOR_QUEUE_ID,
    INBOUND_QUEUE_ID,
    WebitelSandbox,
    validation,
)
from ringback.adapters.webitel_http import HttpWebitelClient
from ringback.domain.webitel import (
    CallParams,
    CreateCallRequest,
    Lookup,
    MemberCommunication,
    MemberItem,
    QueueAgentCounts,
    WebitelAuthError,
    WebitelContractError,
    WebitelRejected,
    WebitelUnavailable,
)

pytestmark = pytest.mark.integration

TOKEN = "sandbox-test-token"
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
SHORT_TIMEOUT = httpx.Timeout(0.4, connect=2.0)
ALICE_USER, ALICE_AGENT, BOB_AGENT = "101", "11", "12"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def webitel_sandbox() -> Iterator[WebitelSandbox]:
    with WebitelSandbox(token=TOKEN) as sandbox:
        sandbox.seed_demo()
        yield sandbox


@pytest.fixture
def client(webitel_sandbox: WebitelSandbox) -> Iterator[HttpWebitelClient]:
    with HttpWebitelClient(webitel_sandbox.url, TOKEN, timeout=TIMEOUT) as webitel:
        yield webitel


@pytest.fixture
def impatient_client(webitel_sandbox: WebitelSandbox) -> Iterator[HttpWebitelClient]:
    with HttpWebitelClient(webitel_sandbox.url, TOKEN, timeout=SHORT_TIMEOUT) as webitel:
        yield webitel


def item(name: str, tag: str, destination: str = "+420777666555", **extra: Any) -> MemberItem:
    return MemberItem(
        name=name,
        variables={"ringback_id": tag},
        communications=[MemberCommunication(destination=destination, type=Lookup(id="1"))],
        **extra,
    )


def stored_names(sandbox: WebitelSandbox, queue_id: str = CALLBACK_QUEUE_ID) -> list[str]:
    return [member["name"] for member in sandbox.members(queue_id)]


# -- auth -------------------------------------------------------------------------------------


def test_requests_without_the_token_get_401_with_the_webitel_error_body(
    webitel_sandbox: WebitelSandbox,
) -> None:
    response = httpx.get(f"{webitel_sandbox.url}/call_center/agents")

    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"id", "status", "detail", "request_id", "code"}
    assert body["code"] == 401
    assert body["request_id"] == response.headers["X-Request-Id"]


def test_a_wrong_token_raises_auth_error_with_the_request_id(webitel_sandbox: WebitelSandbox) -> None:
    webitel = HttpWebitelClient(webitel_sandbox.url, "not-the-token", timeout=TIMEOUT)

    with webitel, pytest.raises(WebitelAuthError) as caught:
        webitel.list_agents()

    assert caught.value.status == 401
    assert caught.value.request_id
    assert "not-the-token" not in str(caught.value)


def test_request_ids_are_unique_per_request(webitel_sandbox: WebitelSandbox) -> None:
    ids = {httpx.get(f"{webitel_sandbox.url}/calls").headers["X-Request-Id"] for _ in range(5)}

    assert len(ids) == 5


# -- members ----------------------------------------------------------------------------------


def test_bulk_create_returns_ids_in_the_order_of_items(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    items = [item("first", "t1"), item("second", "t2", priority=9), item("third", "t3")]

    ids = client.create_members_bulk(CALLBACK_QUEUE_ID, items, file_name="ringback-batch-1")

    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9]+", member_id) for member_id in ids)
    by_id = {member["id"]: member for member in webitel_sandbox.members(CALLBACK_QUEUE_ID)}
    assert [by_id[member_id]["name"] for member_id in ids] == ["first", "second", "third"]
    assert by_id[ids[1]]["priority"] == 9
    assert by_id[ids[0]]["variables"] == {"ringback_id": "t1"}
    assert by_id[ids[0]]["import_id"] == "ringback-batch-1"


def test_an_empty_bulk_sends_nothing(client: HttpWebitelClient, webitel_sandbox: WebitelSandbox) -> None:
    assert client.create_members_bulk(CALLBACK_QUEUE_ID, [], file_name="empty") == []
    assert webitel_sandbox.members() == []


def test_one_invalid_item_rejects_the_whole_bulk(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    # Valid for the client model, but communication type 99 does not exist on the server.
    unknown_type = MemberItem(
        name="bad",
        communications=[MemberCommunication(destination="+420777666000", type=Lookup(id="99"))],
    )

    with pytest.raises(WebitelRejected) as caught:
        client.create_members_bulk(
            CALLBACK_QUEUE_ID, [item("ok-1", "a"), unknown_type, item("ok-2", "b")], file_name="f"
        )

    assert caught.value.status == 400
    assert caught.value.request_id
    assert "items[1]" in (caught.value.detail or "")
    assert webitel_sandbox.members() == []


def test_the_sandbox_schema_rejects_what_the_client_models_would_never_send(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    # model_construct skips validation: this is what a buggy caller could put on the wire.
    no_communications = MemberItem.model_construct(name="x", priority=0, variables={}, communications=[])

    with pytest.raises(WebitelRejected, match=r"communications: violates minItems 1"):
        client.create_members_bulk(CALLBACK_QUEUE_ID, [item("ok", "a"), no_communications], file_name="f")
    assert webitel_sandbox.members() == []


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"items": [{"communications": [{"type": {"id": "1"}}], "variables": {"n": 3}}]}, "variables.n"),
        ({"items": [{"communications": [{"type": {"id": "0"}}]}]}, "type.id"),
        ({"items": [{"communications": [{"type": {}}]}]}, "'id' is a required property"),
        ({"items": [{"communications": [{"type": {"id": "1"}}] * 21}]}, "maxItems 20"),
        ({"items": [{"name": "n" * 251, "communications": [{"type": {"id": "1"}}]}]}, "maxLength 250"),
        ({"file_name": "f" * 121, "items": []}, "file_name: violates maxLength 120"),
        (
            {"items": [{"bucket": {"id": 1}, "skill": {"id": "2"}, "communications": [{"type": {"id": 1}}]}]},
            "bucket and skill",
        ),
        ({"items": [{"communications": [{"type": {"id": "1"}, "stopAt": "1"}]}]}, "stopAt"),
    ],
)
def test_the_sandbox_enforces_the_engine_rules_beyond_the_2020_swagger(
    webitel_sandbox: WebitelSandbox, body: dict[str, Any], complaint: str
) -> None:
    response = httpx.post(
        f"{webitel_sandbox.url}/call_center/queues/1/members/bulk",
        json=body,
        headers={"X-Webitel-Access": TOKEN},
    )

    assert response.status_code == 400
    assert complaint in response.json()["detail"]
    assert webitel_sandbox.members() == []


def test_the_sandbox_accepts_int64_as_numbers_and_the_newer_fields(webitel_sandbox: WebitelSandbox) -> None:
    body = {
        "file_name": "numbers",
        "items": [
            {
                "expire_at": 1767225600000,
                "agent": {"id": 11},
                "communications": [{"destination": "1", "type": {"id": 1}, "stop_at": 5, "dtmf": "12#"}],
            }
        ],
    }

    response = httpx.post(
        f"{webitel_sandbox.url}/call_center/queues/1/members/bulk",
        json=body,
        headers={"X-Webitel-Access": TOKEN},
    )

    assert response.status_code == 200
    (stored,) = webitel_sandbox.members()
    assert stored["expire_at"] == "1767225600000"
    assert stored["agent"] == {"id": "11"}


def test_inbound_queues_take_no_members(client: HttpWebitelClient, webitel_sandbox: WebitelSandbox) -> None:
    with pytest.raises(WebitelRejected, match="inbound"):
        client.create_members_bulk(INBOUND_QUEUE_ID, [item("x", "a")], file_name="f")
    with pytest.raises(WebitelRejected):
        client.create_member(INBOUND_QUEUE_ID, item("x", "a"))
    assert webitel_sandbox.members() == []


def test_create_member_returns_its_id(client: HttpWebitelClient, webitel_sandbox: WebitelSandbox) -> None:
    member_id = client.create_member(DEBTOR_QUEUE_ID, item("single", "s1"))

    (stored,) = webitel_sandbox.members(DEBTOR_QUEUE_ID)
    assert stored["id"] == member_id
    assert stored["name"] == "single"


def test_search_finds_members_by_variables_and_pages(client: HttpWebitelClient) -> None:
    client.create_members_bulk(
        CALLBACK_QUEUE_ID, [item("a1", "A"), item("b1", "B"), item("a2", "A")], file_name="f"
    )

    found = client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "A"})
    first_page = client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "A"}, page=1, size=1)
    second_page = client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "A"}, page=2, size=1)

    assert [member.name for member in found.items] == ["a1", "a2"]
    assert not found.next
    assert all(member.variables["ringback_id"] == "A" for member in found.items)
    assert (first_page.next, [m.name for m in first_page.items]) == (True, ["a1"])
    assert (second_page.next, [m.name for m in second_page.items]) == (False, ["a2"])
    assert client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "none"}).items == []
    assert client.search_members(DEBTOR_QUEUE_ID, {"ringback_id": "A"}).items == []


def test_search_needs_every_variable_to_match(client: HttpWebitelClient) -> None:
    tagged = MemberItem(
        name="both",
        variables={"ringback_id": "T", "site": "eshop"},
        communications=[MemberCommunication(destination="+420777666555", type=Lookup(id="1"))],
    )
    client.create_members_bulk(CALLBACK_QUEUE_ID, [tagged, item("only-tag", "T")], file_name="f")

    found = client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "T", "site": "eshop"})

    assert [member.name for member in found.items] == ["both"]


def test_stop_member_sets_its_stop_cause(client: HttpWebitelClient, webitel_sandbox: WebitelSandbox) -> None:
    (member_id,) = client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x", "S")], file_name="f")

    client.stop_member(CALLBACK_QUEUE_ID, member_id)

    (found,) = client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "S"}).items
    assert found.is_stopped
    assert found.stop_cause == "cancel"
    assert webitel_sandbox.members()[0]["name"] == "x"  # stopped, not deleted


def test_stopping_an_unknown_member_is_rejected(client: HttpWebitelClient) -> None:
    with pytest.raises(WebitelRejected) as caught:
        client.stop_member(CALLBACK_QUEUE_ID, "999999")

    assert caught.value.status == 404


def test_the_sandbox_patches_only_the_named_fields_and_reads_and_deletes_one_member(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    (member_id,) = client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x", "P")], file_name="f")
    member_url = f"{webitel_sandbox.url}/call_center/queues/1/members/{member_id}"
    headers = {"X-Webitel-Access": TOKEN}
    patch = {
        "fields": ["priority", "variables", "min_offering_at", "expire_at"],
        "priority": 50,
        "variables": {"ringback_id": "P", "round": "2"},
        "min_offering_at": 1767222000000,
        "expire_at": "1767225600000",
        "name": "not named in fields, so ignored",
    }

    assert httpx.patch(member_url, json=patch, headers=headers).status_code == 200
    read = httpx.get(member_url, headers=headers).json()
    assert (read["priority"], read["variables"]["round"], read["name"]) == (50, "2", "x")
    assert (read["min_offering_at"], read["expire_at"]) == ("1767222000000", "1767225600000")

    assert httpx.delete(member_url, headers=headers).status_code == 200
    assert httpx.get(member_url, headers=headers).status_code == 404
    assert webitel_sandbox.members() == []


def test_delete_members_by_variables_and_by_ids(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    ids = client.create_members_bulk(
        CALLBACK_QUEUE_ID, [item("a", "A"), item("b", "B"), item("c", "C")], file_name="f"
    )

    client.delete_members(CALLBACK_QUEUE_ID, variables={"ringback_id": "A"})
    assert stored_names(webitel_sandbox) == ["b", "c"]

    client.delete_members(CALLBACK_QUEUE_ID, ids=[ids[2]])
    assert stored_names(webitel_sandbox) == ["b"]


def test_delete_members_refuses_an_empty_filter_which_would_empty_the_queue(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    client.create_members_bulk(CALLBACK_QUEUE_ID, [item("keep", "K")], file_name="f")

    with pytest.raises(ValueError, match="no filter"):
        client.delete_members(CALLBACK_QUEUE_ID)
    with pytest.raises(ValueError, match="no filter"):
        client.delete_members(CALLBACK_QUEUE_ID, ids=[], variables={})

    assert stored_names(webitel_sandbox) == ["keep"]


def test_the_sandbox_deletes_the_whole_queue_without_a_filter_like_webitel(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    client.create_members_bulk(CALLBACK_QUEUE_ID, [item("a", "A"), item("b", "B")], file_name="f")
    client.create_member(DEBTOR_QUEUE_ID, item("other queue", "D"))

    response = httpx.request(
        "DELETE", f"{webitel_sandbox.url}/call_center/queues/1/members", headers={"X-Webitel-Access": TOKEN}
    )

    assert response.status_code == 200
    assert len(response.json()["items"]) == 2
    assert stored_names(webitel_sandbox) == []
    assert stored_names(webitel_sandbox, DEBTOR_QUEUE_ID) == ["other queue"]


def test_parallel_bulks_get_distinct_ids(client: HttpWebitelClient, webitel_sandbox: WebitelSandbox) -> None:
    def upload(batch: int) -> list[str]:
        items = [item(f"b{batch}-{index}", f"T{batch}") for index in range(5)]
        return client.create_members_bulk(CALLBACK_QUEUE_ID, items, file_name=f"batch-{batch}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(upload, range(16)))

    all_ids = [member_id for ids in batches for member_id in ids]
    assert len(set(all_ids)) == 80
    assert len(webitel_sandbox.members()) == 80


# -- calls, agents, availability ---------------------------------------------------------------


def test_create_call_is_recorded_and_a_busy_user_gets_400(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    params = CallParams(timeout=30, variables={"ringback_id": "C1"}, display="420222333444")

    call_id = client.create_call(CreateCallRequest.from_user(ALICE_USER, "+420777666555", params))

    (call,) = webitel_sandbox.calls()
    assert call["id"] == call_id
    assert call["from"] == {"id": ALICE_USER, "extension": "1001"}
    assert call["params"]["variables"] == {"ringback_id": "C1"}
    with pytest.raises(WebitelRejected, match="busy") as caught:
        client.create_call(CreateCallRequest.from_extension("1001", "+420777666000"))
    assert caught.value.status == 400

    webitel_sandbox.end_call(call_id)
    assert client.create_call(CreateCallRequest.from_extension("1001", "+420777666000")) != call_id


def test_create_call_from_an_unknown_user_is_rejected(client: HttpWebitelClient) -> None:
    with pytest.raises(WebitelRejected, match="unknown"):
        client.create_call(CreateCallRequest.from_user("999", "+420777666555"))


def test_the_sandbox_rejects_call_fields_the_current_server_dropped(webitel_sandbox: WebitelSandbox) -> None:
    body = {"from": {"extension": "1001"}, "destination": "+420777666555", "params": {"audio": True}}

    response = httpx.post(f"{webitel_sandbox.url}/calls", json=body, headers={"X-Webitel-Access": TOKEN})

    assert response.status_code == 400
    assert "'audio' was unexpected" in response.json()["detail"]


def test_list_agents_all_and_per_queue(client: HttpWebitelClient) -> None:
    everyone = client.list_agents()
    callback_agents = client.list_agents(CALLBACK_QUEUE_ID)

    assert {agent.id: agent.status for agent in everyone} == {
        "11": "online",
        "12": "online",
        "13": "pause",
        "14": "offline",
    }
    assert sorted(agent.id for agent in callback_agents) == ["11", "12", "13"]
    assert {agent.extension for agent in callback_agents} == {"1001", "1002", "1003"}


def test_list_agents_follows_pages(client: HttpWebitelClient, webitel_sandbox: WebitelSandbox) -> None:
    for number in range(150):
        webitel_sandbox.add_agent(f"{500 + number}", f"Agent {number}", f"2{number:03d}", queue_ids=["9"])

    assert len(client.list_agents("9")) == 150
    assert len(client.list_agents()) == 154


def test_agent_counts_follow_status_and_calls(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    assert client.queue_agent_counts(CALLBACK_QUEUE_ID) == QueueAgentCounts(
        online=2, pause=1, offline=0, free=2, total=3, busy=0
    )
    assert client.queue_agent_counts(DEBTOR_QUEUE_ID) == QueueAgentCounts(
        online=1, pause=1, offline=1, free=1, total=3, busy=0
    )

    client.create_call(CreateCallRequest.from_user(ALICE_USER, "+420777666555"))
    response = httpx.patch(
        f"{webitel_sandbox.url}/call_center/agents/{BOB_AGENT}/status",
        json={"status": "pause"},
        headers={"X-Webitel-Access": TOKEN},
    )
    assert response.status_code == 200

    assert client.queue_agent_counts(CALLBACK_QUEUE_ID) == QueueAgentCounts(
        online=1, pause=2, offline=0, free=0, total=3, busy=1
    )
    webitel_sandbox.set_agent_status(ALICE_AGENT, "offline")
    assert client.queue_agent_counts(CALLBACK_QUEUE_ID).online == 0


def test_agent_status_change_is_validated(webitel_sandbox: WebitelSandbox) -> None:
    response = httpx.patch(
        f"{webitel_sandbox.url}/call_center/agents/{BOB_AGENT}/status",
        json={"status": "lunch"},
        headers={"X-Webitel-Access": TOKEN},
    )

    assert response.status_code == 400
    assert webitel_sandbox.state()["agents"][1]["status"] == "online"


def test_agent_counts_of_an_unknown_queue_are_not_invented(client: HttpWebitelClient) -> None:
    with pytest.raises(WebitelContractError, match="supervisor rights on queue 77"):
        client.queue_agent_counts("77")


def test_queues_are_listed_and_read(webitel_sandbox: WebitelSandbox) -> None:
    headers = {"X-Webitel-Access": TOKEN}

    listed = httpx.get(f"{webitel_sandbox.url}/call_center/queues", headers=headers).json()
    one = httpx.get(f"{webitel_sandbox.url}/call_center/queues/2", headers=headers).json()
    missing = httpx.get(f"{webitel_sandbox.url}/call_center/queues/77", headers=headers)

    assert [(q["id"], q["type"]) for q in listed["items"]] == [("1", 4), ("2", 5), ("3", 1)]
    assert (one["id"], one["name"]) == ("2", "Debtors")
    assert missing.status_code == 404


# -- fault knobs --------------------------------------------------------------------------------


def test_latency_longer_than_the_client_timeout_is_unavailable(
    impatient_client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    webitel_sandbox.faults.latency_ms = 5_000

    with pytest.raises(WebitelUnavailable) as caught:
        impatient_client.list_agents()
    assert caught.value.may_have_committed  # a read timeout: the server got the request

    webitel_sandbox.faults.latency_ms = 0
    assert len(impatient_client.list_agents()) == 4


def test_fail_5xx_fails_the_next_n_requests_before_committing(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    webitel_sandbox.faults.fail_5xx = 2

    for _ in range(2):
        with pytest.raises(WebitelUnavailable) as caught:
            client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x", "F")], file_name="f")
        assert caught.value.status == 503
        assert caught.value.error_id == "sandbox.fault.unavailable"
        assert caught.value.request_id
    assert webitel_sandbox.members() == []

    client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x", "F")], file_name="f")
    assert stored_names(webitel_sandbox) == ["x"]


def test_fail_5xx_always_and_500_set_over_http(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    control = f"{webitel_sandbox.root_url}/_sandbox"
    assert httpx.post(f"{control}/faults", json={"fail_5xx": "always", "fail_status": 500}).status_code == 200

    for _ in range(3):
        with pytest.raises(WebitelUnavailable) as caught:
            client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "x"})
        assert caught.value.status == 500

    assert httpx.post(f"{control}/faults", json={"fail_5xx": 0}).status_code == 200
    assert client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "x"}).items == []


def test_fault_knobs_are_validated(webitel_sandbox: WebitelSandbox) -> None:
    control = f"{webitel_sandbox.root_url}/_sandbox/faults"

    assert httpx.post(control, json={"latency": 5}).status_code == 400
    assert httpx.post(control, json={"fail_status": 404}).status_code == 400
    assert httpx.post(control, json={"down": "yes"}).status_code == 400
    assert httpx.get(control).json()["latency_ms"] == 0


def test_timeout_after_commit_client_times_out_but_the_member_exists(
    impatient_client: HttpWebitelClient, client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    webitel_sandbox.faults.timeout_after_commit = 1

    with pytest.raises(WebitelUnavailable) as caught:
        impatient_client.create_members_bulk(CALLBACK_QUEUE_ID, [item("ghost", "U-1")], file_name="f")

    assert caught.value.may_have_committed
    (found,) = client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "U-1"}).items
    assert found.name == "ghost"
    # The knob counted one request down: the next upload is answered.
    assert len(client.create_members_bulk(CALLBACK_QUEUE_ID, [item("next", "U-2")], file_name="f")) == 1


def test_timeout_after_commit_can_close_the_connection_at_once(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    webitel_sandbox.faults.update({"timeout_after_commit": 1, "hang_ms": 0})

    with pytest.raises(WebitelUnavailable, match="outcome unknown"):
        client.create_member(CALLBACK_QUEUE_ID, item("committed", "U-3"))

    assert [m.name for m in client.search_members(CALLBACK_QUEUE_ID, {"ringback_id": "U-3"}).items] == [
        "committed"
    ]


def test_down_answers_nothing_until_turned_back(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    control = f"{webitel_sandbox.root_url}/_sandbox"
    assert httpx.post(f"{control}/faults", json={"down": True}).status_code == 200

    with pytest.raises(WebitelUnavailable):
        client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x", "D")], file_name="f")
    assert httpx.get(f"{control}/state").json()["members"] == []

    assert httpx.post(f"{control}/faults", json={"down": False}).status_code == 200
    assert len(client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x", "D")], file_name="f")) == 1


def test_a_stopped_sandbox_refuses_connections_and_nothing_was_sent(webitel_sandbox: WebitelSandbox) -> None:
    url = webitel_sandbox.url
    webitel_sandbox.stop()

    webitel = HttpWebitelClient(url, TOKEN, timeout=TIMEOUT)

    with webitel, pytest.raises(WebitelUnavailable) as caught:
        webitel.list_agents()

    assert caught.value.may_have_committed is False


def test_reset_over_http_clears_state_and_faults(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    client.create_members_bulk(CALLBACK_QUEUE_ID, [item("x", "R")], file_name="f")
    webitel_sandbox.faults.latency_ms = 10

    assert httpx.post(f"{webitel_sandbox.root_url}/_sandbox/reset", json={"seed": True}).status_code == 200

    state = httpx.get(f"{webitel_sandbox.root_url}/_sandbox/state").json()
    assert state["members"] == []
    assert state["faults"]["latency_ms"] == 0
    assert [queue["id"] for queue in state["queues"]] == ["1", "2", "3"]


# -- what the client emits, and what it does with odd answers ---------------------------------


class RecordingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, request.read()))
        return super().handle_request(request)


_BODY_DEFINITIONS = [
    ("POST", r"/api/call_center/queues/\d+/members/bulk", validation.BULK_MEMBERS),
    ("POST", r"/api/call_center/queues/\d+/members", validation.CREATE_MEMBER),
    ("PATCH", r"/api/call_center/queues/\d+/members/\d+", validation.PATCH_MEMBER),
    ("DELETE", r"/api/call_center/queues/\d+/members", validation.DELETE_MEMBERS),
    ("POST", r"/api/calls", validation.CREATE_CALL),
]


def test_every_body_the_client_sends_passes_the_engine_schema(webitel_sandbox: WebitelSandbox) -> None:
    transport = RecordingTransport()
    with HttpWebitelClient(webitel_sandbox.url, TOKEN, timeout=TIMEOUT, transport=transport) as webitel:
        full = MemberItem(
            name="full",
            priority=3,
            expire_at="1767225600000",
            min_offering_at="1767222000000",
            variables={"ringback_id": "W"},
            timezone=Lookup(id="3"),
            agent=Lookup(id="11"),
            communications=[
                MemberCommunication(
                    destination="+420777666555",
                    type=Lookup(id="1"),
                    priority=1,
                    description="web",
                    display="420222333444",
                    resource=Lookup(id="4"),
                    stop_at="1767225600000",
                    dtmf="1#",
                )
            ],
        )
        ids = webitel.create_members_bulk(CALLBACK_QUEUE_ID, [full, item("b", "W")], file_name="w")
        webitel.create_member(CALLBACK_QUEUE_ID, full)
        webitel.stop_member(CALLBACK_QUEUE_ID, ids[0], cause="expired")
        webitel.delete_members(CALLBACK_QUEUE_ID, ids=[ids[1]], variables={"ringback_id": "W"})
        webitel.create_call(
            CreateCallRequest.from_user(
                ALICE_USER,
                "+420777666555",
                CallParams(
                    timeout=20,
                    variables={"a": "b"},
                    display="420222333444",
                    hide_number=True,
                    disable_auto_answer=False,
                    cancel_distribute=True,
                    is_online=False,
                ),
            )
        )

    checked = 0
    for method, path, content in transport.requests:
        for rule_method, rule_path, definition in _BODY_DEFINITIONS:
            if method == rule_method and re.fullmatch(rule_path, path):
                validation.validate_body(definition, json.loads(content))
                checked += 1
                break
    assert checked == 5


def _mock_client(answer: httpx.Response) -> HttpWebitelClient:
    transport = httpx.MockTransport(lambda request: answer)
    return HttpWebitelClient("http://webitel.invalid/api", TOKEN, timeout=TIMEOUT, transport=transport)


def _list_agents(webitel: HttpWebitelClient) -> object:
    return webitel.list_agents()


def _bulk_of_two(webitel: HttpWebitelClient) -> object:
    return webitel.create_members_bulk("1", [item("a", "x"), item("b", "y")], file_name="f")


def _create_call(webitel: HttpWebitelClient) -> object:
    return webitel.create_call(CreateCallRequest.from_extension("1001", "+420777666555"))


@pytest.mark.parametrize(
    ("answer", "operation"),
    [
        (httpx.Response(200, text="<html>proxy</html>"), _list_agents),
        (httpx.Response(200, json={"items": [{"id": "1", "status": "lunch"}]}), _list_agents),
        (httpx.Response(200, json={"ids": ["1"]}), _bulk_of_two),
        (httpx.Response(200, json={"id": ""}), _create_call),
        (httpx.Response(302, headers={"Location": "/login"}), _list_agents),
    ],
)
def test_answers_off_contract_raise_contract_error_with_the_request_id(
    answer: httpx.Response, operation: Callable[[HttpWebitelClient], object]
) -> None:
    answer.headers["X-Request-Id"] = "rid-42"
    webitel = _mock_client(answer)

    with webitel, pytest.raises(WebitelContractError) as caught:
        operation(webitel)

    assert caught.value.request_id == "rid-42"


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, WebitelRejected), (403, WebitelAuthError), (429, WebitelUnavailable), (502, WebitelUnavailable)],
)
def test_statuses_map_to_errors_even_without_a_webitel_body(status: int, error: type[Exception]) -> None:
    webitel = _mock_client(httpx.Response(status, text="upstream says no"))

    with webitel, pytest.raises(error):
        webitel.search_members("1", {"ringback_id": "x"})


def test_the_client_sends_the_token_header_and_grpc_gateway_map_query() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"next": False, "items": []})

    transport = httpx.MockTransport(answer)
    with HttpWebitelClient(
        "http://webitel.invalid/api/", TOKEN, timeout=TIMEOUT, transport=transport
    ) as webitel:
        webitel.search_members("7", {"ringback_id": "01J"}, page=2, size=50)
        assert TOKEN not in repr(webitel)

    (request,) = seen
    assert request.headers["X-Webitel-Access"] == TOKEN
    assert request.url.path == "/api/call_center/queues/7/members"
    assert list(request.url.params.multi_items()) == [
        ("variables[ringback_id]", "01J"),
        ("page", "2"),
        ("size", "50"),
    ]


# -- the page and the standalone server ---------------------------------------------------------


def test_the_page_lists_what_was_pushed_with_masked_numbers(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    client.create_members_bulk(CALLBACK_QUEUE_ID, [item("Jana <script>", "PAGE-1")], file_name="f")

    page = httpx.get(webitel_sandbox.page_url)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'http-equiv="refresh"' in page.text
    assert "Website callbacks" in page.text
    assert "ringback_id=PAGE-1" in page.text
    assert "Jana &lt;script&gt;" in page.text
    assert "+420777666555" not in page.text
    assert "555" in page.text


def test_runs_standalone_from_the_command_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.webitel_sandbox", "--port", "0", "--token", "cli-token"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        match = re.search(r"API (http://\S+/api)", first_line)
        assert match, first_line
        agents = httpx.get(f"{match[1]}/call_center/agents", headers={"X-Webitel-Access": "cli-token"})
        assert agents.status_code == 200
        assert len(agents.json()["items"]) == 4
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_the_token_source_is_asked_on_every_request(webitel_sandbox: WebitelSandbox) -> None:
    """A token put into the secret after deploy (or rotated) is used without a new container."""
    tokens = ["placeholder-from-deploy", TOKEN]
    with HttpWebitelClient(webitel_sandbox.url, lambda: tokens[0], timeout=TIMEOUT) as webitel:
        with pytest.raises(WebitelAuthError):
            webitel.list_agents()
        tokens.pop(0)
        assert webitel.list_agents()


# -- IVR callbacks: queue waits and the dialer's order ---------------------------------------


def _member(
    name: str, number: str, *, priority: int, offer_at: int | None, bucket: str | None = None
) -> MemberItem:
    return MemberItem(
        name=name,
        priority=priority,
        min_offering_at=str(offer_at) if offer_at is not None else None,
        bucket=Lookup(id=bucket) if bucket else None,
        communications=[MemberCommunication(destination=number, type=Lookup(id="1"))],
    )


def test_queue_waits_come_from_the_report_as_set_by_the_knob(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    root = webitel_sandbox.root_url
    answer = httpx.post(
        f"{root}/_sandbox/queues/{INBOUND_QUEUE_ID}/waiting", json={"waiting": 4, "avg_wait_s": 95.5}
    )
    assert answer.status_code == 200
    waits = client.queue_waits([INBOUND_QUEUE_ID, CALLBACK_QUEUE_ID])
    assert waits[INBOUND_QUEUE_ID] == (4, 95.5)
    assert waits[CALLBACK_QUEUE_ID] == (0, 0.0)  # no knob: the queue's members are counted
    # The report's waiting is an int64 string, as the engine's swagger has it.
    raw = httpx.get(
        f"{webitel_sandbox.url}/call_center/queues/reports/general",
        params={"queue_id": INBOUND_QUEUE_ID, "joined_at.from": "0", "joined_at.to": "1"},
        headers={"X-Webitel-Access": TOKEN},
    ).json()
    assert raw["items"][0]["waiting"] == "4" and raw["items"][0]["avg_asa_sec"] == 95.5
    refused = httpx.post(f"{root}/_sandbox/queues/{INBOUND_QUEUE_ID}/waiting", json={"waiting": -1})
    assert refused.status_code == 400


def test_dial_order_follows_call_centers_rule(
    client: HttpWebitelClient, webitel_sandbox: WebitelSandbox
) -> None:
    past, future = 1_700_000_000_000, 4_000_000_000_000  # 2023 and 2096, whatever the clock says
    ids = client.create_members_bulk(
        CALLBACK_QUEUE_ID,
        [
            _member("late website", "+420777000001", priority=1000, offer_at=past + 80_000),
            _member("early ivr", "+420777000002", priority=1000, offer_at=past),
            _member("no offer time", "+420777000003", priority=1000, offer_at=None),
            _member("repeat", "+420777000004", priority=1100, offer_at=past + 90_000),
            _member("future", "+420777000005", priority=2000, offer_at=future),
        ],
        "order-test",
    )
    assert len(ids) == 5
    answer = httpx.get(f"{webitel_sandbox.root_url}/_sandbox/queues/{CALLBACK_QUEUE_ID}/dial-order")
    names = [m["name"] for m in answer.json()["members"]]
    # priority desc, then min_offering_at asc with nulls last; a future one is not offered yet.
    assert names == ["repeat", "early ivr", "late website", "no offer time"]
    assert answer.json()["members"][1]["communication"] == "+420777000002"
