"""Resolve the CloudFormation intrinsics template.yaml uses (Ref, Sub, GetAtt, Join, If, Select,
Split, Not, Equals) against the local stack's values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


@dataclass
class Context:
    parameters: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> what Ref returns
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {attr: value}
    conditions: dict[str, bool] = field(default_factory=dict)
    region: str = "eu-central-1"
    account: str = "123456789012"
    stack_name: str = "ringback-local"

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }.get(name)


class Unresolvable(KeyError):
    pass


def resolve(value: Any, ctx: Context) -> Any:
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {k: resolve(v, ctx) for k, v in value.items()}
    ((key, arg),) = value.items()
    if key == "Ref":
        return _ref(str(arg), ctx)
    if key == "Fn::Sub":
        template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: resolve(v, ctx) for k, v in variables.items()}

        def _one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                logical, attr = name.split(".", 1)
                return _getatt(logical, attr, ctx)
            return str(_ref(name, ctx))

        return _SUB_VAR.sub(_one, template)
    if key == "Fn::GetAtt":
        logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
        return _getatt(str(logical), str(attr), ctx)
    if key == "Fn::Join":
        sep, items = arg
        return str(sep).join(str(i) for i in resolve(items, ctx))
    if key == "Fn::Select":
        index, items = arg
        return resolve(items, ctx)[int(resolve(index, ctx))]
    if key == "Fn::Split":
        sep, text = arg
        return str(resolve(text, ctx)).split(sep)
    if key == "Fn::If":
        cond, yes, no = arg
        return resolve(yes if ctx.conditions.get(cond, False) else no, ctx)
    if key == "Fn::Not":
        return not resolve(arg[0], ctx)
    if key == "Fn::Equals":
        return resolve(arg[0], ctx) == resolve(arg[1], ctx)
    return {key: resolve(arg, ctx)}


def _ref(name: str, ctx: Context) -> Any:
    if name.startswith("AWS::"):
        return ctx.pseudo(name)
    if name in ctx.parameters:
        return ctx.parameters[name]
    if name in ctx.refs:
        return ctx.refs[name]
    raise Unresolvable(name)


def _getatt(logical: str, attr: str, ctx: Context) -> str:
    try:
        return ctx.attrs[logical][attr]
    except KeyError as error:
        raise Unresolvable(f"{logical}.{attr}") from error
