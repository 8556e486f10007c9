from __future__ import annotations

from decimal import Decimal

import pytest

from fraud.cards import fingerprint, luhn_valid, mask, to_transaction
from fraud.models import Assessment, Reason, Transaction
from fraud.reference import country_of
from fraud.validation import parse_submission
from fraud_factories import KEY, SPEC_PAN, T0, VALID_PAN, make_txn


@pytest.mark.parametrize(
    "pan, valid",
    [(VALID_PAN, True), ("4012888888881881", True), ("378282246310005", True), ("6011111111111117", True),
     (SPEC_PAN, False), ("4111111111111112", False), ("", False), ("41111a", False), ("٤١١١", False)],
)
def test_luhn(pan: str, valid: bool) -> None:
    assert luhn_valid(pan) is valid


def test_fingerprint_is_keyed_stable_and_not_the_pan() -> None:
    a = fingerprint(VALID_PAN, KEY)
    assert a == fingerprint(VALID_PAN, KEY) and len(a) == 64 and VALID_PAN not in a
    assert a != fingerprint(VALID_PAN, b"j" * 32)
    assert a != fingerprint("4012888888881881", KEY)
    with pytest.raises(ValueError):
        fingerprint(VALID_PAN, b"short")


def test_mask() -> None:
    assert mask("1234") == "**** **** **** 1234"


@pytest.mark.parametrize(
    "location, country",
    [
        ("New York, USA", "US"), ("Nigeria", "NG"), ("Lagos, Nigeria", "NG"), ("london", "GB"),
        ("Paris, France", "FR"), ("Côte d'Ivoire", "CI"), ("U.S.A.", "US"), ("NG", "NG"),
        ("Atlanta, GA", ""), ("Somewhere", ""), ("", ""), ("Berlin , Deutschland ", "DE"),
        ("Toronto, CA", "CA"), ("Los Angeles, CA", "US"),
    ],
)
def test_country_normaliser(location: str, country: str) -> None:
    assert country_of(location) == country


def test_to_transaction_keeps_no_pan() -> None:
    sub = parse_submission(
        {"amount": "15000", "merchant": "Unknown Store", "card_number": SPEC_PAN, "location": "Nigeria"}, now_ms=T0
    )
    txn = to_transaction(sub, transaction_id="tx-12345678", received_at=T0, fingerprint_key=KEY)
    assert (txn.event_time, txn.received_at, txn.country) == (T0, T0, "NG")
    assert (txn.card_last4, txn.card_bin, txn.card_luhn_valid) == ("3456", "123456", False)
    assert txn.card_fingerprint == fingerprint(SPEC_PAN, KEY)
    for text in (repr(txn), str(txn.to_item())):
        assert SPEC_PAN not in text


def test_client_timestamp_becomes_event_time() -> None:
    sub = parse_submission(
        {"amount": 1, "merchant": "m", "card_number": VALID_PAN, "location": "x", "timestamp": T0 - 1000}, now_ms=T0
    )
    txn = to_transaction(sub, transaction_id="tx-12345678", received_at=T0, fingerprint_key=KEY)
    assert (txn.event_time, txn.received_at) == (T0 - 1000, T0)


def test_item_round_trip_and_shape() -> None:
    txn = make_txn(customer_id=None, amount="12.3")
    item = txn.to_item()
    assert "customer_id" not in item and None not in item.values()
    assert item["amount"] == Decimal("12.30") and isinstance(item["event_time"], Decimal)
    assert not any(isinstance(v, float) for v in item.values())
    assert Transaction.from_item(item) == txn
    assert Transaction.from_item({**make_txn().to_item(), "status": "SCORED", "risk_score": Decimal(5)}) == make_txn()


def test_from_item_accepts_int_and_str_numbers() -> None:
    item = {**make_txn().to_item(), "event_time": T0, "received_at": str(T0), "amount": "20.5"}
    assert Transaction.from_item(item) == make_txn()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"event_time": "soon"}, "event_time"),
        ({"event_time": Decimal("1.5")}, "event_time"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "1e30"}, "amount"),
        ({"amount": True}, "amount"),
        ({"card_luhn_valid": "yes"}, "card_luhn_valid"),
    ],
)
def test_from_item_rejects_malformed(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Transaction.from_item({**make_txn().to_item(), **change})


def test_from_item_missing_attribute_is_value_error() -> None:
    item = make_txn().to_item()
    del item["card_fingerprint"]
    with pytest.raises(ValueError, match="card_fingerprint"):
        Transaction.from_item(item)


def test_assessment_flagged_and_item() -> None:
    reasons = (Reason("HIGH_AMOUNT", "big", 45),)
    a = Assessment("t", 45, "review", reasons, "rules-v1", {})
    assert a.flagged and not Assessment("t", 0, "approve", (), "rules-v1", {}).flagged
    assert a.to_item() == {
        "risk_score": Decimal(45), "decision": "review", "model_version": "rules-v1",
        "reasons": [{"code": "HIGH_AMOUNT", "description": "big", "contribution": Decimal(45)}],
    }
