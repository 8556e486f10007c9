from __future__ import annotations

import json
from typing import Any

import pytest

from fraud.alerts import alert_message, format_alert, validate_message
from fraud.engine import FraudEngine, InMemoryStateStore
from fraud.models import Assessment, Reason
from fraud_factories import SPEC_PAN, T0, make_txn

TXN = make_txn(transaction_id="tx-alert-01", amount="15000", merchant="Unknown Store", location="Nigeria",
               country="NG", customer_id=None, card_last4="3456", card_bin="123456", card_luhn_valid=False)


def message() -> dict[str, Any]:
    [assessment] = FraudEngine().assess_batch([TXN], InMemoryStateStore())
    return json.loads(json.dumps(alert_message(TXN, assessment)))  # as it travels through SQS


def test_message_matches_the_contract() -> None:
    m = message()
    assert set(m) == {"version", "transaction_id", "event_time", "amount", "currency", "merchant", "location",
                      "customer_id", "card_last4", "card_bin", "risk_score", "decision", "reasons", "model_version"}
    assert (m["version"], m["amount"], m["currency"], m["customer_id"]) == (1, "15000.00", "USD", None)
    assert (m["risk_score"], m["decision"], m["model_version"]) == (85, "block", "rules-v1")
    assert m["reasons"][0] == {"code": "HIGH_AMOUNT", "description": "Amount 15000.00 USD is above 10000",
                               "contribution": 45}
    assert SPEC_PAN not in json.dumps(m)


def test_format_alert() -> None:
    subject, body, attributes = format_alert(message())
    assert subject == "Fraud alert: block 85/100 15000.00 USD" and len(subject) <= 100
    for fragment in ("**** **** **** 3456", "15000.00 USD", "Unknown Store", "Nigeria", "85/100", "BLOCK",
                     "HIGH_AMOUNT (+45)", "HIGH_RISK_LOCATION (+30)", "tx-alert-01", "2023-11-14 22:13:20 UTC"):
        assert fragment in body
    assert SPEC_PAN not in body and "123456" not in body
    assert attributes == {
        "severity": {"DataType": "String", "StringValue": "critical"},
        "decision": {"DataType": "String", "StringValue": "block"},
        "risk_score": {"DataType": "Number", "StringValue": "85"},
    }


def test_review_severity_and_long_subject_is_capped() -> None:
    m = {**message(), "decision": "review", "risk_score": 45, "currency": "EUR", "amount": "9" * 16 + ".00"}
    subject, _, attributes = format_alert(m)
    assert attributes["severity"]["StringValue"] == "high" and len(subject) <= 100


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2}, {"transaction_id": ""}, {"transaction_id": 5}, {"event_time": "now"},
        {"event_time": True}, {"amount": "15000"}, {"amount": 15000.0}, {"currency": "usd"},
        {"card_last4": "12345"}, {"card_bin": "12"}, {"risk_score": 101}, {"risk_score": "85"},
        {"decision": "panic"}, {"reasons": "many"}, {"reasons": [{"code": "X"}]},
        {"merchant": None}, {"customer_id": 7}, {"merchant": f"Shop {SPEC_PAN}"},
    ],
)
def test_malformed_messages_are_poison(change: dict) -> None:
    with pytest.raises(ValueError):
        format_alert({**message(), **change})


@pytest.mark.parametrize("body", [None, [], "text", 3])
def test_non_object_is_poison(body: Any) -> None:
    with pytest.raises(ValueError):
        validate_message(body)


def test_alert_for_other_transaction_is_refused() -> None:
    other = Assessment("someone-else", 50, "review", (Reason("X", "x", 50),), "rules-v1", {})
    with pytest.raises(ValueError):
        alert_message(TXN, other)


def test_missing_key_is_poison_not_key_error() -> None:
    m = message()
    del m["location"]
    with pytest.raises(ValueError):
        format_alert(m)


def test_event_time_is_rendered_in_utc() -> None:
    _, body, _ = format_alert({**message(), "event_time": T0 + 3_600_000})
    assert "2023-11-14 23:13:20 UTC" in body
