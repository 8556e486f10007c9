"""Tables, queues and the topic: the names, keys and limits of CONTRACTS.md and the spec."""
from __future__ import annotations

import json

import pytest
from stack_helpers import CONFIG, Stack

FOURTEEN_DAYS = 14 * 24 * 3600


@pytest.mark.parametrize(
    ("name", "hash_key", "ttl"),
    [
        ("transactions-unittest", "transaction_id", None),
        ("fraud-state-unittest", "pk", "expires_at"),
        ("idempotency-unittest", "id", "expiration"),
    ],
)
def test_tables(stack: Stack, name: str, hash_key: str, ttl: str | None) -> None:
    table = stack.body("aws_dynamodb_table", name=name)
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["hash_key"] == hash_key
    assert "range_key" not in table
    assert table["attribute"] == [{"name": hash_key, "type": "S"}]
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["deletion_protection_enabled"] is False  # the stack stays destroyable
    if ttl:
        assert table["ttl"] == {"attribute_name": ttl, "enabled": True}
    else:
        assert "ttl" not in table


def test_only_transactions_has_a_stream(stack: Stack) -> None:
    streams = {
        body["name"]: body.get("stream_view_type")
        for body in stack.of_type("aws_dynamodb_table").values()
        if body.get("stream_enabled")
    }
    assert streams == {"transactions-unittest": "NEW_AND_OLD_IMAGES"}


def test_alert_queue_visibility_and_redrive(stack: Stack) -> None:
    queue = stack.body("aws_sqs_queue", name="suspicious-transactions-unittest")
    assert queue["visibility_timeout_seconds"] == 360
    redrive = json.loads(queue["redrive_policy"])
    assert redrive == {
        "deadLetterTargetArn": stack.ref(
            "aws_sqs_queue", "arn", name="suspicious-transactions-dlq-unittest"
        ),
        "maxReceiveCount": CONFIG.queue_max_receive_count,
    }
    assert CONFIG.queue_max_receive_count == 3


@pytest.mark.parametrize("name", ["suspicious-transactions-dlq-unittest", "fraud-detection-failures-unittest"])
def test_dead_letter_queues_keep_messages_14_days(stack: Stack, name: str) -> None:
    assert stack.body("aws_sqs_queue", name=name)["message_retention_seconds"] == FOURTEEN_DAYS


def queue_arn(name: str) -> str:
    """The ARN the stack builds from a queue's name (inline policies cannot reference the queue)."""
    return (
        "arn:${data.aws_partition.partition.partition}:sqs:us-east-1:"
        f"${{data.aws_caller_identity.identity.account_id}}:{name}"
    )


def test_dlq_accepts_only_the_alert_queue(stack: Stack) -> None:
    dlq = stack.body("aws_sqs_queue", name="suspicious-transactions-dlq-unittest")
    assert json.loads(dlq["redrive_allow_policy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [queue_arn("suspicious-transactions-unittest")],
    }


def test_every_queue_and_topic_refuses_plain_http(stack: Stack) -> None:
    policies = [
        (queue_arn(body["name"]), body["policy"]) for body in stack.of_type("aws_sqs_queue").values()
    ]
    policies += [(body["arn"], body["policy"]) for body in stack.of_type("aws_sns_topic_policy").values()]
    assert len(policies) == 4
    for resource, policy in policies:
        statements = json.loads(policy)["Statement"]
        deny = next(s for s in statements if s["Effect"] == "Deny")
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == resource  # each policy protects its own queue/topic


def test_topic_lets_only_our_alarms_publish(stack: Stack) -> None:
    (policy,) = stack.of_type("aws_sns_topic_policy").values()
    allow = [s for s in json.loads(policy["policy"])["Statement"] if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow[0]["Action"] == ["sns:Publish"]
    assert "aws:SourceAccount" in allow[0]["Condition"]["StringEquals"]


def test_topic_and_email_subscription(stack: Stack, alt_stack: Stack) -> None:
    stack.body("aws_sns_topic", name="fraud-alerts-unittest")
    assert not stack.of_type("aws_sns_topic_subscription")  # ALERT_EMAIL unset
    (subscription,) = alt_stack.of_type("aws_sns_topic_subscription").values()
    assert subscription["protocol"] == "email"
    assert subscription["endpoint"] == "fraud-team@example.com"
    assert subscription["topic_arn"] == alt_stack.ref("aws_sns_topic", "arn", name="fraud-alerts-alt")
