"""TapStack: the whole pipeline for one environment, wired in the order data flows.

HTTP -> API -> api handler -> transactions table -> stream -> detection (VPC) -> alert queue
-> notification -> topic -> e-mail. Each concern is one construct in lib/constructs/.
"""
from __future__ import annotations

import lib.constructs  # noqa: F401  (points jsii at a supported Node before cdktf starts)
from cdktf import LocalBackend, S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from lib.config import StackConfig
from lib.constructs.api import Api, access_log_group_name, execution_log_group_pattern
from lib.constructs.code import LambdaArtifacts
from lib.constructs.encryption import Encryption
from lib.constructs.functions import (
    API_HANDLER,
    FRAUD_DETECTION,
    FUNCTION_NAMES,
    NOTIFICATION_HANDLER,
    ExecutionRoles,
    PipelineFunctions,
    log_group_name,
)
from lib.constructs.iam import AwsContext
from lib.constructs.messaging import Messaging
from lib.constructs.monitoring import Monitoring
from lib.constructs.network import Network
from lib.constructs.storage import Storage


class TapStack(TerraformStack):
    def __init__(self, scope: Construct, config: StackConfig, artifacts: LambdaArtifacts) -> None:
        super().__init__(scope, config.stack_name)
        # default_tags puts Environment/Project/ManagedBy on every taggable resource.
        AwsProvider(
            self,
            "aws",
            region=config.region,
            default_tags=[AwsProviderDefaultTags(tags=config.tags)],
        )
        self._backend(config)
        aws = AwsContext(
            account_id=DataAwsCallerIdentity(self, "identity").account_id,
            partition=DataAwsPartition(self, "partition").partition,
            region=config.region,
        )

        # Roles come first: the key policies name them; their permissions are attached later.
        roles = ExecutionRoles(self, "roles", config=config)
        encryption = Encryption(
            self,
            "encryption",
            config=config,
            aws=aws,
            message_key_users=[roles[FRAUD_DETECTION].arn, roles[NOTIFICATION_HANDLER].arn],
            fingerprint_users=[roles[API_HANDLER].arn],
            log_group_arns=[
                *(aws.log_group_arn(log_group_name(config.name(fn))) for fn in FUNCTION_NAMES),
                aws.log_group_arn(access_log_group_name(config)),
                aws.log_group_arn(execution_log_group_pattern(config)),
            ],
        )
        network = Network(self, "network", config=config)
        storage = Storage(self, "storage", config=config, key=encryption.key)
        messaging = Messaging(self, "messaging", config=config, aws=aws, key=encryption.key)
        functions = PipelineFunctions(
            self,
            "functions",
            config=config,
            artifacts=artifacts,
            roles=roles,
            encryption=encryption,
            network=network,
            storage=storage,
            messaging=messaging,
        )
        api = Api(
            self, "api", config=config, aws=aws, handler=functions.api, log_key=encryption.key
        )
        Monitoring(
            self,
            "monitoring",
            config=config,
            functions=functions.all,
            detection=functions.detection,
            alert_queue="suspicious-transactions",
            dead_letter_queues=["suspicious-transactions-dlq", "fraud-detection-failures"],
            api="fraud-detection-api",
            topic=messaging.topic,
        )

        outputs: dict[str, str] = {
            "api_invoke_url": api.invoke_url,
            "api_id": api.rest_api.id,
            "api_stage_name": api.stage.stage_name,
            "transactions_table_name": storage.transactions.name,
            "state_table_name": storage.state.name,
            "idempotency_table_name": storage.idempotency.name,
            "alert_queue_url": messaging.alert_queue.url,
            "alert_dlq_url": messaging.alert_dlq.url,
            "stream_failure_queue_url": messaging.stream_failure_queue.url,
            "alert_topic_arn": messaging.topic.arn,
            "api_handler_function_name": functions.api.function.function_name,
            "fraud_detection_function_name": functions.detection.function.function_name,
            "notification_function_name": functions.notification.function.function_name,
        }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value, static_id=True)
        TerraformOutput(
            self, "api_key_value", value=api.api_key.value, sensitive=True, static_id=True
        )

    def _backend(self, config: StackConfig) -> None:
        if config.state_bucket:
            backend = S3Backend(
                self,
                bucket=config.state_bucket,
                key=config.state_key,
                region=config.state_bucket_region or config.region,
                encrypt=True,
            )
            # S3-native locking (Terraform >= 1.10); cdktf 0.21 has no typed field for it.
            backend.add_override("use_lockfile", True)
        else:
            # Relative to the stack directory, so the synthesized JSON has no machine paths.
            LocalBackend(self, path=f"terraform.{config.stack_name}.tfstate")
