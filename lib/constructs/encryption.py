"""Encryption: the customer-managed key for data at rest and the HMAC key for card fingerprints.

The key policies name the principals that use each key, so the Lambda roles must exist first;
TapStack creates the roles (trust only) before this construct and attaches their permissions later.
"""
from __future__ import annotations

from typing import Sequence

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from lib.config import StackConfig
from lib.constructs.iam import KEY_POLICY_RESOURCE, AwsContext, Statement, document, statement

# Administration only, listed action by action (no "kms:*"): the account root keeps control of the
# key and can delegate it through IAM, but gets no data-plane use (Encrypt/Decrypt) from this.
KEY_ADMIN_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
# What CloudWatch Logs needs to encrypt a log group (AWS's documented set, without wildcards).
LOGS_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)
# DynamoDB encrypts tables through grants that it creates with the table creator's permissions.
DYNAMODB_KEY_ACTIONS = LOGS_KEY_ACTIONS + ("kms:CreateGrant",)
# SQS and SNS encrypt/decrypt messages with the producer's or consumer's permissions.
MESSAGE_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class Encryption(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: StackConfig,
        aws: AwsContext,
        message_key_users: Sequence[str],
        fingerprint_users: Sequence[str],
        log_group_arns: Sequence[str],
    ) -> None:
        super().__init__(scope, id_)
        admin = statement(
            "AccountRootAdministration",
            KEY_ADMIN_ACTIONS,
            KEY_POLICY_RESOURCE,
            principal={"AWS": aws.account_root},
        )

        self.key = KmsKey(
            self,
            "cmk",
            description=f"Data at rest of the fraud pipeline ({config.environment_suffix})",
            enable_key_rotation=True,
            deletion_window_in_days=config.kms_deletion_window_days,
            policy=document(
                [admin, *self._cmk_grants(aws, message_key_users, log_group_arns)]
            ),
            tags={"Name": config.name("fraud-detection")},
        )
        self.alias = KmsAlias(
            self,
            "cmk-alias",
            name=f"alias/{config.name('fraud-detection')}",
            target_key_id=self.key.key_id,
        )

        # HMAC keys cannot be rotated by KMS: the fingerprint would change under stored data.
        # Rotation means a new key and a re-fingerprint ("card-fingerprint/v2" in CONTRACTS.md).
        self.fingerprint_key = KmsKey(
            self,
            "card-fingerprint",
            description=f"HMAC key that fingerprints card numbers ({config.environment_suffix})",
            customer_master_key_spec="HMAC_256",
            key_usage="GENERATE_VERIFY_MAC",
            enable_key_rotation=False,
            deletion_window_in_days=config.kms_deletion_window_days,
            policy=document(
                [
                    admin,
                    statement(
                        "FingerprintCardNumbers",
                        ["kms:GenerateMac"],
                        KEY_POLICY_RESOURCE,
                        principal={"AWS": list(fingerprint_users)},
                    ),
                ]
            ),
            tags={"Name": config.name("card-fingerprint")},
        )
        self.fingerprint_alias = KmsAlias(
            self,
            "card-fingerprint-alias",
            name=f"alias/{config.name('card-fingerprint')}",
            target_key_id=self.fingerprint_key.key_id,
        )

    @staticmethod
    def _cmk_grants(
        aws: AwsContext, message_key_users: Sequence[str], log_group_arns: Sequence[str]
    ) -> list[Statement]:
        return [
            statement(
                "CloudWatchLogsForOurLogGroups",
                LOGS_KEY_ACTIONS,
                KEY_POLICY_RESOURCE,
                principal={"Service": aws.service_endpoint("logs")},
                condition={
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": list(log_group_arns)}
                },
            ),
            statement(
                "DynamoDbTablesInThisAccount",
                DYNAMODB_KEY_ACTIONS,
                KEY_POLICY_RESOURCE,
                principal={"AWS": aws.account_root},
                condition={
                    "StringEquals": {
                        "kms:ViaService": aws.service_endpoint("dynamodb"),
                        "kms:CallerAccount": aws.account_id,
                    }
                },
            ),
            statement(
                "PipelineFunctionsViaSqsAndSns",
                MESSAGE_KEY_ACTIONS,
                KEY_POLICY_RESOURCE,
                principal={"AWS": list(message_key_users)},
                condition={
                    "StringEquals": {
                        "kms:ViaService": [aws.service_endpoint("sqs"), aws.service_endpoint("sns")]
                    }
                },
            ),
            # Alarms publish to the encrypted topic as the CloudWatch service principal.
            statement(
                "CloudWatchAlarmsToEncryptedTopic",
                MESSAGE_KEY_ACTIONS,
                KEY_POLICY_RESOURCE,
                principal={"Service": "cloudwatch.amazonaws.com"},
            ),
        ]
