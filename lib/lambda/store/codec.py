"""DynamoDB attribute-value (de)serialisation without the boto3 resource layer.

The common shapes (str, int, bool, None, lists, dicts, and numbers read back) take a
direct path: boto3's generic TypeSerializer/TypeDeserializer spend most of their time
dispatching on type, and the state documents carry thousands of numbers (a merchant's
hour columns), so detection spent more CPU here than on scoring (docs/BENCHMARKS.md).
Everything else (Decimal, sets, binary, and every error case: floats, out-of-range
numbers) goes to boto3's own code, so results and errors are exactly boto3's.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_INT_LIMIT = 10**38  # DynamoDB numbers carry 38 significant digits; larger ints take boto3's (raising) path


def _serialize(value: Any) -> dict[str, Any]:
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int and -_INT_LIMIT < value < _INT_LIMIT:
        return {"N": str(value)}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if kind is list or kind is tuple:
        return {"L": [_serialize(v) for v in value]}
    if kind is dict:
        return {"M": {k: _serialize(v) for k, v in value.items()}}
    return _SERIALIZER.serialize(value)


def _deserialize(value: Mapping[str, Any]) -> Any:
    if len(value) == 1:
        (kind, data), = value.items()
        if kind == "S":
            return data
        if kind == "N":
            return Decimal(data)  # what boto3 returns (its context only rejects the impossible)
        if kind == "L":
            return [_deserialize(v) for v in data]
        if kind == "M":
            return {k: _deserialize(v) for k, v in data.items()}
        if kind == "BOOL":
            return data
        if kind == "NULL":
            return None
    return _DESERIALIZER.deserialize(value)


def to_attrs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (Decimal numbers, no floats) → {"name": {"S": ...}}."""
    return {key: _serialize(value) for key, value in item.items()}


def to_value(value: Any) -> dict[str, Any]:
    return _serialize(value)


def from_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserialize(value) for key, value in attrs.items()}
