"""api_handler against moto: routes, every client error path, idempotency, no PAN anywhere."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import api_handler

SPEC_EXAMPLE = {
    "amount": 125.50,
    "merchant": "Store Name",
    "card_number": "1234567890123456",
    "location": "New York, USA",
    "customer_id": "CUST12345",
}
SPEC_ALERT_EXAMPLE = {"amount": 15000.00, "merchant": "Unknown Store", "card_number": "1234567890123456",
                      "location": "Nigeria"}  # fmt: skip
TXN = "/transactions"
ONE = "/transactions/{transaction_id}"
FEEDBACK = "/transactions/{transaction_id}/feedback"


def call(api_event, context, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    response = api_handler.handler(api_event(*args, **kwargs), context)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"]), response


def post(api_event, context, body: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    status, payload, _ = call(api_event, context, "POST", TXN, body, **kwargs)
    return status, payload


def assert_error(status: int, payload: dict[str, Any], expected: int, *fields: str) -> None:
    assert status == expected, payload
    assert isinstance(payload["message"], str) and payload["message"]
    assert all(set(e) == {"field", "reason"} for e in payload["errors"])
    assert {e["field"] for e in payload["errors"]} >= set(fields)


# --- POST /transactions -----------------------------------------------------------------


def test_spec_example_is_recorded_without_the_pan(aws, api_event, context, output):
    status, body = post(api_event, context, SPEC_EXAMPLE)
    assert status == 201
    assert body["message"] == "Transaction recorded successfully"
    assert isinstance(body["timestamp"], int)
    [item] = aws.scan("transactions")
    assert item["transaction_id"] == body["transaction_id"]
    assert item["received_at"] == body["timestamp"]
    assert item["status"] == "RECEIVED"
    assert item["amount"] == Decimal("125.5")
    assert (item["card_last4"], item["card_bin"], item["card_luhn_valid"]) == ("3456", "123456", False)
    assert len(item["card_fingerprint"]) == 64 and item["customer_id"] == "CUST12345"
    assert "1234567890123456" not in aws.raw_items("transactions")
    logged = output()
    assert "1234567890123456" not in logged
    assert f'"transaction_id":"{body["transaction_id"]}"' in logged  # logs carry the transaction id
    assert '"TransactionsAccepted":[1.0]' in logged  # EMF metric


def test_second_spec_example_and_same_card_same_fingerprint(aws, api_event, context):
    assert post(api_event, context, SPEC_ALERT_EXAMPLE)[0] == 201
    assert post(api_event, context, SPEC_EXAMPLE)[0] == 201
    items = aws.scan("transactions")
    assert len(items) == 2
    assert len({i["card_fingerprint"] for i in items}) == 1
    assert {i["country"] for i in items} == {"NG", "US"}


def test_fingerprint_key_is_derived_from_kms_not_env(aws, api_event, context, monkeypatch):
    post(api_event, context, SPEC_EXAMPLE)
    first = aws.scan("transactions")[0]["card_fingerprint"]
    # A different HMAC key gives a different fingerprint for the same card.
    import boto3

    kms = boto3.client("kms")
    other = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("CARD_FINGERPRINT_KEY_ID", other)
    api_handler.container.cache_clear()
    post(api_event, context, {**SPEC_EXAMPLE, "transaction_id": "second-key-txn"})
    second = {i["transaction_id"]: i for i in aws.scan("transactions")}["second-key-txn"]["card_fingerprint"]
    assert first != second


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["amount", "merchant", "card_number", "location"]),
        ({**SPEC_EXAMPLE, "amount": -5}, ["amount"]),
        ({**SPEC_EXAMPLE, "amount": 0}, ["amount"]),
        ({**SPEC_EXAMPLE, "amount": "12.345"}, ["amount"]),
        ({**SPEC_EXAMPLE, "amount": True}, ["amount"]),
        ({**SPEC_EXAMPLE, "amount": 10_000_000}, ["amount"]),
        ({**SPEC_EXAMPLE, "card_number": "123"}, ["card_number"]),
        ({**SPEC_EXAMPLE, "card_number": 4111111111111111}, ["card_number"]),
        ({**SPEC_EXAMPLE, "merchant": ""}, ["merchant"]),
        ({**SPEC_EXAMPLE, "location": "x" * 500}, ["location"]),
        ({**SPEC_EXAMPLE, "currency": "usd"}, ["currency"]),
        ({**SPEC_EXAMPLE, "currency": "XYZ"}, ["currency"]),
        ({**SPEC_EXAMPLE, "customer_id": "has spaces"}, ["customer_id"]),
        ({**SPEC_EXAMPLE, "timestamp": "yesterday"}, ["timestamp"]),
        ({**SPEC_EXAMPLE, "transaction_id": "short"}, ["transaction_id"]),
        ({**SPEC_EXAMPLE, "customerId": "C1"}, ["customerId"]),
        ({"amount": "abc", "merchant": 5, "card_number": "12", "location": None}, ["amount", "merchant", "card_number", "location"]),
        ([1, 2, 3], ["body"]),
        ("a string", ["body"]),
    ],
)
def test_validation_errors_are_400_naming_each_field(aws, api_event, context, payload, fields, output):
    status, body = post(api_event, context, payload)
    assert_error(status, body, 400, *fields)
    assert aws.scan("transactions") == []
    logged = output()
    assert '"message":"request rejected"' in logged
    assert "4111111111111111" not in logged + json.dumps(body)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_is_415(aws, api_event, context, content_type):
    status, body = post(api_event, context, SPEC_EXAMPLE, content_type=content_type)
    assert_error(status, body, 415, "Content-Type")


def test_json_content_type_with_charset_and_any_header_case(aws, api_event, context):
    event = api_event("POST", TXN, SPEC_EXAMPLE, content_type=None, headers={"content-TYPE": "Application/JSON; charset=utf-8"})
    assert api_handler.handler(event, context)["statusCode"] == 201


def test_oversized_body_is_413(aws, api_event, context):
    body = json.dumps({**SPEC_EXAMPLE, "merchant": "m" * (17 * 1024)})
    status, payload = post(api_event, context, body, raw=True)
    assert_error(status, payload, 413, "body")


@pytest.mark.parametrize("raw", ['{"amount": 1,', "", "not json", '{"amount": NaN}', '{"a": Infinity}', "[" * 5000 + "]" * 5000])
def test_malformed_json_is_400(aws, api_event, context, raw):
    status, payload = post(api_event, context, raw, raw=True)
    assert_error(status, payload, 400, "body")


def test_invalid_utf8_and_base64_bodies(aws, api_event, context):
    event = api_event("POST", TXN, None)
    event.update(body="//79", isBase64Encoded=True)  # bytes ff fe fd: not UTF-8
    assert api_handler.handler(event, context)["statusCode"] == 400
    event.update(body="%%%not-base64", isBase64Encoded=True)
    assert api_handler.handler(event, context)["statusCode"] == 400
    status, _ = post(api_event, context, SPEC_EXAMPLE, base64=True)
    assert status == 201


def test_unknown_route_is_404(aws, api_event, context):
    status, payload, _ = call(api_event, context, "DELETE", TXN, None)
    assert_error(status, payload, 404)


# --- idempotency ------------------------------------------------------------------------


def test_same_idempotency_key_returns_the_original_response(aws, api_event, context):
    headers = {"Idempotency-Key": "order-42-attempt"}
    first = post(api_event, context, SPEC_EXAMPLE, headers=headers)
    second = post(api_event, context, SPEC_EXAMPLE, headers=headers)
    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    [item] = aws.scan("transactions")
    assert item["idempotency_key"] == "order-42-attempt"
    # The idempotency record hashes the fingerprinted payload: no PAN there either.
    assert "1234567890123456" not in aws.raw_items("idempotency")


def test_idempotency_layer_is_built_on_the_first_keyed_request_with_its_context(aws, api_event, context):
    deps = api_handler.container()
    assert post(api_event, context, SPEC_EXAMPLE)[0] == 201
    assert "record_once" not in vars(deps)  # no key: Powertools idempotency not needed yet
    assert post(api_event, context, SPEC_EXAMPLE, headers={"Idempotency-Key": "first-keyed"})[0] == 201
    assert "record_once" in vars(deps)
    # Powertools' timeout handling sees the current invocation's context.
    assert deps.idempotency_config.lambda_context is context


def test_same_idempotency_key_with_another_body_is_422(aws, api_event, context):
    headers = {"Idempotency-Key": "k-1"}
    assert post(api_event, context, SPEC_EXAMPLE, headers=headers)[0] == 201
    status, body = post(api_event, context, {**SPEC_EXAMPLE, "amount": 999}, headers=headers)
    assert_error(status, body, 422, "Idempotency-Key")
    # Same amount, other card: the hash covers the card (through its fingerprint).
    status, body = post(api_event, context, {**SPEC_EXAMPLE, "card_number": "4111111111111111"}, headers=headers)
    assert_error(status, body, 422, "Idempotency-Key")
    assert len(aws.scan("transactions")) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\tkey"])
def test_invalid_idempotency_key_is_400(aws, api_event, context, key):
    status, body = post(api_event, context, SPEC_EXAMPLE, headers={"Idempotency-Key": key})
    assert_error(status, body, 400, "Idempotency-Key")


def test_durable_guard_when_the_idempotency_record_is_gone(aws, api_event, context):
    """A retry after the Powertools record expired (or was never saved) still stores nothing twice."""
    headers = {"Idempotency-Key": "crash-then-retry"}
    first = post(api_event, context, SPEC_EXAMPLE, headers=headers)
    for item in aws.ddb.scan(TableName=aws.tables["idempotency"])["Items"]:
        aws.ddb.delete_item(TableName=aws.tables["idempotency"], Key={"id": item["id"]})
    second = post(api_event, context, SPEC_EXAMPLE, headers=headers)
    assert second == first
    assert len(aws.scan("transactions")) == 1
    for item in aws.ddb.scan(TableName=aws.tables["idempotency"])["Items"]:
        aws.ddb.delete_item(TableName=aws.tables["idempotency"], Key={"id": item["id"]})
    status, body = post(api_event, context, {**SPEC_EXAMPLE, "amount": 1}, headers=headers)
    assert_error(status, body, 422, "Idempotency-Key")


def test_same_client_transaction_id_is_replayed_not_duplicated(aws, api_event, context):
    payload = {**SPEC_EXAMPLE, "transaction_id": "client-txn-0001"}
    first = post(api_event, context, payload)
    second = post(api_event, context, payload)
    assert first[0] == second[0] == 201 and first[1] == second[1]
    assert first[1]["transaction_id"] == "client-txn-0001"
    assert len(aws.scan("transactions")) == 1


def test_client_transaction_id_reused_for_another_transaction_is_409(aws, api_event, context):
    assert post(api_event, context, {**SPEC_EXAMPLE, "transaction_id": "client-txn-0002"})[0] == 201
    status, body = post(api_event, context, {**SPEC_EXAMPLE, "transaction_id": "client-txn-0002", "amount": 5})
    assert_error(status, body, 409, "transaction_id")
    [item] = aws.scan("transactions")
    assert item["amount"] == Decimal("125.5")


def test_in_flight_duplicate_is_409(aws, api_event, context):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    deps = api_handler.container()

    def busy(**_: Any) -> Any:
        raise IdempotencyAlreadyInProgressError("in progress")

    deps.record_once = busy
    status, body = post(api_event, context, SPEC_EXAMPLE, headers={"Idempotency-Key": "busy"})
    assert_error(status, body, 409, "Idempotency-Key")


def test_dependency_failure_is_a_json_500_without_request_data(aws, api_event, context, monkeypatch, output):
    monkeypatch.setenv("TRANSACTIONS_TABLE", "no-such-table")
    api_handler.container.cache_clear()
    status, body = post(api_event, context, SPEC_EXAMPLE)
    assert status == 500 and body["message"]
    logged = output()
    assert '"request failed"' in logged
    assert "1234567890123456" not in logged + json.dumps(body)


# --- GET /transactions/{id} -------------------------------------------------------------


def test_get_returns_the_masked_view(aws, api_event, context):
    _, created = post(api_event, context, SPEC_ALERT_EXAMPLE)
    txn_id = created["transaction_id"]
    status, body, _ = call(api_event, context, "GET", ONE, path_params={"transaction_id": txn_id})
    assert status == 200
    assert body["card"] == "**** **** **** 3456"
    assert body["amount"] == "15000.00" and body["currency"] == "USD"
    assert body["status"] == "RECEIVED" and body["merchant"] == "Unknown Store"
    assert "card_fingerprint" not in body and "card_bin" not in body
    assert "1234567890123456" not in json.dumps(body)


def test_get_shows_score_decision_and_reasons_once_scored(aws, api_event, context):
    _, created = post(api_event, context, SPEC_ALERT_EXAMPLE)
    txn_id = created["transaction_id"]
    aws.ddb.update_item(
        TableName=aws.tables["transactions"], Key={"transaction_id": {"S": txn_id}},
        UpdateExpression="SET risk_score = :s, decision = :d, reasons = :r, #st = :scored",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":s": {"N": "85"}, ":d": {"S": "block"}, ":scored": {"S": "SCORED"},
                                   ":r": {"L": [{"M": {"code": {"S": "HIGH_AMOUNT"}, "description": {"S": "d"},
                                                       "contribution": {"N": "45"}}}]}},
    )  # fmt: skip
    _, body, _ = call(api_event, context, "GET", ONE, path_params={"transaction_id": txn_id})
    assert (body["status"], body["risk_score"], body["decision"]) == ("SCORED", 85, "block")
    assert body["reasons"] == [{"code": "HIGH_AMOUNT", "description": "d", "contribution": 45}]


@pytest.mark.parametrize("txn_id", ["does-not-exist-123", "bad id!", "x"])
def test_get_unknown_or_malformed_id_is_404(aws, api_event, context, txn_id):
    status, body, _ = call(api_event, context, "GET", ONE, path_params={"transaction_id": txn_id})
    assert_error(status, body, 404)


# --- POST /transactions/{id}/feedback ---------------------------------------------------


def _created(api_event, context) -> str:
    return post(api_event, context, SPEC_ALERT_EXAMPLE)[1]["transaction_id"]


def test_feedback_records_the_label_and_feeds_the_state(aws, api_event, context):
    txn_id = _created(api_event, context)
    status, body, _ = call(api_event, context, "POST", FEEDBACK, {"label": "fraud"}, path_params={"transaction_id": txn_id})
    assert status == 200 and body["transaction_id"] == txn_id and body["label"] == "fraud"
    [item] = aws.scan("transactions")
    assert item["label"] == "fraud" and int(item["labelled_at"]) == body["labelled_at"]
    docs = {d["pk"]: d for d in aws.scan("fraud-state")}
    card = next(d for k, d in docs.items() if k.startswith("CARD#"))
    merchant = next(d for k, d in docs.items() if k.startswith("MERCH#"))
    assert [row[0] for row in card["labels"]] == [txn_id]
    assert [row[0] for row in merchant["labels"]] == [txn_id]


def test_feedback_is_idempotent_and_a_different_label_conflicts(aws, api_event, context):
    txn_id = _created(api_event, context)
    params = {"transaction_id": txn_id}
    first = call(api_event, context, "POST", FEEDBACK, {"label": "fraud"}, path_params=params)[:2]
    again = call(api_event, context, "POST", FEEDBACK, {"label": "fraud"}, path_params=params)[:2]
    assert first == again
    versions = {d["pk"]: d["version"] for d in aws.scan("fraud-state")}
    status, body, _ = call(api_event, context, "POST", FEEDBACK, {"label": "legitimate"}, path_params=params)
    assert_error(status, body, 409, "label")
    assert {d["pk"]: d["version"] for d in aws.scan("fraud-state")} == versions


@pytest.mark.parametrize(("payload", "field"), [({"label": "maybe"}, "label"), ({}, "label"),
                                                ({"label": "fraud", "x": 1}, "x"), ([], "body")])  # fmt: skip
def test_feedback_validation_is_400(aws, api_event, context, payload, field):
    txn_id = _created(api_event, context)
    status, body, _ = call(api_event, context, "POST", FEEDBACK, payload, path_params={"transaction_id": txn_id})
    assert_error(status, body, 400, field)
    assert "label" not in aws.scan("transactions")[0]


def test_feedback_transport_errors(aws, api_event, context):
    params = {"transaction_id": "unknown-txn-0001"}
    status, body, _ = call(api_event, context, "POST", FEEDBACK, {"label": "fraud"}, path_params=params)
    assert_error(status, body, 404)
    txn_id = _created(api_event, context)
    status, body, _ = call(api_event, context, "POST", FEEDBACK, {"label": "fraud"},
                           path_params={"transaction_id": txn_id}, content_type="text/plain")  # fmt: skip
    assert_error(status, body, 415)
    status, body, _ = call(api_event, context, "POST", FEEDBACK, "{", raw=True, path_params={"transaction_id": txn_id})
    assert_error(status, body, 400, "body")
