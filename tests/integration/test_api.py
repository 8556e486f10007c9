"""The API as a client meets it: through API Gateway, with and without the key."""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from lib.local.outputs import StackOutputs
from lib.local.traffic import Pipeline

pytestmark = pytest.mark.integration


def _body(card: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": 42.10, "merchant": "Corner Books", "card_number": card,
                            "location": "Chicago, USA", "customer_id": "CUSTITEST1"}
    body.update(overrides)
    return body


def _assert_json_error(resp: Any) -> dict[str, Any]:
    """A rejection must explain itself as a JSON object with a message (never HTML or a stack)."""
    payload = resp.response if hasattr(resp, "response") else resp.json()
    assert isinstance(payload, dict), f"error body is not a JSON object: {payload!r}"
    assert isinstance(payload.get("message"), str) and payload["message"], payload
    return payload


def test_post_with_key_is_accepted(pipeline: Pipeline, fresh_card: str) -> None:
    sub = pipeline.submit(_body(fresh_card))
    assert sub.status == 201, sub.response
    assert set(sub.response) >= {"message", "transaction_id", "timestamp"}
    assert isinstance(sub.response["timestamp"], int)
    assert fresh_card not in json.dumps(sub.response)


@pytest.mark.parametrize("api_key", [None, "not-the-key-0123456789abcdef"], ids=["missing", "wrong"])
def test_post_without_the_key_is_refused(pipeline: Pipeline, fresh_card: str, api_key: Any) -> None:
    sub = pipeline.submit(_body(fresh_card), api_key=api_key)
    assert sub.status == 403, sub.response
    assert sub.transaction_id is None


@pytest.mark.parametrize("api_key", [None, "not-the-key-0123456789abcdef"], ids=["missing", "wrong"])
def test_get_without_the_key_is_refused(pipeline: Pipeline, api_key: Any) -> None:
    resp = pipeline.get("0000000000000000", api_key=api_key)
    assert resp.status_code == 403, resp.text


def test_refused_request_is_not_stored(pipeline: Pipeline, outputs: StackOutputs, fresh_card: str) -> None:
    """A 403 must stop at the gateway: no item with this card ever reaches the table."""
    pipeline.submit(_body(fresh_card, merchant="Refused Merchant"), api_key=None)
    scan = outputs.client("dynamodb").scan(
        TableName=outputs.table_name,
        FilterExpression="card_last4 = :l AND merchant = :m",
        ExpressionAttributeValues={":l": {"S": fresh_card[-4:]}, ":m": {"S": "Refused Merchant"}},
    )
    assert scan["Count"] == 0


BAD_BODIES = {
    "not-json": b"{amount: 12",
    "json-array": b"[1, 2, 3]",
    "empty-object": b"{}",
    "missing-card": json.dumps({"amount": 10, "merchant": "M", "location": "L"}).encode(),
    "negative-amount": json.dumps({"amount": -5, "merchant": "M", "card_number": "4111111111111111",
                                   "location": "L"}).encode(),
    "amount-as-words": json.dumps({"amount": "ten", "merchant": "M", "card_number": "4111111111111111",
                                   "location": "L"}).encode(),
    "card-as-number": json.dumps({"amount": 10, "merchant": "M", "card_number": 4111111111111111,
                                  "location": "L"}).encode(),
    "short-card": json.dumps({"amount": 10, "merchant": "M", "card_number": "4111",
                              "location": "L"}).encode(),
    "three-decimals": json.dumps({"amount": 10.123, "merchant": "M", "card_number": "4111111111111111",
                                  "location": "L"}).encode(),
    "unknown-field": json.dumps({"amount": 10, "merchant": "M", "card_number": "4111111111111111",
                                 "location": "L", "customerId": "x"}).encode(),
}


@pytest.mark.parametrize("raw", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_bodies_get_a_json_400(pipeline: Pipeline, raw: bytes) -> None:
    sub = pipeline.submit(None, raw=raw)
    assert sub.status == 400, (sub.status, sub.response)
    _assert_json_error(sub)
    assert "4111111111111111" not in json.dumps(sub.response)


def test_wrong_content_type_is_rejected_with_json(pipeline: Pipeline, fresh_card: str) -> None:
    sub = pipeline.submit(None, raw=json.dumps(_body(fresh_card)).encode(),
                          headers={"Content-Type": "text/plain"})
    assert 400 <= sub.status < 500, (sub.status, sub.response)
    _assert_json_error(sub)


def test_unknown_transaction_is_a_json_404(pipeline: Pipeline) -> None:
    resp = pipeline.get("no-such-transaction-0001")
    assert resp.status_code == 404, resp.text
    _assert_json_error(resp)


def test_api_is_not_reachable_outside_its_stage(outputs: StackOutputs) -> None:
    """Only the deployed stage routes to the function; another stage name does not."""
    wrong_stage = outputs.api_url.replace("/prod/", "/nonexistent-stage/")
    assert wrong_stage != outputs.api_url
    resp = requests.post(wrong_stage, json={}, headers={"x-api-key": outputs.api_key or ""}, timeout=30)
    assert resp.status_code in (403, 404), resp.text
