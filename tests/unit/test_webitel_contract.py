"""docs/webitel-contract.md is the one list of what ringback relies on in Webitel, each fact cited;
the flow snippets of docs/routing.md and docs/events.md, the sandbox's hook builder and the
REST client only use what it lists."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load
from devstack.webitel_sandbox import INBOUND_QUEUE_ID, hooks, seed
from ringback.adapters import webitel_http
from ringback.domain.operator_config import OperatorConfig

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONTRACT = (DOCS / "webitel-contract.md").read_text(encoding="utf-8")
REPOS = ("flow_manager", "call_center", "engine", "protos")
_VAR = re.compile(r"\$\{([^}]+)\}")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", CONTRACT, flags=re.M | re.S)
    assert match, title
    return match.group(1)


def rows(title: str) -> list[list[str]]:
    """The body rows of the section's table, as lists of cells."""
    lines = [line for line in section(title).splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:] if "---" not in line]


def names(title: str) -> set[str]:
    return {m.group(1) for row in rows(title) if (m := re.fullmatch(r"`([^`]+)`", row[0]))}


def json_blocks(doc: str) -> list[Any]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", (DOCS / doc).read_text(), flags=re.S)]


def snippet_after(doc: str, heading: str) -> Any:
    text = (DOCS / doc).read_text()
    after = text[text.index(heading) :]
    return json.loads(re.search(r"```json\n(.*?)```", after, flags=re.S).group(1))  # type: ignore[union-attr]


def variables_in(value: Any) -> set[str]:
    return set(_VAR.findall(json.dumps(value)))


def apps_in(flow: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Every app of a flow, nested ones too (``if`` branches, ``joinQueue`` timers' actions)."""
    found: list[tuple[str, Any]] = []
    for step in flow:
        for name, args in step.items():
            found.append((name, args))
            if name == "if":
                found += apps_in(args.get("then", [])) + apps_in(args.get("else", []))
            if name == "joinQueue":
                for timer in args.get("timers", []):
                    found.append(("timers", timer))
                    found += apps_in(timer.get("actions", []))
            if isinstance(args, dict) and isinstance(args.get("getDigits"), dict):
                found.append(("getDigits", args["getDigits"]))
    return found


def documented_apps() -> dict[str, set[str]]:
    documented: dict[str, set[str]] = {}
    for row in rows("Flow apps the snippets use"):
        app, parameter = row[0].strip("`"), row[1].strip("`")
        documented.setdefault(app, set()).add(parameter)
    return documented


def assert_documented(flow: list[dict[str, Any]]) -> None:
    documented = documented_apps()
    for name, args in apps_in(flow):
        assert name in documented, name
        # An app whose argument is one value (hangup's cause) documents it as ``(value)``.
        given = set(args) if isinstance(args, dict) else {"(value)"}
        assert given <= documented[name], (name, given - documented[name])


QUEUE_HOOK_VARIABLES = names("Queue hooks")
TEAM_HOOK_VARIABLES = names("Team hook `agent_status`")
MEMBER_VARIABLES = set(hooks.RINGBACK_MEMBER_VARIABLES)


# -- the contract document itself -----------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Flow apps the snippets use",
        "Call variables the routing flow reads",
        "Queue hooks",
        "Team hook `agent_status`",
        "REST calls of `ringback.adapters.webitel_http`",
        "Permissions of the token's user",
    ],
)
def test_every_row_cites_a_webitel_repository_and_file(title: str) -> None:
    table = rows(title)
    assert table, title
    for row in table:
        source = row[-1]
        assert any(repo in source for repo in REPOS), row
        assert re.search(r"`[\w./-]+\.(go|proto|sql)`", source), row


def test_the_sandbox_builds_exactly_the_documented_hook_variables() -> None:
    built = {*hooks.ATTEMPT_VARIABLES, *hooks.CALL_STATS_VARIABLES, *hooks.HOOK_VARIABLES}
    assert built == QUEUE_HOOK_VARIABLES
    assert set(hooks.TEAM_VARIABLES) == TEAM_HOOK_VARIABLES
    for state in hooks.QUEUE_HOOK_STATES:
        assert f"`{state}`" in section("Queue hooks")


# -- docs/events.md --------------------------------------------------------------------------


def test_the_queue_hook_snippet_is_the_one_schema_and_posts_only_exported_variables() -> None:
    schema = snippet_after("events.md", "### The queue hook schema")
    assert schema == hooks.QUEUE_HOOK_SCHEMA
    data = schema[0]["httpRequest"]["data"]
    assert data["event"] == "${state}"
    used = variables_in(data)
    assert used <= QUEUE_HOOK_VARIABLES | MEMBER_VARIABLES, used - QUEUE_HOOK_VARIABLES
    # every variable Webitel exports by name is posted, under its own name
    assert QUEUE_HOOK_VARIABLES - {"state"} <= used
    assert all(value == f"${{{key}}}" for key, value in data.items() if key != "event")


def test_the_team_hook_snippet_uses_webitels_names() -> None:
    schema = snippet_after("events.md", "### The team hook schema")
    assert schema == hooks.TEAM_HOOK_SCHEMA
    data = schema[0]["httpRequest"]["data"]
    assert data["event"] == hooks.TEAM_HOOK
    assert variables_in(data) == TEAM_HOOK_VARIABLES
    assert "timestamp" not in data and "agent_extension" not in data


def test_every_json_snippet_of_events_md_uses_only_webitel_variables() -> None:
    for block in json_blocks("events.md"):
        if isinstance(block, list):
            assert variables_in(block) <= QUEUE_HOOK_VARIABLES | TEAM_HOOK_VARIABLES | MEMBER_VARIABLES


# -- docs/routing.md -------------------------------------------------------------------------


def routing_flow() -> list[dict[str, Any]]:
    return next(b for b in json_blocks("routing.md") if isinstance(b, list))


def test_routing_flow_uses_only_documented_apps_and_parameters() -> None:
    assert_documented(routing_flow())


def test_routing_flow_reads_only_call_variables_and_what_it_exported() -> None:
    flow = routing_flow()
    request = flow[0]["httpRequest"]
    known = names("Call variables the routing flow reads") | set(request["exportVariables"])
    known.add(request["responseCode"])
    assert variables_in(flow) <= known


def test_routing_joins_the_configured_inbound_queues_never_a_dialer_queue() -> None:
    (parameter,) = load().resources_of("AWS::SSM::Parameter").values()
    config = OperatorConfig.model_validate(json.loads(parameter["Properties"]["Value"]))
    queues = [str(args["queue"]["id"]) for name, args in apps_in(routing_flow()) if name == "joinQueue"]
    branches = config.inbound_queue_by_branch()
    # In the snippet's order: the debt branch, the found branch, the unknown branch.
    assert queues == [branches["debt"], branches["found"], branches["unknown"]]
    assert not set(queues) & {config.callback_queue_id, config.debtor_queue_id}
    # The sandbox's demo inbound queue is that queue, of Webitel's inbound type (1).
    assert set(queues) == {INBOUND_QUEUE_ID} and seed.INBOUND_CALL == 1
    assert "| `1` | inbound call | no |" in section("Queue types")


def test_the_operator_config_refuses_a_dialer_queue_as_inbound() -> None:
    with pytest.raises(ValueError, match="inbound call can join only an inbound queue"):
        OperatorConfig(callback_queue_id="1", debtor_queue_id="2", inbound_queue_id="1")
    with pytest.raises(ValueError, match="'debt'"):
        OperatorConfig(inbound_queues={"debt": "2"})  # type: ignore[arg-type]
    config = OperatorConfig(inbound_queue_id="7", inbound_queues={"found": "8"})  # type: ignore[arg-type]
    assert config.inbound_queue_by_branch() == {"found": "8", "debt": "7", "unknown": "7"}
    assert config.inbound_queue_ids == frozenset({"7", "8"})


# -- the REST client -------------------------------------------------------------------------


def test_every_rest_path_of_the_client_is_in_the_contract() -> None:
    source = inspect.getsource(webitel_http)
    documented = {
        re.sub(r"\{\w+\}", "{}", m.group(1))
        for row in rows("REST calls of `ringback.adapters.webitel_http`")
        if (m := re.search(r"`(?:GET|POST|PATCH|DELETE) /([^`]+)`", row[1]))
    }
    used = {
        re.sub(r"\{[^}]+\}", "{}", path)
        for path in re.findall(r'"(call_center/[^"]*|calls)"', source)
        + re.findall(r'f"(call_center/[^"]*)"', source)
    }
    assert used and used <= documented, used - documented


# -- docs/ivr-callbacks.md -------------------------------------------------------------------

# The request and answer fields of the IVR routes, as the lead's contract for issue 17 fixed them.
IVR_REQUEST_FIELDS = {"cid", "queue_id", "joined_at", "call_id", "language"}
IVR_ANSWER_FIELDS = {"accepted", "callback_id", "linked", "expected_call_in_s", "position", "say", "reason"}
CANCEL_REQUEST_FIELDS = {"cid", "call_id"}
CANCEL_ANSWER_FIELDS = {"cancelled", "callback_id", "say", "reason"}


def ivr_flow() -> list[dict[str, Any]]:
    return snippet_after("ivr-callbacks.md", "## The inbound flow schema")


def ivr_requests() -> dict[str, dict[str, Any]]:
    """The flow's httpRequests by the path of their URL."""
    return {
        re.sub(r"^https://[^/]+", "", args["url"]): args
        for name, args in apps_in(ivr_flow())
        if name == "httpRequest"
    }


def test_the_ivr_flow_is_the_one_json_flow_of_its_page_and_the_sandbox_reads_it() -> None:
    from devstack.webitel_sandbox import caller

    flows = [b for b in json_blocks("ivr-callbacks.md") if isinstance(b, list)]
    assert flows == [ivr_flow()]
    assert caller.inbound_flow() == ivr_flow()


def test_ivr_flow_uses_only_documented_apps_and_parameters() -> None:
    assert_documented(ivr_flow())
    used = {name for name, _ in apps_in(ivr_flow())}
    assert {"httpRequest", "if", "tts", "getDigits", "js", "joinQueue", "timers", "hangup"} <= used


def test_ivr_flow_reads_only_call_variables_and_what_its_apps_set() -> None:
    flow = ivr_flow()
    known = set(names("Call variables the routing flow reads"))
    for name, args in apps_in(flow):
        if name == "httpRequest":
            known |= set(args.get("exportVariables", {})) | {args["responseCode"]}
        if name in ("getDigits", "js"):
            known.add(args["setVar"])
    assert variables_in(flow) <= known, variables_in(flow) - known
    # the caller's number and the call's uuid are the channel's, as flow_manager names them
    assert {"caller_id_number", "uuid"} <= variables_in(flow)


def test_ivr_flow_calls_ringbacks_routes_with_the_contracts_fields() -> None:
    requests = ivr_requests()
    assert set(requests) == {"/v1/routing", "/v1/callbacks/ivr", "/v1/callbacks/ivr/cancel"}
    posted = {route.path for route in load().routes if route.method == "POST"}
    assert set(requests) <= posted, set(requests) - posted
    for path, request in requests.items():
        assert request["method"] == "POST" and request["timeout"] <= 1000
        token = "REPLACE_WITH_A_ROUTING_TOKEN" if path == "/v1/routing" else "REPLACE_WITH_AN_IVR_TOKEN"
        assert request["headers"]["Authorization"] == f"Bearer {token}"
    assert requests["/v1/routing"]["data"] == {"cid": "${caller_id_number}"}
    assert set(requests["/v1/callbacks/ivr"]["data"]) == IVR_REQUEST_FIELDS
    assert requests["/v1/callbacks/ivr"]["data"]["call_id"] == "${uuid}"
    assert set(requests["/v1/callbacks/ivr/cancel"]["data"]) == CANCEL_REQUEST_FIELDS
    assert set(requests["/v1/callbacks/ivr"]["exportVariables"].values()) <= IVR_ANSWER_FIELDS
    assert set(requests["/v1/callbacks/ivr/cancel"]["exportVariables"].values()) <= CANCEL_ANSWER_FIELDS


def test_ivr_flow_exports_the_routing_answers_offer_fields() -> None:
    from ringback.domain.routing import ANSWER_FIELDS

    exported = ivr_requests()["/v1/routing"]["exportVariables"]
    assert {"offer_callback", "estimated_wait_s", "wait_queue_id", "pending_callback"} <= set(
        exported.values()
    )
    assert set(exported.values()) <= set(ANSWER_FIELDS), set(exported.values()) - set(ANSWER_FIELDS)


def test_ivr_flow_waits_in_the_configured_inbound_queue_and_offers_from_its_timers() -> None:
    (parameter,) = load().resources_of("AWS::SSM::Parameter").values()
    config = OperatorConfig.model_validate(json.loads(parameter["Properties"]["Value"]))
    joins = [args for name, args in apps_in(ivr_flow()) if name == "joinQueue"]
    assert [str(j["queue"]["id"]) for j in joins] == [config.inbound_queue_by_branch()["unknown"]]
    assert not {str(j["queue"]["id"]) for j in joins} & {config.callback_queue_id, config.debtor_queue_id}
    (timer,) = joins[0]["timers"]
    assert timer["interval"] > 0 and timer["tries"] == 1
    # The accept request is made from the timer, i.e. while the caller waits in the queue.
    assert "/v1/callbacks/ivr" in json.dumps(timer["actions"])


def test_every_step_of_the_ivr_flow_is_one_the_sandbox_interprets() -> None:
    from devstack.webitel_sandbox import caller

    for name, args in apps_in(ivr_flow()):
        if name in ("timers", "getDigits"):
            continue
        assert hasattr(caller.PlayedCall, f"_app_{name}"), name
        if name == "if":
            caller.evaluate(args["expression"], {})
        if name == "js":
            # Date.now() at the clock's 1 ms, or an unknown wait rounded up to one minute.
            assert caller.run_js(args["data"], {}, 1) == "1"
