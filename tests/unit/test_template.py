"""template.yaml is the single source of truth: check what the rest of the project relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devstack.template import ROOT, StackTemplate, load
from ringback.config import Settings

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def stack() -> StackTemplate:
    return load()


def test_runtime_architecture_and_the_one_shared_layer(stack: StackTemplate) -> None:
    globals_fn = stack.raw["Globals"]["Function"]
    assert globals_fn["Runtime"] == "python3.13"
    assert globals_fn["Architectures"] == ["arm64"]
    layers = stack.resources_of("AWS::Serverless::LayerVersion")
    assert len(layers) == 1
    (layer,) = layers.values()
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert (ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").exists()
    assert (ROOT / layer["Properties"]["ContentUri"] / "ringback" / "__init__.py").exists()


def test_one_function_per_job_each_with_its_handler_file(stack: StackTemplate) -> None:
    assert {"CallbacksFunction", "RoutingFunction", "EventsFunction", "DialerFunction"} <= set(
        stack.functions
    )
    for spec in stack.functions.values():
        module = spec.handler.rsplit(".", 1)[0]
        assert (spec.code_uri / f"{module}.py").exists(), f"{spec.logical_id}: {module}.py missing"


def test_routes_are_unique_and_versioned(stack: StackTemplate) -> None:
    keys = [r.route_key for r in stack.routes]
    assert len(keys) == len(set(keys))
    for route in stack.routes:
        assert route.path.startswith(("/v1/", "/widget", "/console")), route.path


def test_every_ringback_variable_is_a_setting(stack: StackTemplate) -> None:
    """A typo in an environment variable name would silently fall back to a default."""
    fields = set(Settings.model_fields)
    for spec in stack.functions.values():
        for name in spec.environment:
            if name.startswith("RINGBACK_"):
                assert name.removeprefix("RINGBACK_").lower() in fields, f"{spec.logical_id}: {name}"


def test_dialer_schedules_have_retries_and_a_dead_letter_queue(stack: StackTemplate) -> None:
    assert {s.name for s in stack.schedules} >= {"CallbacksSchedule", "CampaignsSchedule"}
    for schedule in stack.schedules:
        events = stack.raw["Resources"][schedule.function]["Properties"]["Events"]
        props = events[schedule.name]["Properties"]
        assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert props["DeadLetterConfig"]


def test_secrets_are_resources_not_parameters(stack: StackTemplate) -> None:
    for name in stack.parameters:
        assert not re.search("token|secret|password|key", name, re.I), name
    assert len(stack.resources_of("AWS::SecretsManager::Secret")) >= 4


def table_actions(stack: StackTemplate, function_id: str) -> dict[str, set[str]]:
    """DynamoDB actions a function's policies grant, per table logical id (its indexes included)."""
    tables = set(stack.resources_of("AWS::DynamoDB::Table"))
    granted: dict[str, set[str]] = {}
    for policy in stack.raw["Resources"][function_id]["Properties"].get("Policies", []):
        for key, value in policy.items():
            if key.startswith("DynamoDB"):
                table = value["TableName"]["Ref"]
                granted.setdefault(table, set()).add(f"template:{key}")
        for statement in policy.get("Statement", []):
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else str(resource)
                match = re.search(r":table/\$\{(\w+)\}", text)
                if match and match.group(1) in tables:
                    granted.setdefault(match.group(1), set()).update(
                        a for a in statement["Action"] if a.startswith("dynamodb:")
                    )
    return granted


def test_every_table_has_a_policy_scoped_to_it_and_nothing_else(stack: StackTemplate) -> None:
    tables = set(stack.resources_of("AWS::DynamoDB::Table"))
    for spec in stack.functions.values():
        policies = stack.raw["Resources"][spec.logical_id]["Properties"].get("Policies", [])
        assert not any(isinstance(p, str) for p in policies), f"{spec.logical_id} uses a broad managed policy"
        env_tables = {
            v["Ref"] for v in spec.environment.values() if isinstance(v, dict) and v.get("Ref") in tables
        }
        used = set(table_actions(stack, spec.logical_id))
        assert env_tables == used, f"{spec.logical_id}: policies {used} vs tables it is given {env_tables}"


# What each function's code calls (ringback.adapters), per table: the template may grant no more.
# A new DynamoDB call in an adapter needs its action here and in template.yaml.
NEEDED = {
    "RoutingFunction": {
        "CustomersTable": {"BatchGetItem", "GetItem"},
        "CallbacksTable": {"BatchGetItem", "GetItem"},
        # The IVR offer snapshot; UpdateItem: the day's degraded-answers counter, off the answer path.
        "GuardTable": {"BatchGetItem", "GetItem", "UpdateItem"},
    },
    "IvrCallbacksFunction": {
        "CallbacksTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"},
        "DialerOutboxTable": {"GetItem", "PutItem", "UpdateItem"},
        "GuardTable": {"GetItem", "UpdateItem"},
    },
    "CallbacksFunction": {
        "CallbacksTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "Query"},
        "DialerOutboxTable": {"GetItem", "PutItem", "UpdateItem", "Query"},
        "ProjectionsTable": {"GetItem", "Query"},
        "GuardTable": {"GetItem", "UpdateItem"},
        "IdempotencyTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    },
    "EventsFunction": {
        # One write per event (the log); the projections are read only (ProjectorFunction writes).
        "EventLogTable": {"GetItem", "PutItem"},
        "ProjectionsTable": {"GetItem", "Query"},
        "CallbacksTable": {"GetItem", "Query"},
        "GuardTable": {"UpdateItem"},
    },
    "ProjectorFunction": {
        "EventLogTable": {"GetItem"},
        # The console's shard items are versioned puts and Put/ConditionCheck transactions; its
        # row items a Put with their counters' ADD (UpdateItem) in one transaction.
        "ProjectionsTable": {
            "GetItem",
            "PutItem",
            "UpdateItem",
            "BatchWriteItem",
            "Query",
            "ConditionCheckItem",
        },
        "CallbacksTable": {"GetItem", "UpdateItem", "DeleteItem", "Query"},
        "DialerOutboxTable": {"GetItem", "PutItem"},
    },
    "DialerFunction": {
        "DialerOutboxTable": {
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
        },
        "CallbacksTable": {"GetItem", "UpdateItem", "DeleteItem", "Query"},
    },
    "ConsoleFunction": {
        # Projections only (no index of the CallbacksTable); the degraded-answers counter.
        "ProjectionsTable": {"GetItem", "BatchGetItem", "Query"},
        "GuardTable": {"BatchGetItem"},
        "DialerOutboxTable": {"GetItem", "BatchGetItem", "Query", "UpdateItem"},
    },
    "ImportFunction": {
        "CustomersTable": {"GetItem", "PutItem", "DeleteItem", "BatchWriteItem", "Scan"},
        "DialerOutboxTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"},
    },
}


@pytest.mark.parametrize("function_id", sorted(NEEDED))
def test_policies_grant_only_the_dynamodb_actions_the_code_calls(
    stack: StackTemplate, function_id: str
) -> None:
    granted = table_actions(stack, function_id)
    assert {t: {a.removeprefix("dynamodb:") for a in acts} for t, acts in granted.items()} == NEEDED[
        function_id
    ]


def test_no_scan_for_routing_and_no_wildcards(stack: StackTemplate) -> None:
    assert not any("Scan" in a for a in set().union(*table_actions(stack, "RoutingFunction").values()))
    for spec in stack.functions.values():
        for actions in table_actions(stack, spec.logical_id).values():
            assert not any("*" in a or a.startswith("template:") for a in actions), (spec.logical_id, actions)


def test_resilience_guards(stack: StackTemplate) -> None:
    resources = stack.raw["Resources"]
    for name in ("CallbacksFunction", "RoutingFunction"):
        assert "Fn::If" in resources[name]["Properties"]["ReservedConcurrentExecutions"], name
    destination = resources["ImportFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]
    assert destination["OnFailure"]["Destination"] == {"Fn::GetAtt": ["ImportFailureQueue", "Arn"]}
    for table in ("EventLogTable", "CallbacksTable"):
        pitr = resources[table]["Properties"]["PointInTimeRecoverySpecification"]
        assert pitr == {"PointInTimeRecoveryEnabled": True}, table
    alarms = {
        json.dumps(r["Properties"].get("MetricName")) + json.dumps(r["Properties"].get("Metrics", ""))
        for r in stack.resources_of("AWS::CloudWatch::Alarm").values()
    }
    text = " ".join(alarms)
    for metric in (
        "5xx",
        "Throttles",
        "CallbacksHandledErrors",
        "EventsHandledErrors",
        "RoutingHandledErrors",
        "CallbacksGlobalCapReached",
    ):
        assert metric in text, metric
    for function_id in stack.functions:
        assert function_id in text or any(
            function_id in json.dumps(r["Properties"].get("Dimensions", []))
            for r in stack.resources_of("AWS::CloudWatch::Alarm").values()
        ), function_id


def test_every_sample_event_is_used_by_a_test() -> None:
    samples = sorted(p.name for p in (ROOT / "events").glob("*.json"))
    assert samples, "events/ holds one sample per function at least"
    test_text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    unused = [name for name in samples if name not in test_text]
    assert not unused, f"samples no test exercises: {unused}"


def test_layer_requirements_are_pinned() -> None:
    for path in (
        ROOT / "layers/ringback/requirements.txt",
        ROOT / "requirements-dev.txt",
        ROOT / "requirements-tools.txt",
    ):
        for line in Path(path).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r"):
                assert "==" in line, f"{path.name}: '{line}' is not pinned"
