"""``adapters.dynamo``'s attribute-value conversion is boto3's ``TypeSerializer`` and
``TypeDeserializer`` without importing boto3: the same output, or the same error, for every value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from ringback.adapters.dynamo import deserialize_value, from_item, serialize_value, to_item

pytestmark = pytest.mark.unit

_numbers = st.one_of(
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=3, min_value=-(10**6), max_value=10**6),
    st.sampled_from(
        [Decimal("1e200"), Decimal("1e-200"), Decimal("-0"), Decimal("1.000"), Decimal("12.5E3")]
    ),
)
_binaries = st.one_of(
    st.binary(max_size=8), st.binary(max_size=8).map(bytearray), st.binary(max_size=8).map(Binary)
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _numbers,
    st.floats(allow_nan=True),
    st.text(max_size=8),
    _binaries,
)
_sets = st.one_of(
    st.frozensets(st.integers(), max_size=4),
    st.sets(st.text(max_size=4), max_size=4),
    st.sets(st.binary(max_size=4), max_size=4),
    st.sets(st.one_of(st.integers(), st.text(max_size=2), st.floats(allow_nan=False)), max_size=4),
)
_values = st.recursive(
    st.one_of(_scalars, _sets, st.just(object())),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
    ),
    max_leaves=12,
)


def _outcome(call: Any, value: Any) -> str:
    # repr: Decimal("NaN") (an unparsable number reads as NaN, as boto3 reads it) equals nothing.
    try:
        return repr(("ok", call(value)))
    except Exception as error:
        return repr(("error", type(error), str(error)))


@given(value=_values)
@settings(max_examples=600, deadline=None, derandomize=True)
def test_serialising_is_boto3s(value: Any) -> None:
    assert _outcome(serialize_value, value) == _outcome(TypeSerializer().serialize, value)


_wire = st.recursive(
    st.one_of(
        st.builds(lambda v: {"NULL": v}, st.booleans()),
        st.builds(lambda v: {"BOOL": v}, st.booleans()),
        st.builds(
            lambda v: {"N": v}, st.sampled_from(["0", "-1.50", "1e3", "12345678901234567890", "x", "1e500"])
        ),
        st.builds(lambda v: {"S": v}, st.text(max_size=6)),
        st.builds(lambda v: {"B": v}, st.binary(max_size=6)),
        st.builds(lambda v: {"NS": v}, st.lists(st.sampled_from(["1", "2.5", "-0"]), max_size=3)),
        st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=3), max_size=3)),
        st.builds(lambda v: {"BS": v}, st.lists(st.binary(max_size=3), max_size=3)),
        st.sampled_from([{}, {"X": 1}, {"null": True}, {"s": "lower"}]),
    ),
    lambda children: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(children, max_size=3)),
        st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=3), children, max_size=3)),
    ),
    max_leaves=10,
)


@given(value=_wire)
@settings(max_examples=600, deadline=None, derandomize=True)
def test_deserialising_is_boto3s(value: Any) -> None:
    assert _outcome(deserialize_value, value) == _outcome(TypeDeserializer().deserialize, value)


def test_binary_values_come_back_as_boto3s_binary() -> None:
    back = deserialize_value({"B": b"\x00x"})
    assert isinstance(back, Binary)
    assert back == b"\x00x"
    assert serialize_value(Binary(b"y")) == {"B": b"y"}


def test_items_round_trip_with_floats_as_decimals_and_whole_numbers_as_int() -> None:
    item = to_item({"a": 1.5, "b": None, "c": {"d": None, "e": [2.0, "x"]}, "f": 3})
    assert item == {
        "a": {"N": "1.5"},
        "c": {"M": {"e": {"L": [{"N": "2.0"}, {"S": "x"}]}}},
        "f": {"N": "3"},
    }
    assert from_item(item) == {"a": 1.5, "c": {"e": [2, "x"]}, "f": 3}
