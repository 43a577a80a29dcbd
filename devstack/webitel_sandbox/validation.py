"""Request-body validation: the engine's Swagger definitions plus what the 2020 document misses.

``engine-definitions.json`` is a verbatim extract of Webitel's published Swagger 2.0 document.
The overlays below bring it to the current server (see the facts in the module's functions):
newer fields, limits the Go code enforces, and int64 accepted as string or number.

Deliberately stricter than the server in one way: unknown fields are rejected. grpc-gateway
silently drops them, which turns a typo (``stopCause``) into a request that does something
else, e.g. a member DELETE whose filter vanished deletes the whole queue.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

# No type stubs in the dev environment (types-jsonschema is not pinned).
from jsonschema import Draft4Validator  # type: ignore[import-untyped,unused-ignore]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped,unused-ignore]

from devstack.webitel_sandbox.errors import ApiError

DEFINITIONS_FILE = Path(__file__).with_name("engine-definitions.json")

# Which definition validates which request body.
BULK_MEMBERS = "engineCreateMemberBulkRequest"
CREATE_MEMBER = "engineCreateMemberRequest"
PATCH_MEMBER = "enginePatchMemberRequest"
DELETE_MEMBERS = "engineDeleteMembersRequest"
CREATE_CALL = "engineCreateCallRequest"
AGENT_STATUS = "engineAgentStatusRequest"

_MAX_REPORTED_ERRORS = 3

_INT64: dict[str, Any] = {
    "type": ["string", "integer"],
    # Only applies to strings (Draft 4): a decimal int64.
    "pattern": "^-?[0-9]{1,19}$",
}
_INT32: dict[str, Any] = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_LOOKUP_REF = {"$ref": "#/definitions/engineLookup"}
# A communication type: id required and >= 1 (as a number or a decimal string).
_TYPE_LOOKUP: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": ["string", "integer"], "pattern": "^0*[1-9][0-9]{0,18}$", "minimum": 1},
        "name": {"type": "string"},
    },
    "additionalProperties": False,
}


def _swagger_types(node: Any) -> Any:
    """Swagger scalar formats as the server reads them: int64 string-or-number, int32 bounded."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "int64":
            return dict(_INT64)
        if node.get("type") == "integer" and node.get("format") == "int32":
            return dict(_INT32)
        return {key: _swagger_types(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_swagger_types(value) for value in node]
    return node


def _member_fields(definition: dict[str, Any]) -> None:
    """Facts of the current engine about a member (create, bulk item, patch)."""
    properties = definition["properties"]
    properties["agent"] = _LOOKUP_REF
    properties["name"] = {"type": "string", "maxLength": 250}
    properties["variables"] = _STRING_MAP
    properties["communications"]["minItems"] = 1
    properties["communications"]["maxItems"] = 20
    definition["not"] = {"required": ["bucket", "skill"]}


def _overlay(definitions: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = _swagger_types(copy.deepcopy(definitions))

    communication = defs["engineMemberCommunicationCreateRequest"]
    communication["properties"]["type"] = _TYPE_LOOKUP
    communication["properties"]["stop_at"] = dict(_INT64)
    communication["properties"]["dtmf"] = {"type": "string"}
    communication["required"] = ["type"]

    for name in ("engineCreateMemberBulkItem", CREATE_MEMBER, PATCH_MEMBER):
        _member_fields(defs[name])
    for name in ("engineCreateMemberBulkItem", CREATE_MEMBER):
        defs[name]["required"] = ["communications"]
    defs[PATCH_MEMBER]["properties"]["fields"]["items"] = {"type": "string"}

    bulk = defs[BULK_MEMBERS]
    bulk["properties"]["file_name"] = {"type": "string", "maxLength": 120}
    bulk["required"] = ["items"]

    delete = defs[DELETE_MEMBERS]
    delete["properties"]["variables"] = _STRING_MAP
    # protos engine/member.proto DeleteMembersRequest: ``repeated int64 id = 2``; ``ids = 3`` is
    # "deprecated" (engine grpc_api/cc_member.go still copies it into the filter).
    delete["properties"]["id"] = copy.deepcopy(delete["properties"]["ids"])
    delete["properties"]["destination"] = {"type": "string"}

    call = defs[CREATE_CALL]
    call["required"] = ["from", "destination"]
    call["properties"]["destination"] = {"type": "string", "minLength": 1}
    endpoint = defs["CreateCallRequestEndpointRequest"]
    endpoint["properties"]["extension"] = {"type": "string", "minLength": 1}
    endpoint["minProperties"] = 1
    settings = defs["CreateCallRequestCallSettings"]["properties"]
    # Gone from the current server (some guides still show them).
    for removed in ("audio", "record"):
        settings.pop(removed, None)
    settings.update(
        {
            "display": {"type": "string"},
            "hide_number": {"type": "boolean"},
            "disable_auto_answer": {"type": "boolean"},
            "cancel_distribute": {"type": "boolean"},
            "is_online": {"type": "boolean"},
            "variables": _STRING_MAP,
        }
    )

    status = defs[AGENT_STATUS]
    status["properties"]["status"] = {"enum": ["online", "offline", "pause", "break_out"]}
    status["required"] = ["status"]

    for definition in defs.values():
        if definition.get("type") == "object" and "properties" in definition:
            definition["additionalProperties"] = False
    return defs


@cache
def _validators() -> dict[str, Draft4Validator]:
    document = json.loads(DEFINITIONS_FILE.read_text(encoding="utf-8"))
    defs = _overlay(document["definitions"])
    names = (BULK_MEMBERS, CREATE_MEMBER, PATCH_MEMBER, DELETE_MEMBERS, CREATE_CALL, AGENT_STATUS)
    validators = {}
    for name in names:
        schema = {"$ref": f"#/definitions/{name}", "definitions": defs}
        Draft4Validator.check_schema(schema)
        validators[name] = Draft4Validator(schema)
    return validators


def definitions() -> dict[str, Any]:
    """The effective (overlaid) definitions, for inspection."""
    document = json.loads(DEFINITIONS_FILE.read_text(encoding="utf-8"))
    return _overlay(document["definitions"])


def validate_body(definition: str, body: Any) -> None:
    """Raise a 400 ApiError naming where ``body`` breaks ``definition``."""
    errors = sorted(_validators()[definition].iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        raise ApiError(400, "app.request.valid", _describe_all(errors))


def _describe_all(errors: Iterable[ValidationError]) -> str:
    described = [_describe(error) for error in errors]
    shown = "; ".join(described[:_MAX_REPORTED_ERRORS])
    more = len(described) - _MAX_REPORTED_ERRORS
    return shown + (f" (and {more} more)" if more > 0 else "")


def _where(error: ValidationError) -> str:
    where = ""
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "body"


def _describe(error: ValidationError) -> str:
    """A message without the offending value: values may be phone numbers."""
    where = _where(error)
    rule = error.validator
    expected = error.validator_value
    if rule in ("required", "additionalProperties"):
        return f"{where}: {error.message}"
    if rule == "not":
        return f"{where}: bucket and skill must not both be set"
    if rule == "type":
        return f"{where}: must be of type {expected}"
    if rule in ("maxLength", "minLength", "maxItems", "minItems", "minProperties"):
        return f"{where}: violates {rule} {expected}"
    if rule in ("minimum", "maximum", "pattern", "enum"):
        return f"{where}: violates {rule} {expected}"
    return f"{where}: violates {rule}"
