"""Alarms, dashboard and the stack outputs."""
from __future__ import annotations

import json
from typing import Any

from stack_helpers import CONFIG, Stack

OUTPUT_IDS = {
    "api_invoke_url", "api_id", "api_stage_name", "api_key_value",
    "transactions_table_name", "state_table_name", "idempotency_table_name",
    "alert_queue_url", "alert_dlq_url", "stream_failure_queue_url", "alert_topic_arn",
    "api_handler_function_name", "fraud_detection_function_name", "notification_function_name",
}


def alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    return {body["alarm_name"]: body for body in stack.of_type("aws_cloudwatch_metric_alarm").values()}


def test_expected_alarms(stack: Stack) -> None:
    functions = ["api-handler", "fraud-detection", "notification-handler"]
    expected = {f"{fn}-{kind}-unittest" for fn in functions for kind in ("errors", "throttles")}
    expected |= {
        "suspicious-transactions-dlq-not-empty-unittest",
        "fraud-detection-failures-not-empty-unittest",
        "fraud-detection-iterator-age-unittest",
        "fraud-detection-api-5xx-unittest",
        "fraud-detection-api-latency-p99-unittest",
    }
    assert set(alarms(stack)) == expected


def test_alarms_notify_the_topic(stack: Stack) -> None:
    topic = stack.ref("aws_sns_topic", "arn", name="fraud-alerts-unittest")
    for name, body in alarms(stack).items():
        assert body["alarm_actions"] == [topic], name
        assert body["ok_actions"] == [topic], name
        assert body["treat_missing_data"] == "notBreaching", name


def test_alarm_metrics(stack: Stack) -> None:
    found = alarms(stack)
    dlq = found["suspicious-transactions-dlq-not-empty-unittest"]
    assert (dlq["namespace"], dlq["metric_name"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dlq["dimensions"] == {"QueueName": "suspicious-transactions-dlq-unittest"}
    assert (dlq["comparison_operator"], dlq["threshold"]) == ("GreaterThanThreshold", 0)
    age = found["fraud-detection-iterator-age-unittest"]
    assert (age["metric_name"], age["statistic"]) == ("IteratorAge", "Maximum")
    assert age["threshold"] == CONFIG.stream_iterator_age_alarm_ms
    latency = found["fraud-detection-api-latency-p99-unittest"]
    assert latency["extended_statistic"] == "p99" and "statistic" not in latency
    assert latency["dimensions"] == {"ApiName": "fraud-detection-api-unittest", "Stage": "prod"}
    errors = found["fraud-detection-errors-unittest"]
    assert errors["dimensions"] == {"FunctionName": "fraud-detection-unittest"}


def test_dashboard(stack: Stack) -> None:
    (dashboard,) = stack.of_type("aws_cloudwatch_dashboard").values()
    assert dashboard["dashboard_name"] == "fraud-detection-unittest"
    widgets = json.loads(dashboard["dashboard_body"])["widgets"]
    titles = {w["properties"]["title"] for w in widgets}
    assert {"API requests and errors", "Stream iterator age (ms)", "Messages waiting"} <= titles
    assert all(w["properties"]["region"] == CONFIG.region for w in widgets)


def test_output_ids(synth_json: dict[str, Any]) -> None:
    assert set(synth_json["output"]) == OUTPUT_IDS


def test_invoke_url_is_the_transactions_url_not_an_arn(stack: Stack, synth_json: dict[str, Any]) -> None:
    url = synth_json["output"]["api_invoke_url"]["value"]
    assert url == stack.ref("aws_api_gateway_stage", "invoke_url", stage_name="prod") + "/transactions"
    assert not any("execution_arn" in str(o["value"]) for o in synth_json["output"].values())


def test_only_the_api_key_is_sensitive(synth_json: dict[str, Any]) -> None:
    sensitive = {k for k, v in synth_json["output"].items() if v.get("sensitive")}
    assert sensitive == {"api_key_value"}
    assert synth_json["output"]["api_key_value"]["value"].endswith(".value}")


def test_outputs_point_at_the_named_resources(stack: Stack, synth_json: dict[str, Any]) -> None:
    out = {k: v["value"] for k, v in synth_json["output"].items()}
    assert out["transactions_table_name"] == stack.ref("aws_dynamodb_table", "name", name="transactions-unittest")
    assert out["alert_dlq_url"] == stack.ref("aws_sqs_queue", "url", name="suspicious-transactions-dlq-unittest")
    assert out["stream_failure_queue_url"] == stack.ref(
        "aws_sqs_queue", "url", name="fraud-detection-failures-unittest"
    )
    assert out["fraud_detection_function_name"] == stack.ref(
        "aws_lambda_function", "function_name", function_name="fraud-detection-unittest"
    )
