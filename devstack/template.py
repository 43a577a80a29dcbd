"""Read template.yaml: the one place routes, tables, secrets, parameters and schedules are declared.

The local stack, the test fixtures and the benchmarks all take what they need from here, so
nothing is declared twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form tags (!Ref, !Sub, !GetAtt...)."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError("template is not a mapping")
    return data


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Schedule:
    name: str
    function: str
    expression: str
    input: str | None
    timezone: str | None


@dataclass(frozen=True)
class StreamSource:
    name: str
    function: str
    table: str
    batch_size: int


@dataclass(frozen=True)
class S3Source:
    name: str
    function: str
    bucket: str
    prefix: str
    suffix: str


@dataclass(frozen=True)
class CorsRules:
    """The HTTP API's CorsConfiguration: the local gateway answers preflights and adds the CORS
    headers to every answer from these, as API Gateway does (it ignores a backend's own)."""

    allow_origins: Any  # a list, or a !Ref to the AllowedOrigins parameter the stack resolves
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


def _cors_rules(config: dict[str, Any]) -> CorsRules:
    def names(key: str) -> tuple[str, ...]:
        return tuple(str(v) for v in config.get(key) or ())

    max_age = config.get("MaxAge")
    return CorsRules(
        allow_origins=config.get("AllowOrigins"),
        allow_methods=tuple(m.upper() for m in names("AllowMethods")),
        allow_headers=tuple(h.lower() for h in names("AllowHeaders")),
        expose_headers=tuple(h.lower() for h in names("ExposeHeaders")),
        max_age=None if max_age is None else int(max_age),
        allow_credentials=bool(config.get("AllowCredentials", False)),
    )


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass
class StackTemplate:
    raw: dict[str, Any]
    functions: dict[str, FunctionSpec]
    routes: list[Route]
    schedules: list[Schedule]
    streams: list[StreamSource]
    s3_sources: list[S3Source]
    cors: CorsRules | None

    def resources_of(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v.get("Type") == cfn_type}

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.raw.get("Parameters", {}))

    @property
    def layer_dirs(self) -> list[Path]:
        return [
            ROOT / str(r["Properties"]["ContentUri"])
            for r in self.resources_of("AWS::Serverless::LayerVersion").values()
        ]


def _ref_name(value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value)


def parse(data: dict[str, Any]) -> StackTemplate:
    globals_fn = data.get("Globals", {}).get("Function", {})
    global_env = dict(globals_fn.get("Environment", {}).get("Variables", {}))
    functions: dict[str, FunctionSpec] = {}
    routes: list[Route] = []
    schedules: list[Schedule] = []
    streams: list[StreamSource] = []
    s3_sources: list[S3Source] = []
    for logical_id, resource in data.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=ROOT / str(props["CodeUri"]),
            handler=str(props.get("Handler", globals_fn.get("Handler", "app.lambda_handler"))),
            timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
            memory=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
            environment=env,
        )
        for event_name, event in props.get("Events", {}).items():
            kind, eprops = event.get("Type"), event.get("Properties", {})
            if kind == "HttpApi":
                routes.append(Route(str(eprops["Method"]).upper(), str(eprops["Path"]), logical_id))
            elif kind in ("Schedule", "ScheduleV2"):
                schedules.append(
                    Schedule(
                        event_name,
                        logical_id,
                        str(eprops["ScheduleExpression"]),
                        eprops.get("Input"),
                        eprops.get("ScheduleExpressionTimezone"),
                    )
                )
            elif kind == "DynamoDB":
                streams.append(
                    StreamSource(
                        event_name, logical_id, _ref_name(eprops["Stream"]), int(eprops.get("BatchSize", 100))
                    )
                )
            elif kind == "S3":
                rules = eprops.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                by_name = {r["Name"].lower(): r["Value"] for r in rules}
                s3_sources.append(
                    S3Source(
                        event_name,
                        logical_id,
                        _ref_name(eprops["Bucket"]),
                        by_name.get("prefix", ""),
                        by_name.get("suffix", ""),
                    )
                )
    http_apis = [r for r in data.get("Resources", {}).values() if r.get("Type") == "AWS::Serverless::HttpApi"]
    cors_config = http_apis[0].get("Properties", {}).get("CorsConfiguration") if http_apis else None
    cors = _cors_rules(cors_config) if isinstance(cors_config, dict) else None
    return StackTemplate(data, functions, routes, schedules, streams, s3_sources, cors)


@lru_cache(maxsize=4)
def load(path: Path = TEMPLATE_PATH) -> StackTemplate:
    return parse(load_yaml(path.read_text()))
