"""Card number handling: checksum, keyed fingerprint, masking, Submission -> Transaction.

The PAN exists only inside `Submission` during one request; everything that
leaves this module carries the fingerprint, the last four digits and the BIN.
"""
from __future__ import annotations

import hashlib
import hmac

from .models import Transaction
from .reference import country_of
from .validation import Submission


def luhn_valid(pan: str) -> bool:
    """Luhn (mod 10) checksum of a digits-only PAN; False for anything that is not digits."""
    if not pan.isdigit() or not pan.isascii():
        return False
    total = 0
    for index, char in enumerate(reversed(pan)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def fingerprint(pan: str, key: bytes) -> str:
    """HMAC-SHA256 hex of the PAN: stable per card, useless without the KMS-derived key."""
    if len(key) < 16:
        raise ValueError("fingerprint key must be at least 16 bytes")
    return hmac.new(key, pan.encode("ascii"), hashlib.sha256).hexdigest()


def mask(last4: str) -> str:
    return f"**** **** **** {last4}"


def to_transaction(sub: Submission, *, transaction_id: str, received_at: int, fingerprint_key: bytes) -> Transaction:
    pan = sub.card_number
    return Transaction(
        transaction_id=transaction_id,
        event_time=sub.event_time if sub.event_time is not None else received_at,
        received_at=received_at,
        amount=sub.amount,
        currency=sub.currency,
        merchant=sub.merchant,
        location=sub.location,
        country=country_of(sub.location),
        customer_id=sub.customer_id,
        card_fingerprint=fingerprint(pan, fingerprint_key),
        card_last4=pan[-4:],
        card_bin=pan[:6],
        card_luhn_valid=luhn_valid(pan),
    )
