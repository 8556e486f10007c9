"""notification_handler against moto: one SNS alert per transaction, per-message failures, DLQ-bound poison;
and the whole pipeline (api → stream → detection → queue → notification) under replays."""
from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

import fraud_detection
import notification_handler

PAN = "1234567890123456"
BLOCK = {"amount": 15000.00, "merchant": "Unknown Store", "card_number": PAN, "location": "Nigeria"}
FLAGGED = {"amount": 20.00, "merchant": "Scam Store", "card_number": "4111111111111111", "location": "Boston",
          "customer_id": "CUST-9"}  # fmt: skip
APPROVE = {"amount": 125.50, "merchant": "Store Name", "card_number": PAN, "location": "New York, USA"}


def detect(aws, context) -> list[dict[str, Any]]:
    """Score everything on the stream; returns the alert messages detection queued."""
    records = [r for r in aws.stream_records() if r["eventName"] == "INSERT"]
    assert fraud_detection.handler({"Records": records}, context)["batchItemFailures"] == []
    return aws.drain(aws.alert_queue)


def notify(sqs_event, context, messages: list[dict[str, Any]]) -> list[str]:
    result = notification_handler.handler(sqs_event(messages), context)
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def fake(body: Any, message_id: str) -> dict[str, Any]:
    return {"MessageId": message_id, "Body": body if isinstance(body, str) else json.dumps(body)}


def test_alert_is_published_with_attributes_and_marked(aws, submit, context, sqs_event, output):
    txn_id = submit(BLOCK)
    messages = detect(aws, context)
    assert notify(sqs_event, context, messages) == []
    [note] = aws.published()
    [item] = aws.scan("transactions")
    score = int(item["risk_score"])
    assert item["decision"] == "block" and item["alerted_at"] > 0
    assert note["Subject"] == f"Fraud alert: block {score}/100 15000.00 USD"
    assert note["MessageAttributes"]["severity"]["Value"] == "critical"
    assert note["MessageAttributes"]["risk_score"] == {"Type": "Number", "Value": str(score)}
    assert "**** **** **** 3456" in note["Message"] and txn_id in note["Message"]
    logged = output()
    assert '"AlertsSent":[1.0]' in logged and f'"transaction_id":"{txn_id}"' in logged
    assert PAN not in logged + json.dumps(note) + aws.raw_items("transactions") + aws.raw_items("idempotency")


def test_duplicate_delivery_publishes_once(aws, submit, context, sqs_event, output):
    submit(BLOCK)
    [message] = detect(aws, context)
    copy = {**message, "MessageId": "redelivered-copy"}
    assert notify(sqs_event, context, [message, copy]) == []
    assert notify(sqs_event, context, [copy]) == []
    assert len(aws.published()) == 1
    assert output().count('"DuplicateAlertsSuppressed":[1.0]') == 2


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", {"version": 1, "transaction_id": "t-1"},
     {"version": 1, "transaction_id": "t-00000002", "event_time": 1, "amount": "1.00", "currency": "USD",
      "merchant": "Shop 4111111111111111", "location": "x", "customer_id": None, "card_last4": "1111",
      "card_bin": "411111", "risk_score": 90, "decision": "block", "reasons": [], "model_version": "v"}],
)  # fmt: skip
def test_malformed_message_fails_alone(aws, submit, context, sqs_event, body, output):
    submit(BLOCK)
    [good] = detect(aws, context)
    assert notify(sqs_event, context, [fake(body, "bad-1"), good]) == ["bad-1"]
    assert len(aws.published()) == 1
    logged = output()
    assert '"MalformedAlerts":[1.0]' in logged and "4111111111111111" not in logged


def test_a_batch_of_only_failures_raises_for_a_whole_retry(aws, context, sqs_event):
    with pytest.raises(BatchProcessingError):
        notify(sqs_event, context, [fake("nope", "bad-1"), fake("{}", "bad-2")])


def test_failing_publish_retries_only_its_message_and_then_publishes_once(aws, submit, context, sqs_event, scripted):
    blocked, reviewed = submit(BLOCK), submit(FLAGGED)
    messages = detect(aws, context)
    sns = boto3.client("sns")

    def publish(**kwargs: Any) -> Any:
        if blocked in kwargs["Message"]:
            raise notification_handler_error()
        return sns.publish(**kwargs)

    notification_handler.container().publisher._sns = scripted(sns, publish=publish)
    by_txn = {json.loads(m["Body"])["transaction_id"]: m["MessageId"] for m in messages}
    assert notify(sqs_event, context, messages) == [by_txn[blocked]]
    [published] = aws.published()
    assert reviewed in published["Message"] and blocked not in published["Message"]
    # The failed attempt left no idempotency record behind: the redelivery publishes.
    notification_handler.container().publisher._sns = sns
    assert notify(sqs_event, context, messages) == []
    assert len(aws.published()) == 1  # only the blocked one; the reviewed one is suppressed
    items = {i["transaction_id"]: i for i in aws.scan("transactions")}
    assert "alerted_at" in items[blocked] and "alerted_at" in items[reviewed]


def notification_handler_error() -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "InternalError", "Message": "sns down"}}, "Publish")


def test_marker_failure_after_publish_does_not_publish_again(aws, submit, context, sqs_event, scripted, output):
    submit(BLOCK)
    messages = detect(aws, context)
    ddb = boto3.client("dynamodb")

    def update_item(**kwargs: Any) -> Any:
        if kwargs["TableName"] == aws.tables["transactions"]:
            raise notification_handler_error()
        return ddb.update_item(**kwargs)

    notification_handler.container().transactions._dynamodb = scripted(ddb, update_item=update_item)
    assert notify(sqs_event, context, messages) == []
    assert notify(sqs_event, context, messages) == []
    assert len(aws.published()) == 1
    assert '"AlertMarkerFailed":[1.0]' in output()


def test_alert_for_an_unknown_transaction_creates_no_item(aws, submit, context, sqs_event):
    submit(BLOCK)
    [message] = detect(aws, context)
    aws.ddb.delete_item(TableName=aws.tables["transactions"], Key={"transaction_id": {"S": json.loads(message["Body"])["transaction_id"]}})
    assert notify(sqs_event, context, [message]) == []
    assert len(aws.published()) == 1 and aws.scan("transactions") == []


def test_pipeline_end_to_end_one_alert_per_flagged_transaction_under_replays(aws, submit, context, sqs_event, output):
    ids = [submit(p) for p in (BLOCK, FLAGGED, APPROVE)]
    first = detect(aws, context)
    replayed = detect(aws, context)  # the same stream batch delivered again
    assert len(first) == len(replayed) == 2
    assert notify(sqs_event, context, first) == []
    assert notify(sqs_event, context, replayed + first) == []  # plus SQS duplicates
    alerts = aws.published()
    assert len(alerts) == 2
    items = {i["transaction_id"]: i for i in aws.scan("transactions")}
    decisions = sorted(a["MessageAttributes"]["decision"]["Value"] for a in alerts)
    assert decisions == sorted(items[i]["decision"] for i in ids[:2]) and "approve" not in decisions
    assert [("alerted_at" in items[i]) for i in ids] == [True, True, False]
    everything = output() + json.dumps(alerts) + "".join(aws.raw_items(b) for b in aws.tables)
    for pan in (PAN, "4111111111111111"):
        assert pan not in everything
