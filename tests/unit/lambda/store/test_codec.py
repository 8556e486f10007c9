"""The store's fast attribute-value codec gives exactly boto3's results and errors."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from store.codec import from_attrs, to_attrs, to_value

_S, _D = TypeSerializer(), TypeDeserializer()

scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=30,
)


def _outcome(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except Exception as exc:  # the same exception type is part of the contract
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(values)
def test_serialize_matches_boto3(value: Any) -> None:
    assert _outcome(to_value, value) == _outcome(_S.serialize, value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=6))
def test_round_trip_matches_boto3(item: dict[str, Any]) -> None:
    try:
        attrs = {k: _S.serialize(v) for k, v in item.items()}
    except (TypeError, ValueError, ArithmeticError):
        return  # not storable (e.g. a 40-digit int): covered by the serialize test
    assert to_attrs(item) == attrs
    assert from_attrs(attrs) == {k: _D.deserialize(v) for k, v in attrs.items()}


def test_floats_are_refused_as_boto3_does() -> None:
    with pytest.raises(TypeError):
        to_attrs({"amount": 1.5})
    with pytest.raises(TypeError):
        to_value([1, {"x": 2.5}])


def test_other_types_take_boto3s_path() -> None:
    attrs = to_attrs({"tags": {"a", "b"}, "raw": b"\x00\x01", "amount": Decimal("12.50"), "pair": (1, "x")})
    assert attrs["tags"]["SS"] and sorted(attrs["tags"]["SS"]) == ["a", "b"]
    assert attrs["raw"] == {"B": b"\x00\x01"} and attrs["amount"] == {"N": "12.50"}
    assert attrs["pair"] == {"L": [{"N": "1"}, {"S": "x"}]}
    back = from_attrs({"raw": {"B": b"\x00"}, "ns": {"NS": ["1", "2"]}, "n": {"N": "7"}, "m": {"M": {"b": {"BOOL": False}}}})
    assert back == {"raw": Binary(b"\x00"), "ns": {Decimal(1), Decimal(2)}, "n": Decimal(7), "m": {"b": False}}
    assert isinstance(back["n"], Decimal)
