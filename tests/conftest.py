"""Shared fixtures: a moto server and a Webitel sandbox built from template.yaml, Lambda-like
environments for each function, and (for end-to-end tests) the whole local stack."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from devstack import aws, template
from devstack.lambda_context import LambdaContext
from devstack.moto_server import MotoServer
from devstack.template import StackTemplate
from tests.support import budgets

# What template.yaml's Globals give every function; set before any test imports the layer,
# because Powertools reads them when ringback.observability is first imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ringback")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ringback")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

# Every property test draws the same examples on every run (a test that fails one run in fifty is
# a flake, not a find): derandomized, no example database, and no timing checks (a loaded machine
# is slow, not wrong). HYPOTHESIS_PROFILE=explore searches anew.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ringback", derandomize=True, database=None, **_UNTIMED)
settings.register_profile("explore", database=None, **_UNTIMED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ringback"))

LOCAL_ORIGINS = "http://127.0.0.1:3000,http://localhost:3000,https://www.example.com"


@pytest.fixture(scope="session")
def stack_template() -> StackTemplate:
    return template.load()


@pytest.fixture(scope="session")
def webitel_sandbox() -> Iterator[Any]:
    from devstack.webitel_sandbox import WebitelSandbox

    sandbox = WebitelSandbox(token="sandbox-token-for-tests")
    sandbox.start()
    sandbox.seed_demo()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def moto_stack(stack_template: StackTemplate, webitel_sandbox: Any) -> Iterator[aws.ProvisionedStack]:
    with MotoServer() as server:
        yield aws.provision(
            stack_template,
            server.endpoint,
            parameters={
                "Stage": "test",
                "WebitelBaseUrl": webitel_sandbox.url,
                "AllowedOrigins": LOCAL_ORIGINS,
                "CaptchaBackend": "sandbox",
            },
            secret_values={"WebitelAccessTokenSecret": {"token": webitel_sandbox.token}},
            stack_name="ringback-test",
        )


def clear_ringback_caches() -> None:
    """Forget every cached client, setting and secret, as a new Lambda container would."""
    for name, module in list(sys.modules.items()):
        if name == "ringback" or name.startswith("ringback."):
            for attr in vars(module).values():
                if callable(getattr(attr, "cache_clear", None)):
                    attr.cache_clear()
    from aws_lambda_powertools.utilities.parameters import base

    base.clear_caches()


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch, stack_template: StackTemplate, moto_stack: aws.ProvisionedStack
) -> Iterator[Callable[..., dict[str, str]]]:
    def _apply(function_id: str, **overrides: str) -> dict[str, str]:
        env = moto_stack.function_environment(stack_template, function_id)
        # One moto process serves every test worker: on a busy 2-core machine a call can take
        # longer than the webhook path's 300 ms production read timeout. In-process tests allow
        # the most the setting does (still inside Webitel's budget); the fault tests prove the
        # 503 with whatever timeout is set, and the budget itself is checked on the constants.
        env.setdefault("RINGBACK_WEBHOOK_READ_TIMEOUT_MS", "700")
        env.update(overrides)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        clear_ringback_caches()
        return env

    yield _apply
    clear_ringback_caches()


@pytest.fixture
def answer_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets the routing and IVR budgets reach tests.support.budgets' roomy value (see there)."""
    budgets.widen_bounds(monkeypatch)


@pytest.fixture
def load_handler(
    monkeypatch: pytest.MonkeyPatch, stack_template: StackTemplate
) -> Callable[[str], ModuleType]:
    """Import a function's handler module fresh, with its code folder on the import path (as Lambda)."""

    def _load(function_id: str) -> ModuleType:
        code_dir: Path = stack_template.functions[function_id].code_uri
        handler_module = stack_template.functions[function_id].handler.rsplit(".", 1)[0]
        monkeypatch.syspath_prepend(str(code_dir))
        # Sibling modules of another function's folder may share names: forget them.
        for sibling in code_dir.glob("*.py"):
            sys.modules.pop(sibling.stem, None)
        spec = importlib.util.spec_from_file_location(
            f"fn_{function_id}_{handler_module}", code_dir / f"{handler_module}.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return _load


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext("ringback-test-function")


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Any]:
    """The whole local stack (moto, sandbox, gateway, scheduler, stream poller) on free ports."""
    from devstack.stack import LocalStack, StackOptions

    stack = LocalStack(
        StackOptions(
            api_port=0, moto_port=0, webitel_port=0, write_state=False, scheduler=False, seed=True, quiet=True
        )
    )
    stack.start()
    yield stack
    stack.stop()
