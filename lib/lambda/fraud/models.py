"""Value objects shared by validation, scoring, the engine and the alerts.

A `Transaction` is what the api handler stores (never the PAN: only a keyed
fingerprint, the last four digits and the BIN). `to_item()` gives the
DynamoDB shape of docs/CONTRACTS.md; the handler adds `status` and
`idempotency_key` itself. `from_item()` reads that shape back from a stream
image or a table read, accepting Decimal (boto3), int or str numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Optional, Tuple

DECISIONS = ("approve", "review", "block")
_CENT = Decimal("0.01")


def _to_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got a boolean")
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(number)


def _to_amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("amount must be a number, got a boolean")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"amount must be a number, got {value!r}") from None
    if not amount.is_finite() or abs(amount) >= 10**15:
        raise ValueError(f"amount out of range: {value!r}")
    return amount.quantize(_CENT)


@dataclass(frozen=True)
class Transaction:
    transaction_id: str
    event_time: int  # epoch ms, the client's timestamp or received_at
    received_at: int  # epoch ms
    amount: Decimal  # 2 dp, in `currency` units
    currency: str
    merchant: str
    location: str
    country: str  # ISO 3166 alpha-2 or "" when the location is not recognised
    customer_id: Optional[str]
    card_fingerprint: str  # HMAC-SHA256 hex of the PAN
    card_last4: str
    card_bin: str
    card_luhn_valid: bool

    def to_item(self) -> dict[str, Any]:
        """DynamoDB-ready attributes (Decimal numbers, no None values)."""
        item: dict[str, Any] = {
            "transaction_id": self.transaction_id,
            "event_time": Decimal(self.event_time),
            "received_at": Decimal(self.received_at),
            "amount": self.amount.quantize(_CENT),
            "currency": self.currency,
            "merchant": self.merchant,
            "location": self.location,
            "country": self.country,
            "card_fingerprint": self.card_fingerprint,
            "card_last4": self.card_last4,
            "card_bin": self.card_bin,
            "card_luhn_valid": self.card_luhn_valid,
        }
        if self.customer_id is not None:
            item["customer_id"] = self.customer_id
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "Transaction":
        """Inverse of `to_item`; extra attributes (status, risk_score, ...) are ignored.

        Raises ValueError (KeyError for a missing attribute is turned into it)
        so a handler can treat a malformed record as poison.
        """
        try:
            customer = item.get("customer_id")
            luhn = item["card_luhn_valid"]
            if not isinstance(luhn, bool):
                raise ValueError(f"card_luhn_valid must be a boolean, got {luhn!r}")
            return cls(
                transaction_id=str(item["transaction_id"]),
                event_time=_to_int(item["event_time"], "event_time"),
                received_at=_to_int(item["received_at"], "received_at"),
                amount=_to_amount(item["amount"]),
                currency=str(item["currency"]),
                merchant=str(item["merchant"]),
                location=str(item.get("location", "")),
                country=str(item.get("country", "")),
                customer_id=None if customer in (None, "") else str(customer),
                card_fingerprint=str(item["card_fingerprint"]),
                card_last4=str(item["card_last4"]),
                card_bin=str(item.get("card_bin", "")),
                card_luhn_valid=luhn,
            )
        except KeyError as missing:
            raise ValueError(f"transaction item lacks attribute {missing}") from None


@dataclass(frozen=True)
class Reason:
    code: str
    description: str
    contribution: int  # points of the 0..100 score this reason accounts for

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description, "contribution": self.contribution}


@dataclass(frozen=True)
class Assessment:
    transaction_id: str
    risk_score: int  # 0..100, equal to the sum of the reasons' contributions
    decision: str  # one of DECISIONS
    reasons: Tuple[Reason, ...]
    model_version: str
    features: Mapping[str, float]

    @property
    def flagged(self) -> bool:
        return self.decision != "approve"

    def to_item(self) -> dict[str, Any]:
        """The attributes detection writes back on the transaction item (minus `scored_at`)."""
        return {
            "risk_score": Decimal(self.risk_score),
            "decision": self.decision,
            "reasons": [
                {"code": r.code, "description": r.description, "contribution": Decimal(r.contribution)}
                for r in self.reasons
            ],
            "model_version": self.model_version,
        }
