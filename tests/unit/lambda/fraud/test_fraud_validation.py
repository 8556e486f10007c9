from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from fraud.validation import (
    MAX_AGE_MS,
    MAX_FUTURE_MS,
    FieldError,
    ValidationError,
    parse_feedback,
    parse_submission,
)
from fraud_factories import SPEC_PAN, T0, VALID_PAN

GOOD = {"amount": 125.50, "merchant": "Store Name", "card_number": SPEC_PAN, "location": "New York, USA"}


def errors_of(payload: Any, **kw: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        parse_submission(payload, now_ms=T0, **kw)
    return {e.field: e.reason for e in info.value.errors}


def with_(**changes: Any) -> dict[str, Any]:
    payload = {**GOOD, **changes}
    return {k: v for k, v in payload.items() if v is not ...}


def test_spec_examples_parse() -> None:
    first = parse_submission({**GOOD, "customer_id": "CUST12345"}, now_ms=T0)
    assert first.amount == Decimal("125.50") and first.currency == "USD"
    assert first.customer_id == "CUST12345" and first.event_time is None and first.transaction_id is None
    second = parse_submission(
        {"amount": 15000.00, "merchant": "Unknown Store", "card_number": SPEC_PAN, "location": "Nigeria"}, now_ms=T0
    )
    assert second.amount == Decimal("15000.00") and second.card_number == SPEC_PAN


def test_every_bad_field_is_reported_at_once() -> None:
    payload = {
        "amount": -1, "merchant": "", "card_number": "12", "location": 5, "currency": "usd",
        "customer_id": "bad id!", "timestamp": "yesterday", "transaction_id": "short", "extra": 1,
    }
    errors = errors_of(payload)
    assert set(errors) == {
        "amount", "merchant", "card_number", "location", "currency", "customer_id", "timestamp",
        "transaction_id", "extra",
    }
    assert errors["extra"] == "unknown field"


def test_missing_required_fields() -> None:
    assert errors_of({}) == {f: "is required" for f in ("amount", "merchant", "card_number", "location")}
    assert errors_of(with_(amount=None)) == {"amount": "is required"}


@pytest.mark.parametrize("payload", [[], "x", None, 3, [GOOD]])
def test_body_must_be_an_object(payload: Any) -> None:
    assert errors_of(payload) == {"body": "must be a JSON object"}


@pytest.mark.parametrize(
    "amount, expected",
    [
        (125.5, Decimal("125.50")),
        (Decimal("0.01"), Decimal("0.01")),
        ("49.99", Decimal("49.99")),
        (" 10 ", Decimal("10.00")),
        ("125.500", Decimal("125.50")),
        (1_000_000, Decimal("1000000.00")),
        (7, Decimal("7.00")),
    ],
)
def test_amount_accepted(amount: Any, expected: Decimal) -> None:
    assert parse_submission(with_(amount=amount), now_ms=T0).amount == expected


@pytest.mark.parametrize(
    "amount, reason",
    [
        (True, "must be a number or a numeric string"),
        ([1], "must be a number or a numeric string"),
        ({"v": 1}, "must be a number or a numeric string"),
        (0, "must be greater than 0"),
        (-5, "must be greater than 0"),
        ("-5", "must be a positive number with at most 2 decimal places"),
        ("1e3", "must be a positive number with at most 2 decimal places"),
        ("NaN", "must be a positive number with at most 2 decimal places"),
        ("", "must be a positive number with at most 2 decimal places"),
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (Decimal("Infinity"), "must be a finite number"),
        (1.005, "must have at most 2 decimal places"),
        (0.1 + 0.2, "must have at most 2 decimal places"),
        ("10.001", "must have at most 2 decimal places"),
        (1_000_000.01, "must not exceed 1000000"),
        (10**30, "must not exceed 1000000"),
    ],
)
def test_amount_rejected(amount: Any, reason: str) -> None:
    assert errors_of(with_(amount=amount)) == {"amount": reason}


@pytest.mark.parametrize("field", ["merchant", "location"])
@pytest.mark.parametrize(
    "value, reason",
    [
        (123, "must be a string"),
        ("   ", "must not be empty"),
        ("x" * 129, "must be at most 128 characters"),
        ("bad\nname", "must not contain control characters"),
        ("bad\x00name", "must not contain control characters"),
        ("evil\u202ename", "must not contain control characters"),
        ("lone \ud800 surrogate", "must be valid Unicode (no lone surrogate code points)"),
    ],
)
def test_text_fields_rejected(field: str, value: Any, reason: str) -> None:
    assert errors_of(with_(**{field: value})) == {field: reason}


def test_text_fields_trimmed_and_capped_inclusive() -> None:
    sub = parse_submission(with_(merchant="  Café Übel  ", location="x" * 128), now_ms=T0)
    assert sub.merchant == "Café Übel" and len(sub.location) == 128


@pytest.mark.parametrize("pan", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4" * 13, "4" * 19, SPEC_PAN])
def test_card_number_accepted_and_normalised(pan: str) -> None:
    assert parse_submission(with_(card_number=pan), now_ms=T0).card_number == pan.replace(" ", "").replace("-", "")


@pytest.mark.parametrize("pan", ["4" * 12, "4" * 20, "4111x11111111111", "", 4111111111111111, "４１１１１１１１１１１１１１１１"])
def test_card_number_rejected_without_echoing_it(pan: Any) -> None:
    with pytest.raises(ValidationError) as info:
        parse_submission(with_(card_number=pan), now_ms=T0)
    assert [e.field for e in info.value.errors] == ["card_number"]
    assert str(pan) not in str(info.value) or str(pan) == ""


def test_luhn_failure_is_not_a_rejection() -> None:
    assert parse_submission(with_(card_number="4111111111111112"), now_ms=T0).card_number == "4111111111111112"


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY", "NGN"])
def test_currency_accepted(currency: str) -> None:
    assert parse_submission(with_(currency=currency), now_ms=T0).currency == currency


@pytest.mark.parametrize(
    "currency, reason",
    [
        ("usd", "must be an ISO 4217 code of 3 upper-case letters"),
        ("US", "must be an ISO 4217 code of 3 upper-case letters"),
        ("USD\n", "must be an ISO 4217 code of 3 upper-case letters"),
        (840, "must be an ISO 4217 code of 3 upper-case letters"),
        ("ABC", "is not a known ISO 4217 currency code"),
    ],
)
def test_currency_rejected(currency: Any, reason: str) -> None:
    assert errors_of(with_(currency=currency)) == {"currency": reason}


def test_optional_fields_default_and_null_is_absent() -> None:
    sub = parse_submission(with_(currency=None, customer_id=None, timestamp=None, transaction_id=None), now_ms=T0)
    assert (sub.currency, sub.customer_id, sub.event_time, sub.transaction_id) == ("USD", None, None, None)


@pytest.mark.parametrize("value", ["a", "A_b-9", "x" * 64])
def test_customer_id_accepted(value: str) -> None:
    assert parse_submission(with_(customer_id=value), now_ms=T0).customer_id == value


@pytest.mark.parametrize("value", ["", "x" * 65, "a b", "a\n", "ü", 12])
def test_customer_id_rejected(value: Any) -> None:
    assert errors_of(with_(customer_id=value)) == {"customer_id": "must match [A-Za-z0-9_-]{1,64}"}


@pytest.mark.parametrize("value", ["abcdefgh", "x" * 64, "0f3c-aa_11"])
def test_transaction_id_accepted(value: str) -> None:
    assert parse_submission(with_(transaction_id=value), now_ms=T0).transaction_id == value


@pytest.mark.parametrize("value", ["abcdefg", "x" * 65, "abc/defgh", 12345678])
def test_transaction_id_rejected(value: Any) -> None:
    assert errors_of(with_(transaction_id=value)) == {"transaction_id": "must match [A-Za-z0-9_-]{8,64}"}


@pytest.mark.parametrize(
    "value, expected",
    [
        (T0, T0),
        (T0 + MAX_FUTURE_MS, T0 + MAX_FUTURE_MS),
        (T0 - MAX_AGE_MS, T0 - MAX_AGE_MS),
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T23:13:20+01:00", T0),
        ("2023-11-14T22:13:20.250+00:00", T0 + 250),
    ],
)
def test_timestamp_accepted(value: Any, expected: int) -> None:
    assert parse_submission(with_(timestamp=value), now_ms=T0).event_time == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        (T0 + MAX_FUTURE_MS + 1, "must not be more than 5 minutes in the future"),
        (T0 - MAX_AGE_MS - 1, "must not be older than 30 days"),
        (T0 // 1000, "must not be older than 30 days"),  # seconds instead of ms
        ("2023-11-14T22:13:20", "ISO-8601 timestamp must include a timezone"),
        ("not a time", "must be epoch milliseconds or an ISO-8601 string with a timezone"),
        (True, "must be epoch milliseconds or an ISO-8601 string with a timezone"),
        (1.7e12, "must be epoch milliseconds or an ISO-8601 string with a timezone"),
    ],
)
def test_timestamp_rejected(value: Any, reason: str) -> None:
    assert errors_of(with_(timestamp=value)) == {"timestamp": reason}


def test_submission_repr_and_str_mask_the_pan() -> None:
    sub = parse_submission(with_(card_number=VALID_PAN), now_ms=T0)
    for text in (repr(sub), str(sub), f"{sub}", repr([sub])):
        assert VALID_PAN not in text and "****1111" in text


def test_validation_error_message_lists_all() -> None:
    err = ValidationError([FieldError("a", "x"), FieldError("b", "y")])
    assert "a: x" in str(err) and "b: y" in str(err)
    assert FieldError("a", "x").to_dict() == {"field": "a", "reason": "x"}


@pytest.mark.parametrize("label", ["fraud", "legitimate"])
def test_feedback_accepted(label: str) -> None:
    assert parse_feedback({"label": label}) == label


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({}, ["label"]),
        ({"label": "FRAUD"}, ["label"]),
        ({"label": ["fraud"]}, ["label"]),
        ({"label": "fraud", "note": "x"}, ["note"]),
        ("fraud", ["body"]),
    ],
)
def test_feedback_rejected(payload: Any, fields: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        parse_feedback(payload)
    assert [e.field for e in info.value.errors] == fields
