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


def apps_in(flow: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for step in flow:
        for name, args in step.items():
            found.append((name, args))
            if name == "if":
                found += apps_in(args.get("then", [])) + apps_in(args.get("else", []))
    return found


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
    documented: dict[str, set[str]] = {}
    for row in rows("Flow apps the snippets use"):
        app, parameter = row[0].strip("`"), row[1].strip("`")
        documented.setdefault(app, set()).add(parameter)
    for name, args in apps_in(routing_flow()):
        assert name in documented, name
        assert set(args) <= documented[name], (name, set(args) - documented[name])


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
