"""IAM: every policy document in the stack, and each function's grants against CONTRACTS.md.

The walker covers inline role policies, trust policies, both KMS key policies and the queue and
topic policies. Rules: no wildcard action anywhere; an Allow on Resource "*" only for actions in
RESOURCE_STAR_ACTIONS - except in a KMS key policy, where "*" can only mean "this key"; no Allow
for Principal "*"; ARN patterns with "*" only for log groups.
"""
from __future__ import annotations

import json
import re
from itertools import product
from typing import Any

import pytest
from stack_helpers import Policy, Stack, as_list

from lib.constructs.iam import RESOURCE_STAR_ACTIONS

EXACT_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
# "<log group ARN>:*" covers the group's log streams.
LOG_STREAMS_OF_OUR_GROUP = re.compile(r"^\$\{aws_cloudwatch_log_group\.[A-Za-z0-9_-]+\.arn\}:\*$")
Grants = set[tuple[str, str]]


def allows(policy: Policy) -> list[dict[str, Any]]:
    return [s for s in policy.statements if s["Effect"] == "Allow"]


def test_every_policy_document_is_found(stack: Stack) -> None:
    kinds = sorted({p.resource_type for p in stack.policies()})
    assert kinds == [
        "aws_iam_role", "aws_iam_role_policy", "aws_kms_key", "aws_sns_topic_policy", "aws_sqs_queue",
    ]
    assert len(stack.policies()) == 4 + 4 + 2 + 1 + 3


def test_no_wildcard_or_negated_actions_anywhere(stack: Stack) -> None:
    for policy in stack.policies():
        for statement in policy.statements:
            assert "NotAction" not in statement and "NotResource" not in statement, policy.where
            for action in as_list(statement["Action"]):
                assert EXACT_ACTION.match(action), f"{policy.where}: {action}"


def test_resource_star_only_for_allow_listed_actions_or_the_key_itself(stack: Stack) -> None:
    for policy in stack.policies():
        if policy.resource_type == "aws_iam_role":
            continue  # trust policies have no Resource
        for statement in allows(policy):
            resources = as_list(statement["Resource"])
            if "*" not in resources:
                continue
            if policy.resource_type == "aws_kms_key":
                # A key policy is attached to one key; "*" there means that key and nothing else.
                assert resources == ["*"], policy.where
                continue
            assert resources == ["*"], f"{policy.where}: '*' mixed with ARNs"
            outside = set(as_list(statement["Action"])) - set(RESOURCE_STAR_ACTIONS)
            assert not outside, f"{policy.where} {statement['Sid']}: {outside} on '*'"


def test_arn_wildcards_only_for_log_groups(stack: Stack) -> None:
    for policy in stack.policies():
        for statement in allows(policy):
            for resource in as_list(statement.get("Resource", [])):
                if resource != "*" and "*" in resource:
                    scoped = ":log-group:" in resource or LOG_STREAMS_OF_OUR_GROUP.match(resource)
                    assert scoped, f"{policy.where}: {resource}"


def test_no_allow_for_everyone(stack: Stack) -> None:
    for policy in stack.policies():
        for statement in allows(policy):
            principal = statement.get("Principal")
            assert principal != "*" and principal != {"AWS": "*"}, policy.where


def test_trust_policies_name_one_service(stack: Stack) -> None:
    trusted = {}
    for body in stack.of_type("aws_iam_role").values():
        policy = Policy("", "aws_iam_role", json.loads(body["assume_role_policy"]))
        (statement,) = policy.statements
        assert statement["Action"] == "sts:AssumeRole"
        trusted[body["name"]] = statement["Principal"]["Service"]
    assert trusted == {
        "api-handler-role-unittest": "lambda.amazonaws.com",
        "fraud-detection-role-unittest": "lambda.amazonaws.com",
        "notification-handler-role-unittest": "lambda.amazonaws.com",
        "apigateway-cloudwatch-role-unittest": "apigateway.amazonaws.com",
    }


def test_every_allow_list_entry_is_used(stack: Stack) -> None:
    used = {
        action
        for policy in stack.policies()
        if policy.resource_type != "aws_kms_key"
        for statement in allows(policy)
        if statement.get("Resource") == "*"
        for action in as_list(statement["Action"])
    }
    assert used == set(RESOURCE_STAR_ACTIONS)


def role_grants(stack: Stack, role_name: str) -> Grants:
    role = stack.ref("aws_iam_role", "id", name=role_name)
    (body,) = [b for b in stack.of_type("aws_iam_role_policy").values() if b["role"] == role]
    policy = Policy(role_name, "aws_iam_role_policy", json.loads(body["policy"]))
    return {
        (action, resource)
        for statement in allows(policy)
        for action, resource in product(as_list(statement["Action"]), as_list(statement["Resource"]))
    }


def grants(actions: list[str], resources: list[str]) -> Grants:
    return set(product(actions, resources))


def baseline(stack: Stack, function_name: str) -> Grants:
    """CONTRACTS.md 'all': X-Ray on '*', and writing to the function's own log group."""
    log_group = stack.ref("aws_cloudwatch_log_group", "arn", name=f"/aws/lambda/{function_name}")
    return grants(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]) | grants(
        ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group, f"{log_group}:*"]
    )


@pytest.fixture(scope="module")
def arns(stack: Stack) -> dict[str, str]:
    return {
        "transactions": stack.ref("aws_dynamodb_table", "arn", name="transactions-unittest"),
        "stream": stack.ref("aws_dynamodb_table", "stream_arn", name="transactions-unittest"),
        "state": stack.ref("aws_dynamodb_table", "arn", name="fraud-state-unittest"),
        "idempotency": stack.ref("aws_dynamodb_table", "arn", name="idempotency-unittest"),
        "alerts": stack.ref("aws_sqs_queue", "arn", name="suspicious-transactions-unittest"),
        "failures": stack.ref("aws_sqs_queue", "arn", name="fraud-detection-failures-unittest"),
        "topic": stack.ref("aws_sns_topic", "arn", name="fraud-alerts-unittest"),
        "cmk": stack.ref("aws_kms_key", "arn", enable_key_rotation=True),
        "hmac": stack.ref("aws_kms_key", "arn", customer_master_key_spec="HMAC_256"),
    }


IDEMPOTENCY = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


def test_api_handler_grants_match_the_contract(stack: Stack, arns: dict[str, str]) -> None:
    expected = (
        grants(IDEMPOTENCY, [arns["idempotency"]])
        | grants(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], [arns["transactions"]])
        | grants(["dynamodb:UpdateItem", "dynamodb:GetItem"], [arns["state"]])
        | grants(["kms:GenerateMac"], [arns["hmac"]])
        | baseline(stack, "api-handler-unittest")
    )
    assert role_grants(stack, "api-handler-role-unittest") == expected


def test_detection_grants_match_the_contract(stack: Stack, arns: dict[str, str]) -> None:
    expected = (
        grants(["dynamodb:BatchGetItem", "dynamodb:PutItem"], [arns["state"]])
        | grants(["dynamodb:UpdateItem"], [arns["transactions"]])
        | grants(["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], [arns["stream"]])
        | grants(["dynamodb:ListStreams"], ["*"])
        | grants(["sqs:SendMessage"], [arns["alerts"], arns["failures"]])
        | grants(["kms:GenerateDataKey", "kms:Decrypt"], [arns["cmk"]])
        | grants(
            [
                "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
            ],
            ["*"],
        )
        | baseline(stack, "fraud-detection-unittest")
    )
    assert role_grants(stack, "fraud-detection-role-unittest") == expected


def test_notification_grants_match_the_contract(stack: Stack, arns: dict[str, str]) -> None:
    expected = (
        grants(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
            [arns["alerts"]],
        )
        | grants(["sns:Publish"], [arns["topic"]])
        | grants(IDEMPOTENCY, [arns["idempotency"]])
        | grants(["dynamodb:UpdateItem"], [arns["transactions"]])
        | grants(["kms:GenerateDataKey", "kms:Decrypt"], [arns["cmk"]])
        | baseline(stack, "notification-handler-unittest")
    )
    assert role_grants(stack, "notification-handler-role-unittest") == expected


def test_api_gateway_logging_role_writes_only_api_log_groups(stack: Stack) -> None:
    granted = role_grants(stack, "apigateway-cloudwatch-role-unittest")
    assert ("logs:DescribeLogGroups", "*") in granted
    for action, resource in granted - {("logs:DescribeLogGroups", "*")}:
        assert action.startswith("logs:")
        assert ":log-group:API-Gateway-Execution-Logs_" in resource or (
            ":log-group:/aws/apigateway/fraud-detection-api-" in resource
        )
