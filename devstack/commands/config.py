"""`ringback config [KEY=VALUE ...]`: show or change the running local stack's operator config
(the SSM parameter template.yaml declares), as an operator changes it on AWS without redeploying.

Each VALUE is JSON (``holidays='["2026-12-24"]'``, ``slot_capacity=3``) or else a plain string
(``timezone=Europe/Vienna``). The result is validated as the functions validate it before it is
written; the functions see it within 2 s locally.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from devstack.aws import aws_client
from ringback.domain.operator_config import OperatorConfig


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def run(assignments: list[str], stack_json: dict[str, Any]) -> int:
    ssm = aws_client("ssm", stack_json["urls"]["moto"])
    name = stack_json["names"]["OperatorConfigParameter"]
    config: dict[str, Any] = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    if not assignments:
        print(json.dumps(config, indent=2, ensure_ascii=False))
        return 0
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            print(f"not KEY=VALUE: {assignment!r}")
            return 2
        config[key.strip()] = _value(text)
    try:
        OperatorConfig.model_validate(config)
    except ValidationError as error:
        print(f"not changed, the operator config would be refused:\n{error}")
        return 1
    ssm.put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)
    changed = ", ".join(a.partition("=")[0] for a in assignments)
    print(f"{name}: {changed} changed (the functions see it within 2 s locally)")
    return 0
