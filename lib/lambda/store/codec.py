"""DynamoDB attribute-value (de)serialisation without the boto3 resource layer."""
from __future__ import annotations

from typing import Any, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_attrs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (Decimal numbers, no floats) → {"name": {"S": ...}}."""
    return {key: _SERIALIZER.serialize(value) for key, value in item.items()}


def to_value(value: Any) -> dict[str, Any]:
    return _SERIALIZER.serialize(value)


def from_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _DESERIALIZER.deserialize(value) for key, value in attrs.items()}
