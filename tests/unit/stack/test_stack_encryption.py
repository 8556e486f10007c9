"""KMS: the rotating CMK for data at rest, the HMAC key for card fingerprints, their key policies."""
from __future__ import annotations

import json
from typing import Any

import pytest
from stack_helpers import CONFIG, Stack, as_list

from lib.constructs.encryption import KEY_ADMIN_ACTIONS


@pytest.fixture(scope="module")
def cmk(stack: Stack) -> tuple[str, dict[str, Any]]:
    return stack.find("aws_kms_key", enable_key_rotation=True)


@pytest.fixture(scope="module")
def hmac_key(stack: Stack) -> tuple[str, dict[str, Any]]:
    return stack.find("aws_kms_key", customer_master_key_spec="HMAC_256")


def statements_by_sid(key_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(key_body["policy"])["Statement"]}


def test_exactly_two_keys(stack: Stack) -> None:
    assert len(stack.of_type("aws_kms_key")) == 2


def test_cmk_rotates_and_is_aliased(stack: Stack, cmk: tuple[str, dict[str, Any]]) -> None:
    logical, body = cmk
    assert body["enable_key_rotation"] is True
    assert body.get("customer_master_key_spec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert body["deletion_window_in_days"] == CONFIG.kms_deletion_window_days
    alias = stack.body("aws_kms_alias", name="alias/fraud-detection-unittest")
    assert alias["target_key_id"] == f"${{aws_kms_key.{logical}.key_id}}"


def test_fingerprint_key_is_hmac_and_aliased(
    stack: Stack, hmac_key: tuple[str, dict[str, Any]]
) -> None:
    logical, body = hmac_key
    assert body["key_usage"] == "GENERATE_VERIFY_MAC"
    assert body["enable_key_rotation"] is False  # KMS cannot rotate HMAC keys
    alias = stack.body("aws_kms_alias", name="alias/card-fingerprint-unittest")
    assert alias["target_key_id"] == f"${{aws_kms_key.{logical}.key_id}}"


def test_root_keeps_administration_without_wildcards(
    cmk: tuple[str, dict[str, Any]], hmac_key: tuple[str, dict[str, Any]]
) -> None:
    for _, body in (cmk, hmac_key):
        admin = statements_by_sid(body)["AccountRootAdministration"]
        assert admin["Principal"]["AWS"].endswith(":root")
        assert set(admin["Action"]) == set(KEY_ADMIN_ACTIONS)
        assert "kms:PutKeyPolicy" in admin["Action"]  # the key can never be locked out
        # Administration only: no data-plane use through the root statement.
        assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(admin["Action"])


def test_logs_may_use_the_cmk_only_for_our_log_groups(
    stack: Stack, cmk: tuple[str, dict[str, Any]]
) -> None:
    logs = statements_by_sid(cmk[1])["CloudWatchLogsForOurLogGroups"]
    assert logs["Principal"] == {"Service": f"logs.{CONFIG.region}.amazonaws.com"}
    allowed = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    suffixes = sorted(arn.split(":log-group:")[1] for arn in allowed)
    static_names = sorted(
        body["name"]
        for body in stack.of_type("aws_cloudwatch_log_group").values()
        if not body["name"].startswith("API-Gateway-Execution-Logs_")
    )
    assert suffixes == sorted([*static_names, "API-Gateway-Execution-Logs_*/prod"])


def test_message_grants_name_the_pipeline_roles_via_sqs_and_sns(
    stack: Stack, cmk: tuple[str, dict[str, Any]]
) -> None:
    grant = statements_by_sid(cmk[1])["PipelineFunctionsViaSqsAndSns"]
    assert set(grant["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert set(grant["Principal"]["AWS"]) == {
        stack.ref("aws_iam_role", "arn", name="fraud-detection-role-unittest"),
        stack.ref("aws_iam_role", "arn", name="notification-handler-role-unittest"),
    }
    assert set(grant["Condition"]["StringEquals"]["kms:ViaService"]) == {
        f"sqs.{CONFIG.region}.amazonaws.com",
        f"sns.{CONFIG.region}.amazonaws.com",
    }


def test_dynamodb_use_is_limited_to_the_dynamodb_service(cmk: tuple[str, dict[str, Any]]) -> None:
    grant = statements_by_sid(cmk[1])["DynamoDbTablesInThisAccount"]
    assert grant["Condition"]["StringEquals"]["kms:ViaService"] == (
        f"dynamodb.{CONFIG.region}.amazonaws.com"
    )


def test_cmk_grants_nothing_else(cmk: tuple[str, dict[str, Any]]) -> None:
    assert set(statements_by_sid(cmk[1])) == {
        "AccountRootAdministration",
        "CloudWatchLogsForOurLogGroups",
        "DynamoDbTablesInThisAccount",
        "PipelineFunctionsViaSqsAndSns",
        "CloudWatchAlarmsToEncryptedTopic",
    }


def test_only_the_api_role_may_fingerprint(stack: Stack, hmac_key: tuple[str, dict[str, Any]]) -> None:
    statements = statements_by_sid(hmac_key[1])
    assert set(statements) == {"AccountRootAdministration", "FingerprintCardNumbers"}
    mac = statements["FingerprintCardNumbers"]
    assert mac["Action"] == ["kms:GenerateMac"]
    assert as_list(mac["Principal"]["AWS"]) == [
        stack.ref("aws_iam_role", "arn", name="api-handler-role-unittest")
    ]


def test_everything_at_rest_uses_the_cmk(stack: Stack, cmk: tuple[str, dict[str, Any]]) -> None:
    key_arn = f"${{aws_kms_key.{cmk[0]}.arn}}"
    for body in stack.of_type("aws_dynamodb_table").values():
        assert body["server_side_encryption"] == {"enabled": True, "kms_key_arn": key_arn}
    for body in stack.of_type("aws_sqs_queue").values():
        assert body["kms_master_key_id"] == key_arn
    for body in stack.of_type("aws_sns_topic").values():
        assert body["kms_master_key_id"] == key_arn
    for body in stack.of_type("aws_cloudwatch_log_group").values():
        assert body["kms_key_id"] == key_arn
