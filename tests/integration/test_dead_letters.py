"""Redrive for real: a poison alert message reaches the DLQ after maxReceiveCount receives.

The alert queue's visibility timeout is 360 s (6 x the notification timeout, as
AWS advises), so three failed receives would take 18 minutes. The test lowers
the queue's VisibilityTimeout for its own duration (SetQueueAttributes, the
same call works on AWS) and restores the original value afterwards. Nothing
else about the redrive is touched: the emulator (or SQS) counts receives and
moves the message by the queue's own RedrivePolicy.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Any, Optional

import pytest

from lib.local.inbox import AlertInbox
from lib.local.outputs import StackOutputs

from faults_support import queue_visibility

pytestmark = pytest.mark.integration

SHORT_VISIBILITY_S = 2
DLQ_BOUND_S = 90.0  # 3 receives x (2 s visibility + poll gaps) with generous slack




def _find_in(sqs: Any, queue_url: str, marker: str, timeout_s: float) -> Optional[dict[str, Any]]:
    """Poll a queue for the message whose body contains marker; delete and return it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   VisibilityTimeout=2, AttributeNames=["All"])
        for msg in resp.get("Messages", []):
            if marker in msg["Body"]:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
                return msg
    return None


def _alert(transaction_id: str) -> dict[str, Any]:
    """A well-formed alert message (docs/CONTRACTS.md, "Alert message")."""
    return {
        "version": 1, "transaction_id": transaction_id, "event_time": int(time.time() * 1000),
        "amount": "15000.00", "currency": "USD", "merchant": "Unknown Store", "location": "Nigeria",
        "customer_id": None, "card_last4": "3456", "card_bin": "123456", "risk_score": 85,
        "decision": "block", "model_version": "rules-v1",
        "reasons": [{"code": "HIGH_AMOUNT", "description": "amount above 10,000", "contribution": 40}],
    }


def test_poison_message_goes_to_dlq_and_spares_its_batch_mate(outputs: StackOutputs, inbox: AlertInbox) -> None:
    assert outputs.alert_queue_url and outputs.dlq_url, "alert queue / DLQ not found in the outputs"
    sqs = outputs.client("sqs")
    marker = f"itest-poison-{secrets.token_hex(6)}"
    good_id = f"itest-batchmate-{secrets.token_hex(6)}"
    with queue_visibility(sqs, outputs.alert_queue_url, SHORT_VISIBILITY_S) as original:
        max_receives = int(json.loads(original["RedrivePolicy"])["maxReceiveCount"])
        # One SendMessageBatch, so the consumer most likely sees both in one batch: the
        # good one must be published even though its batch-mate fails (partial batch response).
        sqs.send_message_batch(QueueUrl=outputs.alert_queue_url, Entries=[
            {"Id": "good", "MessageBody": json.dumps(_alert(good_id))},
            {"Id": "poison", "MessageBody": f"{{not json at all {marker}"},
        ])
        parked = _find_in(sqs, outputs.dlq_url, marker, DLQ_BOUND_S)
    assert parked is not None, f"poison message not in the DLQ within {DLQ_BOUND_S:.0f}s"
    assert int(parked["Attributes"]["ApproximateReceiveCount"]) >= max_receives
    assert original["VisibilityTimeout"] == sqs.get_queue_attributes(
        QueueUrl=outputs.alert_queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"]

    alerts = [a for a in inbox.stream(5) if a.mentions(good_id)]
    assert len(alerts) == 1, f"batch-mate alerted {len(alerts)} times"
    # And the good message did not follow the poison one into the DLQ.
    assert _find_in(sqs, outputs.dlq_url, good_id, 3) is None
