"""The README and docs keep up with template.yaml: every parameter, secret, operator setting and
route a user can meet is documented."""

from __future__ import annotations

import json
import re

import pytest

from devstack.template import ROOT, StackTemplate, load

pytestmark = pytest.mark.unit

README = (ROOT / "README.md").read_text()
DOCS = README + "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))


@pytest.fixture(scope="module")
def stack() -> StackTemplate:
    return load()


def test_readme_has_the_two_commands_and_the_deploy() -> None:
    for text in ("make run", "make test", "sam build", "sam deploy --guided", ".local/stack.json"):
        assert text in README


def test_every_template_parameter_is_in_the_configuration_table(stack: StackTemplate) -> None:
    missing = [name for name in stack.parameters if f"`{name}`" not in README]
    assert not missing


def test_every_secret_is_in_the_configuration_table(stack: StackTemplate) -> None:
    for resource in stack.resources_of("AWS::SecretsManager::Secret").values():
        name = resource["Properties"]["Name"]["Fn::Sub"].replace("${Stage}", "<stage>")
        assert f"`{name}`" in README, name


def test_every_operator_setting_is_documented(stack: StackTemplate) -> None:
    (parameter,) = stack.resources_of("AWS::SSM::Parameter").values()
    config = json.loads(parameter["Properties"]["Value"])
    keys = set(config) | {
        f"{k}.{sub}" for k, v in config.items() if isinstance(v, dict) and k != "business_hours" for sub in v
    }
    missing = [
        key for key in sorted(keys) if not re.search(rf"[`.]{re.escape(key.rsplit('.', 1)[-1])}`", DOCS)
    ]
    assert not missing


def test_every_route_is_documented(stack: StackTemplate) -> None:
    for route in stack.routes:
        if "/health/" in route.path:
            continue
        pattern = re.escape(route.path).replace(r"\{", "{").replace(r"\}", "}")
        assert re.search(pattern, DOCS), route.route_key
