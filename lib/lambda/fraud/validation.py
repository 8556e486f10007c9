"""Validation of client payloads: every bad field is reported at once.

Decisions (the api handler's 400 body lists `ValidationError.errors`):

- The payload must be a JSON object. **Unknown fields are rejected** with
  `FieldError(<name>, "unknown field")`: a typo such as `customerId` would
  otherwise silently lose the customer link the detection relies on. Values
  of unknown fields are never echoed.
- `amount`: a JSON number, a `Decimal` (when the body is parsed with
  `parse_float=Decimal`) or a plain numeric string (`"125.50"`: digits with an
  optional fraction, no sign, no exponent). Booleans, NaN and infinities are
  rejected. It must be > 0, have at most 2 decimal places (trailing zeros are
  fine: `125.500` is 125.50) and be at most `MAX_AMOUNT`.
- `card_number`: a string of 13-19 digits; spaces and dashes are stripped.
  A JSON number is rejected (16-digit numbers lose precision in JavaScript
  clients). The Luhn checksum is *not* checked here: a failure is a risk
  reason (`CARD_CHECKSUM_FAILED`), because the spec's own example card fails
  it. The PAN never appears in an error message, a repr or a str.
- `merchant`, `location`: strings, trimmed, non-empty, at most
  `MAX_TEXT_LENGTH` characters, no control or bidi-override characters.
- `currency`: optional, default `USD`; exactly 3 upper-case letters and a
  known ISO 4217 code.
- `customer_id`: optional, `[A-Za-z0-9_-]{1,64}`; null is the same as absent.
- `timestamp`: optional event time, either epoch **milliseconds** (integer)
  or an ISO-8601 string with a timezone. At most `MAX_FUTURE_MS` ahead of and
  at most `MAX_AGE_MS` behind the server clock (both bounds inclusive).
- `transaction_id`: optional, `[A-Za-z0-9_-]{8,64}`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from .reference import CURRENCIES

MAX_AMOUNT = Decimal("1000000")
MAX_TEXT_LENGTH = 128
MAX_FUTURE_MS = 5 * 60 * 1000
MAX_AGE_MS = 30 * 24 * 3600 * 1000
DEFAULT_CURRENCY = "USD"
LABELS = ("fraud", "legitimate")

_FIELDS = frozenset(
    {"amount", "merchant", "card_number", "location", "currency", "customer_id", "timestamp", "transaction_id"}
)
_REQUIRED = ("amount", "merchant", "card_number", "location")
_NUMERIC_STRING = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_PAN = re.compile(r"^[0-9]{13,19}$")
_PAN_SEPARATORS = re.compile(r"[ \-]")
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TRANSACTION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# C0/C1 controls, line/paragraph separators and bidi overrides (text spoofing).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# JSON may carry "\ud800" escapes that decode to lone surrogates: not encodable as UTF-8, so
# DynamoDB, logs and e-mail would all fail on them later (a 500 instead of a 400 now).
_SURROGATE = re.compile("[\ud800-\udfff]")
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class ValidationError(ValueError):
    """One or more fields are invalid; `errors` lists every one of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("invalid request: " + "; ".join(f"{e.field}: {e.reason}" for e in self.errors))


@dataclass(frozen=True)
class Submission:
    amount: Decimal
    currency: str
    merchant: str
    location: str
    card_number: str  # digits only; in memory only, never stored, logged or printed
    customer_id: Optional[str]
    event_time: Optional[int]  # epoch ms
    transaction_id: Optional[str]

    def __repr__(self) -> str:
        return (
            f"Submission(amount={self.amount!s}, currency={self.currency!r}, merchant={self.merchant!r}, "
            f"location={self.location!r}, card_number='****{self.card_number[-4:]}', "
            f"customer_id={self.customer_id!r}, event_time={self.event_time!r}, "
            f"transaction_id={self.transaction_id!r})"
        )

    __str__ = __repr__


def _amount(value: Any, errors: list[FieldError]) -> Optional[Decimal]:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        errors.append(FieldError("amount", "must be a number or a numeric string"))
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _NUMERIC_STRING.fullmatch(text):
            errors.append(FieldError("amount", "must be a positive number with at most 2 decimal places"))
            return None
        amount = Decimal(text)
    else:
        try:
            # str() of a float is its shortest round-trip form: 125.5 -> "125.5", 0.1+0.2 -> 3 dp+.
            amount = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            errors.append(FieldError("amount", "must be a number or a numeric string"))
            return None
    if not amount.is_finite():
        errors.append(FieldError("amount", "must be a finite number"))
        return None
    if amount <= 0:
        errors.append(FieldError("amount", "must be greater than 0"))
        return None
    if amount > MAX_AMOUNT:  # before quantize: a huge value would overflow its precision
        errors.append(FieldError("amount", f"must not exceed {MAX_AMOUNT}"))
        return None
    if amount != amount.quantize(_CENT):
        errors.append(FieldError("amount", "must have at most 2 decimal places"))
        return None
    return amount.quantize(_CENT)


def _text(name: str, value: Any, errors: list[FieldError]) -> Optional[str]:
    if not isinstance(value, str):
        errors.append(FieldError(name, "must be a string"))
        return None
    text = value.strip()
    if not text:
        errors.append(FieldError(name, "must not be empty"))
    elif len(text) > MAX_TEXT_LENGTH:
        errors.append(FieldError(name, f"must be at most {MAX_TEXT_LENGTH} characters"))
    elif _CONTROL.search(text):
        errors.append(FieldError(name, "must not contain control characters"))
    elif _SURROGATE.search(text):
        errors.append(FieldError(name, "must be valid Unicode (no lone surrogate code points)"))
    else:
        return text
    return None


def _card_number(value: Any, errors: list[FieldError]) -> Optional[str]:
    if not isinstance(value, str):
        errors.append(FieldError("card_number", "must be a string of 13-19 digits"))
        return None
    digits = _PAN_SEPARATORS.sub("", value.strip())
    if not _PAN.fullmatch(digits):
        errors.append(FieldError("card_number", "must be 13-19 digits (spaces and dashes allowed)"))
        return None
    return digits


def _currency(value: Any, errors: list[FieldError]) -> Optional[str]:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        errors.append(FieldError("currency", "must be an ISO 4217 code of 3 upper-case letters"))
    elif value not in CURRENCIES:
        errors.append(FieldError("currency", "is not a known ISO 4217 currency code"))
    else:
        return value
    return None


def _pattern(name: str, value: Any, pattern: re.Pattern[str], rule: str, errors: list[FieldError]) -> Optional[str]:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        errors.append(FieldError(name, f"must match {rule}"))
        return None
    return value


def _timestamp(value: Any, now_ms: int, errors: list[FieldError]) -> Optional[int]:
    millis: Optional[int] = None
    if isinstance(value, int) and not isinstance(value, bool):
        millis = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            millis = int(parsed.timestamp() * 1000)
        elif parsed is not None:
            errors.append(FieldError("timestamp", "ISO-8601 timestamp must include a timezone"))
            return None
    if millis is None:
        errors.append(FieldError("timestamp", "must be epoch milliseconds or an ISO-8601 string with a timezone"))
    elif millis > now_ms + MAX_FUTURE_MS:
        errors.append(FieldError("timestamp", "must not be more than 5 minutes in the future"))
    elif millis < now_ms - MAX_AGE_MS:
        errors.append(FieldError("timestamp", "must not be older than 30 days"))
    else:
        return millis
    return None


def parse_submission(payload: object, *, now_ms: Optional[int] = None) -> Submission:
    """Validate a decoded `POST /transactions` body; raise ValidationError listing every problem."""
    if not isinstance(payload, dict):
        raise ValidationError([FieldError("body", "must be a JSON object")])
    now = int(time.time() * 1000) if now_ms is None else now_ms
    errors: list[FieldError] = []
    for name in sorted(set(payload) - _FIELDS, key=str):
        errors.append(FieldError(str(name)[:64], "unknown field"))
    for name in _REQUIRED:
        if payload.get(name) is None:
            errors.append(FieldError(name, "is required"))

    def present(name: str) -> bool:
        return payload.get(name) is not None

    amount = _amount(payload["amount"], errors) if present("amount") else None
    merchant = _text("merchant", payload["merchant"], errors) if present("merchant") else None
    location = _text("location", payload["location"], errors) if present("location") else None
    card = _card_number(payload["card_number"], errors) if present("card_number") else None
    currency = _currency(payload["currency"], errors) if present("currency") else DEFAULT_CURRENCY
    customer = (
        _pattern("customer_id", payload["customer_id"], _CUSTOMER_ID, "[A-Za-z0-9_-]{1,64}", errors)
        if present("customer_id")
        else None
    )
    event_time = _timestamp(payload["timestamp"], now, errors) if present("timestamp") else None
    txn_id = (
        _pattern("transaction_id", payload["transaction_id"], _TRANSACTION_ID, "[A-Za-z0-9_-]{8,64}", errors)
        if present("transaction_id")
        else None
    )
    if errors:
        raise ValidationError(errors)
    assert amount is not None and merchant is not None and location is not None and card is not None
    assert currency is not None
    return Submission(amount, currency, merchant, location, card, customer, event_time, txn_id)


def parse_feedback(payload: object) -> str:
    """Validate a `POST /transactions/{id}/feedback` body: `{"label": "fraud" | "legitimate"}`."""
    if not isinstance(payload, dict):
        raise ValidationError([FieldError("body", "must be a JSON object")])
    errors = [FieldError(str(name)[:64], "unknown field") for name in sorted(set(payload) - {"label"}, key=str)]
    label = payload.get("label")
    if label is None:
        errors.append(FieldError("label", "is required"))
    elif label not in LABELS:
        errors.append(FieldError("label", "must be 'fraud' or 'legitimate'"))
    if errors:
        raise ValidationError(errors)
    return str(label)
