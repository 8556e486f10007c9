"""The alert "inbox": an SQS queue subscribed to the fraud-alerts topic.

Neither MiniStack nor a test account delivers e-mail, so whoever wants to see
the alerts (demo, integration tests, benches) subscribes a queue of their own.
Raw delivery stays off so each message is the full SNS envelope: Subject,
Message and MessageAttributes, i.e. what the e-mail would carry. The stack
itself is untouched; the queue is created and deleted with boto3.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional


@dataclass(frozen=True)
class Alert:
    """One SNS notification as the subscriber sees it."""

    subject: str
    message: str
    attributes: dict[str, str]
    received_at: float  # time.time() when we pulled it off the inbox
    sent_at: Optional[float]  # SentTimestamp of the inbox copy, epoch seconds
    body: dict[str, Any] = field(repr=False)

    @property
    def payload(self) -> Optional[dict[str, Any]]:
        """The message parsed as JSON when it is JSON (the contract's alert body), else None."""
        try:
            parsed = json.loads(self.message)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    @property
    def transaction_id(self) -> Optional[str]:
        payload = self.payload
        if payload and isinstance(payload.get("transaction_id"), str):
            return payload["transaction_id"]
        return None

    def mentions(self, text: str) -> bool:
        return text in self.message or text in self.subject


def _policy(queue_arn: str, topic_arn: str) -> str:
    """Real SQS drops SNS deliveries unless the queue policy allows the topic to send."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )


class AlertInbox:
    def __init__(self, sqs: Any, sns: Any, queue_url: str, subscription_arn: Optional[str] = None) -> None:
        self.sqs = sqs
        self.sns = sns
        self.queue_url = queue_url
        self.subscription_arn = subscription_arn

    @classmethod
    def create(cls, sqs: Any, sns: Any, topic_arn: str, name: str) -> "AlertInbox":
        queue_url = sqs.create_queue(
            QueueName=name,
            Attributes={"MessageRetentionPeriod": "3600", "SqsManagedSseEnabled": "true"},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": _policy(queue_arn, topic_arn)})
        sub = sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )
        return cls(sqs, sns, queue_url, sub["SubscriptionArn"])

    def delete(self) -> None:
        if self.subscription_arn:
            try:
                self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
            except Exception:  # the topic may already be gone (destroy ran first)
                pass
        try:
            self.sqs.delete_queue(QueueUrl=self.queue_url)
        except Exception:
            pass

    def receive(self, wait_s: int = 1) -> list[Alert]:
        """One long poll; returned alerts are deleted from the inbox."""
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            AttributeNames=["SentTimestamp"],
        )
        alerts = []
        now = time.time()
        for msg in resp.get("Messages", []):
            alerts.append(parse_envelope(msg["Body"], now, msg.get("Attributes", {}).get("SentTimestamp")))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])
        return alerts

    def drain(self, quiet_s: float = 1.0) -> list[Alert]:
        """Everything currently in the inbox (stops after one empty poll of quiet_s)."""
        collected: list[Alert] = []
        while True:
            batch = self.receive(wait_s=max(0, int(quiet_s)))
            if not batch:
                return collected
            collected.extend(batch)

    def stream(self, deadline_s: float) -> Iterator[Alert]:
        """Alerts as they arrive until deadline_s seconds have passed."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            remaining = end - time.monotonic()
            yield from self.receive(wait_s=max(0, min(1, int(remaining))))


def parse_envelope(body: str, received_at: float, sent_ms: Optional[str] = None) -> Alert:
    envelope = json.loads(body)
    attributes = {
        name: str(attr.get("Value", ""))
        for name, attr in (envelope.get("MessageAttributes") or {}).items()
    }
    return Alert(
        subject=envelope.get("Subject") or "",
        message=envelope.get("Message") or "",
        attributes=attributes,
        received_at=received_at,
        sent_at=int(sent_ms) / 1000 if sent_ms else None,
        body=envelope,
    )
