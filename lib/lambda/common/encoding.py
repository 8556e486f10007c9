"""Compact JSON that understands the Decimals DynamoDB hands back."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Integral values (scores, epoch ms) as ints; the rest keep their exact digits.
        if value == value.to_integral_value():
            return int(value)
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(body: Any) -> str:
    return json.dumps(body, default=_default, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
