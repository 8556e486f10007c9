"""No card number in an X-Ray annotation or metadata, nor in any log line, on any handler path.

X-Ray cannot be read back from the local emulator, so the handlers' tracer is observed at
the source: `Tracer.put_annotation` / `put_metadata` are recorded (annotations are indexed
and searchable in X-Ray: a PAN there would be the worst kind of leak) while known card
numbers go through every route, valid and invalid, then detection and notification.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools import Tracer

PANS = ("4111111111111111", "5500 0055 5555 5559", "1234-5678-9012-3456", "378282246310005")


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    monkeypatch.setattr(Tracer, "put_annotation", lambda self, key, value: seen.append((key, value)))
    monkeypatch.setattr(Tracer, "put_metadata", lambda self, key, value, namespace=None: seen.append((key, value)))
    return seen


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def test_no_pan_in_traces_or_logs(aws: Any, api_event: Any, sqs_event: Any, context: Any, output: Any,
                                  traced: list[tuple[str, Any]]) -> None:  # fmt: skip
    import api_handler
    import fraud_detection
    import notification_handler

    def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return api_handler.handler(api_event(*args, **kwargs), context)

    ids = []
    for index, pan in enumerate(PANS):
        body = {"amount": 15000 if index % 2 else 25.5, "merchant": "Unknown Store", "card_number": pan,
                "location": "Nigeria" if index % 2 else "Austin, USA", "customer_id": f"CUST{index}"}  # fmt: skip
        created = call("POST", "/transactions", body, headers={"Idempotency-Key": f"k-{index}"})
        assert created["statusCode"] == 201, created
        ids.append(json.loads(created["body"])["transaction_id"])
        call("POST", "/transactions", body, headers={"Idempotency-Key": f"k-{index}"})  # replay
        call("POST", "/transactions", {**body, "amount": 1}, headers={"Idempotency-Key": f"k-{index}"})  # 422
        call("POST", "/transactions", {**body, "amount": -5, "extra": pan})  # 400 naming fields
        call("POST", "/transactions", json.dumps(body), raw=True, content_type="text/plain")  # 415
    inserts = [r for r in aws.stream_records() if r["eventName"] == "INSERT"]
    assert fraud_detection.handler({"Records": inserts}, context) == {"batchItemFailures": []}
    messages = aws.drain(aws.alert_queue)
    assert messages, "nothing flagged: the notification path would go unexercised"
    notification_handler.handler(sqs_event(messages), context)
    for txn_id in ids:
        call("GET", "/transactions/{transaction_id}", path_params={"transaction_id": txn_id})
        call("POST", "/transactions/{transaction_id}/feedback", {"label": "fraud"}, path_params={"transaction_id": txn_id})

    annotations = {key for key, _ in traced}
    assert "transaction_id" in annotations, "the tracer was not observed"
    logged = output()
    assert "transaction scored" in logged and "alert published" in logged
    for pan in PANS:
        pan_digits = digits(pan)
        for key, value in traced:
            assert pan_digits not in digits(json.dumps(value, default=str)), f"PAN in trace {key}"
        assert pan_digits not in logged and pan not in logged
        assert pan_digits not in digits(aws.raw_items("transactions")) and pan_digits not in digits(aws.raw_items("idempotency"))
