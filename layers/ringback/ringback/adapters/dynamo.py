"""Plain-Python <-> DynamoDB attribute-value conversion for the low-level client."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# boto3's ``TypeSerializer``/``TypeDeserializer`` (``boto3.dynamodb.types``), rule for rule:
# importing them imports boto3 itself (its session, s3transfer, the resource factory), tens of
# ms of a cold start that the low-level client never needs. Only binary values take boto3's
# ``Binary`` (imported when one is read). tests/unit/test_dynamo_types.py holds them equal.
_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _binary_types() -> tuple[type, ...]:
    # A boto3 ``Binary`` exists only once its module is loaded.
    types = sys.modules.get("boto3.dynamodb.types")
    return (types.Binary, bytearray, bytes) if types is not None else (bytearray, bytes)


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, Decimal)):
        return True
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return False


def _number(value: Any) -> str:
    number = str(_CONTEXT.create_decimal(value))
    if number in ["Infinity", "NaN"]:
        raise TypeError("Infinity and NaN not supported")
    return number


def _binary(value: Any) -> Any:
    return value if isinstance(value, (bytearray, bytes)) else value.value


def serialize_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    binary = _binary_types()
    if isinstance(value, binary):
        return {"B": _binary(value)}
    if isinstance(value, Set):
        if False not in map(_is_number, value):
            return {"NS": [_number(n) for n in value]}
        if False not in (isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if False not in (isinstance(v, binary) for v in value):
            return {"BS": [_binary(b) for b in value]}
    if isinstance(value, Mapping):
        return {"M": {k: serialize_value(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize_value(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def _deserialize_binary(value: Any) -> Any:
    from boto3.dynamodb.types import Binary

    return Binary(value)


_DESERIALIZERS: dict[str, Any] = {
    "null": lambda value: None,
    "bool": lambda value: value,
    "n": _CONTEXT.create_decimal,
    "s": lambda value: value,
    "b": _deserialize_binary,
    "ns": lambda value: set(map(_CONTEXT.create_decimal, value)),
    "ss": set,
    "bs": lambda value: set(map(_deserialize_binary, value)),
    "l": lambda value: [deserialize_value(v) for v in value],
    "m": lambda value: {k: deserialize_value(v) for k, v in value.items()},
}


def deserialize_value(value: Any) -> Any:
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    dynamodb_type = next(iter(value.keys()))
    deserializer = _DESERIALIZERS.get(f"{dynamodb_type}".lower())
    if deserializer is None:
        raise TypeError(f"Dynamodb type {dynamodb_type} is not supported")
    return deserializer(value[dynamodb_type])


def _to_dynamo_value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo_value(v) for v in value]
    return value


def _from_dynamo_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_from_dynamo_value(v) for v in value]
    return value


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """A dict of plain values (None dropped, floats as Decimal) as a DynamoDB item."""
    return {k: serialize_value(_to_dynamo_value(v)) for k, v in data.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values (whole numbers as int)."""
    return {k: _from_dynamo_value(deserialize_value(v)) for k, v in item.items()}
