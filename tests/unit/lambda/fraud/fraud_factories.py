"""Factories shared by the fraud domain tests (a plain module: `conftest` names clash across dirs)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from fraud.models import Transaction

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z, ms
KEY = b"k" * 32
VALID_PAN = "4111111111111111"  # passes Luhn
SPEC_PAN = "1234567890123456"  # the spec's example, fails Luhn


def make_txn(**overrides: Any) -> Transaction:
    fields: dict[str, Any] = {
        "transaction_id": "txn-00000001",
        "event_time": T0,
        "received_at": T0,
        "amount": Decimal("20.50"),
        "currency": "USD",
        "merchant": "Corner Shop",
        "location": "Boston, USA",
        "country": "US",
        "customer_id": "CUST1",
        "card_fingerprint": "f" * 64,
        "card_last4": "1111",
        "card_bin": "411111",
        "card_luhn_valid": True,
    }
    fields.update(overrides)
    if isinstance(fields["amount"], (str, int)):
        fields["amount"] = Decimal(fields["amount"])
    if "received_at" not in overrides:
        fields["received_at"] = fields["event_time"]
    return Transaction(**fields)
