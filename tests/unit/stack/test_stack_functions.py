"""Lambda functions, their log groups, code and event source mappings."""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from stack_helpers import CONFIG, Stack

from lib.config import StackConfig

# (function name, handler, memory MB, timeout s, POWERTOOLS_SERVICE_NAME) - spec + CONTRACTS.md.
FUNCTIONS = [
    ("api-handler-unittest", "api_handler.handler", 256, 30, "api"),
    ("fraud-detection-unittest", "fraud_detection.handler", 512, 60, "detection"),
    ("notification-handler-unittest", "notification_handler.handler", 256, 30, "notification"),
]
COMMON_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL", "INIT_MODE", "ENVIRONMENT_SUFFIX"}
# CONTRACTS.md "Environment variables of the functions".
CONTRACT_ENV = {
    "api-handler-unittest": {
        "TRANSACTIONS_TABLE", "STATE_TABLE", "IDEMPOTENCY_TABLE", "CARD_FINGERPRINT_KEY_ID",
    },
    "fraud-detection-unittest": {
        "TRANSACTIONS_TABLE", "STATE_TABLE", "ALERT_QUEUE_URL", "FAILURE_QUEUE_URL",
    },
    "notification-handler-unittest": {"TRANSACTIONS_TABLE", "IDEMPOTENCY_TABLE", "ALERT_TOPIC_ARN"},
}


def function(stack: Stack, name: str) -> dict[str, Any]:
    return stack.body("aws_lambda_function", function_name=name)


@pytest.mark.parametrize(("name", "handler", "memory", "timeout", "service"), FUNCTIONS)
def test_function_settings(
    stack: Stack, name: str, handler: str, memory: int, timeout: int, service: str
) -> None:
    body = function(stack, name)
    assert body["runtime"] == "python3.11"
    assert body["architectures"] == ["x86_64"]
    assert body["handler"] == handler
    assert body["memory_size"] == memory
    assert body["timeout"] == timeout
    assert body["tracing_config"] == {"mode": "Active"}
    assert body["reserved_concurrent_executions"] == 100
    assert body["role"] == stack.ref("aws_iam_role", "arn", name=name.replace("-unittest", "-role-unittest"))
    env = body["environment"]["variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == service
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "FraudDetection"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["INIT_MODE"] == "eager"  # clients and layers built in Lambda's init phase
    assert env["ENVIRONMENT_SUFFIX"] == "unittest"


def test_three_functions_only(stack: Stack) -> None:
    assert sorted(b["function_name"] for b in stack.of_type("aws_lambda_function").values()) == sorted(
        name for name, *_ in FUNCTIONS
    )


@pytest.mark.parametrize("name", sorted(CONTRACT_ENV))
def test_environment_matches_the_contract(stack: Stack, name: str) -> None:
    assert set(function(stack, name)["environment"]["variables"]) == CONTRACT_ENV[name] | COMMON_ENV


def test_environment_values_point_at_the_resources(stack: Stack) -> None:
    api = function(stack, "api-handler-unittest")["environment"]["variables"]
    assert api["TRANSACTIONS_TABLE"] == stack.ref("aws_dynamodb_table", "name", name="transactions-unittest")
    assert api["STATE_TABLE"] == stack.ref("aws_dynamodb_table", "name", name="fraud-state-unittest")
    assert api["IDEMPOTENCY_TABLE"] == stack.ref("aws_dynamodb_table", "name", name="idempotency-unittest")
    assert api["CARD_FINGERPRINT_KEY_ID"] == stack.ref(
        "aws_kms_alias", "arn", name="alias/card-fingerprint-unittest"
    )
    detection = function(stack, "fraud-detection-unittest")["environment"]["variables"]
    assert detection["ALERT_QUEUE_URL"] == stack.ref(
        "aws_sqs_queue", "url", name="suspicious-transactions-unittest"
    )
    assert detection["FAILURE_QUEUE_URL"] == stack.ref(
        "aws_sqs_queue", "url", name="fraud-detection-failures-unittest"
    )
    notification = function(stack, "notification-handler-unittest")["environment"]["variables"]
    assert notification["ALERT_TOPIC_ARN"] == stack.ref("aws_sns_topic", "arn", name="fraud-alerts-unittest")


def test_reserved_concurrency_is_configurable(alt_stack: Stack, alt_config: StackConfig) -> None:
    assert alt_config.reserved_concurrency == -1
    for body in alt_stack.of_type("aws_lambda_function").values():
        assert body["reserved_concurrent_executions"] == -1  # -1 = unreserved


@pytest.mark.parametrize("name", [name for name, *_ in FUNCTIONS])
def test_own_log_group_created_first(stack: Stack, name: str) -> None:
    logical, group = stack.find("aws_cloudwatch_log_group", name=f"/aws/lambda/{name}")
    assert group["retention_in_days"] == 7 == CONFIG.log_retention_days
    assert f"aws_cloudwatch_log_group.{logical}" in function(stack, name)["depends_on"]


def test_all_log_groups_keep_seven_days(stack: Stack) -> None:
    groups = stack.of_type("aws_cloudwatch_log_group").values()
    assert len(groups) == 5  # 3 functions + API access + API execution logs
    assert {group["retention_in_days"] for group in groups} == {7}


def test_code_hash_is_the_zip_hash(stack: Stack, synth_dir: Path) -> None:
    bodies = [*stack.of_type("aws_lambda_function").values(), *stack.of_type("aws_lambda_layer_version").values()]
    for body in bodies:
        zip_path = synth_dir / body["filename"]
        digest = base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()
        assert body["source_code_hash"] == digest


def test_one_code_zip_and_one_layer_shared(stack: Stack) -> None:
    functions = list(stack.of_type("aws_lambda_function").values())
    assert len({body["filename"] for body in functions}) == 1
    (layer_logical, layer), = stack.of_type("aws_lambda_layer_version").items()
    assert layer["layer_name"] == "fraud-detection-deps-unittest"
    assert layer["compatible_runtimes"] == ["python3.11"]
    for body in functions:
        assert body["layers"] == [f"${{aws_lambda_layer_version.{layer_logical}.arn}}"]


def test_stream_mapping(stack: Stack) -> None:
    mapping = stack.body(
        "aws_lambda_event_source_mapping",
        event_source_arn=stack.ref("aws_dynamodb_table", "stream_arn", name="transactions-unittest"),
    )
    assert mapping["function_name"] == stack.ref(
        "aws_lambda_function", "arn", function_name="fraud-detection-unittest"
    )
    assert mapping["starting_position"] == "LATEST"
    assert mapping["batch_size"] == CONFIG.stream_batch_size
    assert mapping["maximum_batching_window_in_seconds"] == CONFIG.stream_batching_window_s
    assert mapping["parallelization_factor"] == CONFIG.stream_parallelization_factor
    assert mapping["bisect_batch_on_function_error"] is True
    assert mapping["maximum_retry_attempts"] == CONFIG.stream_max_retry_attempts == 3
    assert mapping["maximum_record_age_in_seconds"] == CONFIG.stream_max_record_age_s
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    (criteria,) = mapping["filter_criteria"]["filter"]
    assert json.loads(criteria["pattern"]) == {"eventName": ["INSERT"]}
    assert mapping["destination_config"]["on_failure"]["destination_arn"] == stack.ref(
        "aws_sqs_queue", "arn", name="fraud-detection-failures-unittest"
    )


def test_queue_mapping(stack: Stack) -> None:
    mapping = stack.body(
        "aws_lambda_event_source_mapping",
        event_source_arn=stack.ref("aws_sqs_queue", "arn", name="suspicious-transactions-unittest"),
    )
    assert mapping["function_name"] == stack.ref(
        "aws_lambda_function", "arn", function_name="notification-handler-unittest"
    )
    assert mapping["batch_size"] == CONFIG.queue_batch_size
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]


def test_mappings_wait_for_their_permissions(stack: Stack) -> None:
    for body in stack.of_type("aws_lambda_event_source_mapping").values():
        (dependency,) = body["depends_on"]
        assert dependency.startswith("aws_iam_role_policy.")
