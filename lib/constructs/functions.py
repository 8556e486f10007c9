"""Functions: one reusable `PythonFunction` construct, used for the three Lambdas.

Each function gets its own log group (created first, so Lambda never creates an unencrypted,
never-expiring one), a role whose inline policy is derived from CONTRACTS.md "AWS calls each
function makes", X-Ray tracing, reserved concurrency and the shared code zip + dependency layer.
Roles are created separately (`ExecutionRoles`) and earlier, because the KMS key policies name them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import (
    LambdaEventSourceMapping,
    LambdaEventSourceMappingDestinationConfig,
    LambdaEventSourceMappingDestinationConfigOnFailure,
    LambdaEventSourceMappingFilterCriteria,
    LambdaEventSourceMappingFilterCriteriaFilter,
)
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from constructs import Construct

from lib.config import FunctionSpec, StackConfig
from lib.constructs.code import ARCHITECTURE, RUNTIME, CodeBundle, LambdaArtifacts
from lib.constructs.encryption import Encryption
from lib.constructs.iam import (
    Statement,
    assume_role_policy,
    document,
    resource_star,
    statement,
)
from lib.constructs.messaging import Messaging
from lib.constructs.network import Network
from lib.constructs.storage import Storage

METRICS_NAMESPACE = "FraudDetection"

API_HANDLER = "api-handler"
FRAUD_DETECTION = "fraud-detection"
NOTIFICATION_HANDLER = "notification-handler"
FUNCTION_NAMES = (API_HANDLER, FRAUD_DETECTION, NOTIFICATION_HANDLER)

VPC_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
TRACING_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# Detection consumes INSERTs only: its own write-backs (MODIFY) must never feed back into it.
INSERT_ONLY_FILTER = json.dumps({"eventName": ["INSERT"]})


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


@dataclass(frozen=True)
class VpcPlacement:
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]


class ExecutionRoles(Construct):
    """One role per function, trust policy only; permissions are attached by PythonFunction."""

    def __init__(self, scope: Construct, id_: str, *, config: StackConfig) -> None:
        super().__init__(scope, id_)
        self.by_function: dict[str, IamRole] = {
            base: IamRole(
                self,
                base,
                name=config.name(f"{base}-role"),
                assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
                tags={"Name": config.name(f"{base}-role")},
            )
            for base in FUNCTION_NAMES
        }

    def __getitem__(self, function_base_name: str) -> IamRole:
        return self.by_function[function_base_name]


class PythonFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: StackConfig,
        base_name: str,
        handler: str,
        service: str,
        spec: FunctionSpec,
        role: IamRole,
        code: CodeBundle,
        log_key: KmsKey,
        environment: Mapping[str, str],
        statements: Sequence[Statement],
        vpc: Optional[VpcPlacement] = None,
    ) -> None:
        super().__init__(scope, id_)
        self.base_name = base_name
        self.name = config.name(base_name)
        self.role = role

        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=log_group_name(self.name),
            retention_in_days=config.log_retention_days,
            kms_key_id=log_key.arn,
            tags={"Name": log_group_name(self.name)},
        )

        own_statements: list[Statement] = [
            statement(
                "WriteOwnLogGroup",
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [self.log_group.arn, f"{self.log_group.arn}:*"],
            ),
            resource_star("Tracing", TRACING_ACTIONS),
        ]
        if vpc is not None:
            own_statements.append(resource_star("VpcNetworkInterfaces", VPC_ENI_ACTIONS))
        self.policy = IamRolePolicy(
            self,
            "policy",
            name=config.name(f"{base_name}-policy"),
            role=role.id,
            policy=document([*statements, *own_statements]),
        )

        variables = {
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": config.log_level,
            "INIT_MODE": config.function_init,
            "ENVIRONMENT_SUFFIX": config.environment_suffix,
            **environment,
        }
        self.function = LambdaFunction(
            self,
            "function",
            function_name=self.name,
            description=f"{base_name} of the fraud pipeline",
            role=role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=handler,
            filename=code.function_zip.path,
            source_code_hash=code.function_hash,
            layers=[code.layer.arn],
            memory_size=spec.memory_mb,
            timeout=spec.timeout_s,
            # -1 leaves the function unreserved (see README: account concurrency caveat).
            reserved_concurrent_executions=config.reserved_concurrency,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            environment=LambdaFunctionEnvironment(variables=variables),
            vpc_config=(
                LambdaFunctionVpcConfig(
                    subnet_ids=list(vpc.subnet_ids),
                    security_group_ids=list(vpc.security_group_ids),
                )
                if vpc is not None
                else None
            ),
            tags={"Name": self.name},
            # Log group first (else Lambda creates its own); policy first (else the first
            # invocations and the event source mappings fail on missing permissions).
            depends_on=[self.log_group, self.policy],
        )

    @property
    def arn(self) -> str:
        return self.function.arn


class PipelineFunctions(Construct):
    """The three functions, their IAM (from CONTRACTS.md) and their event source mappings."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: StackConfig,
        artifacts: LambdaArtifacts,
        roles: ExecutionRoles,
        encryption: Encryption,
        network: Network,
        storage: Storage,
        messaging: Messaging,
    ) -> None:
        super().__init__(scope, id_)
        code = CodeBundle(self, "code", config=config, artifacts=artifacts)
        tables, queues, key = storage, messaging, encryption.key
        common = dict(config=config, code=code, log_key=key)

        self.api = PythonFunction(
            self,
            API_HANDLER,
            base_name=API_HANDLER,
            handler="api_handler.handler",
            service="api",
            spec=config.api_function,
            role=roles[API_HANDLER],
            environment={
                "TRANSACTIONS_TABLE": tables.transactions.name,
                "STATE_TABLE": tables.state.name,
                "IDEMPOTENCY_TABLE": tables.idempotency.name,
                "CARD_FINGERPRINT_KEY_ID": encryption.fingerprint_alias.arn,
            },
            statements=[
                _idempotency(tables),
                statement(
                    "Transactions",
                    ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                    [tables.transactions.arn],
                ),
                statement(
                    "FeedbackState",
                    ["dynamodb:UpdateItem", "dynamodb:GetItem"],
                    [tables.state.arn],
                ),
                statement(
                    "CardFingerprint", ["kms:GenerateMac"], [encryption.fingerprint_key.arn]
                ),
            ],
            **common,  # type: ignore[arg-type]
        )

        self.detection = PythonFunction(
            self,
            FRAUD_DETECTION,
            base_name=FRAUD_DETECTION,
            handler="fraud_detection.handler",
            service="detection",
            spec=config.detection_function,
            role=roles[FRAUD_DETECTION],
            environment={
                "TRANSACTIONS_TABLE": tables.transactions.name,
                "STATE_TABLE": tables.state.name,
                "ALERT_QUEUE_URL": queues.alert_queue.url,
                # Unparseable stream records are parked here with their image (the mapping's own
                # on-failure record carries only the batch position).
                "FAILURE_QUEUE_URL": queues.stream_failure_queue.url,
            },
            statements=[
                # TransactWriteItems is authorised item by item: state documents are Puts,
                # score write-backs are Updates of the transaction.
                statement(
                    "ScoringState",
                    ["dynamodb:BatchGetItem", "dynamodb:PutItem"],
                    [tables.state.arn],
                ),
                statement("ScoreWriteBack", ["dynamodb:UpdateItem"], [tables.transactions.arn]),
                statement(
                    "TransactionsStream",
                    ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                    [tables.transactions.stream_arn],
                ),
                resource_star("ListStreams", ["dynamodb:ListStreams"]),
                statement(
                    "AlertAndFailureQueues",
                    ["sqs:SendMessage"],
                    [queues.alert_queue.arn, queues.stream_failure_queue.arn],
                ),
                _message_key(key),
            ],
            vpc=VpcPlacement(
                subnet_ids=network.subnet_ids,
                security_group_ids=[network.function_security_group.id],
            ),
            **common,  # type: ignore[arg-type]
        )

        self.notification = PythonFunction(
            self,
            NOTIFICATION_HANDLER,
            base_name=NOTIFICATION_HANDLER,
            handler="notification_handler.handler",
            service="notification",
            spec=config.notification_function,
            role=roles[NOTIFICATION_HANDLER],
            environment={
                "TRANSACTIONS_TABLE": tables.transactions.name,
                "IDEMPOTENCY_TABLE": tables.idempotency.name,
                "ALERT_TOPIC_ARN": queues.topic.arn,
            },
            statements=[
                statement(
                    "ConsumeAlertQueue",
                    [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    [queues.alert_queue.arn],
                ),
                statement("PublishAlerts", ["sns:Publish"], [queues.topic.arn]),
                _idempotency(tables),
                statement("AlertedMarker", ["dynamodb:UpdateItem"], [tables.transactions.arn]),
                _message_key(key),
            ],
            **common,  # type: ignore[arg-type]
        )

        self.stream_mapping = LambdaEventSourceMapping(
            self,
            "stream-to-detection",
            function_name=self.detection.function.arn,
            event_source_arn=tables.transactions.stream_arn,
            # LATEST: a re-created mapping must not replay a day of already-scored records.
            starting_position="LATEST",
            batch_size=config.stream_batch_size,
            maximum_batching_window_in_seconds=config.stream_batching_window_s,
            parallelization_factor=config.stream_parallelization_factor,
            bisect_batch_on_function_error=config.stream_bisect_on_error,
            maximum_retry_attempts=config.stream_max_retry_attempts,
            maximum_record_age_in_seconds=config.stream_max_record_age_s,
            function_response_types=["ReportBatchItemFailures"],
            filter_criteria=LambdaEventSourceMappingFilterCriteria(
                filter=[LambdaEventSourceMappingFilterCriteriaFilter(pattern=INSERT_ONLY_FILTER)]
            ),
            destination_config=LambdaEventSourceMappingDestinationConfig(
                on_failure=LambdaEventSourceMappingDestinationConfigOnFailure(
                    destination_arn=queues.stream_failure_queue.arn
                )
            ),
            depends_on=[self.detection.policy],
        )
        self.queue_mapping = LambdaEventSourceMapping(
            self,
            "queue-to-notification",
            function_name=self.notification.function.arn,
            event_source_arn=queues.alert_queue.arn,
            batch_size=config.queue_batch_size,
            function_response_types=["ReportBatchItemFailures"],
            depends_on=[self.notification.policy],
        )

    @property
    def all(self) -> tuple[PythonFunction, PythonFunction, PythonFunction]:
        return (self.api, self.detection, self.notification)


def _idempotency(tables: Storage) -> Statement:
    return statement(
        "IdempotencyRecords",
        ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        [tables.idempotency.arn],
    )


def _message_key(key: KmsKey) -> Statement:
    # The queues and the topic are encrypted with the CMK; SQS/SNS use it with our permissions.
    return statement("EncryptedMessages", ["kms:GenerateDataKey", "kms:Decrypt"], [key.arn])
