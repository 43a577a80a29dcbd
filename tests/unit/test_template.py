"""template.yaml is the single source of truth: check what the rest of the project relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack.intrinsics import Context, resolve
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
    events = stack.raw["Resources"]["DialerFunction"]["Properties"]["Events"]
    for schedule in stack.schedules:
        props = events[schedule.name]["Properties"]
        assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert props["DeadLetterConfig"]


def test_secrets_are_resources_not_parameters(stack: StackTemplate) -> None:
    for name in stack.parameters:
        assert not re.search("token|secret|password|key", name, re.I), name
    assert len(stack.resources_of("AWS::SecretsManager::Secret")) >= 4


def test_every_table_has_a_policy_scoped_to_it_and_nothing_else(stack: StackTemplate) -> None:
    ctx = Context(parameters={"Stage": "t"}, refs={k: k for k in stack.raw["Resources"]})
    tables = set(stack.resources_of("AWS::DynamoDB::Table"))
    for spec in stack.functions.values():
        policies = stack.raw["Resources"][spec.logical_id]["Properties"].get("Policies", [])
        assert not any(isinstance(p, str) for p in policies), f"{spec.logical_id} uses a broad managed policy"
        used = {
            resolve(v["TableName"], ctx)
            for p in policies
            if isinstance(p, dict)
            for k, v in p.items()
            if k.startswith("DynamoDB")
        }
        env_tables = {
            resolve(v, ctx)
            for v in spec.environment.values()
            if isinstance(v, dict) and v.get("Ref") in tables
        }
        assert env_tables == used, f"{spec.logical_id}: policies {used} vs tables it is given {env_tables}"


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
