"""Messaging: the alert queue with its DLQ, the stream failure queue and the alert topic.

Every queue and the topic are encrypted with the CMK, and their resource policies refuse requests
that are not over TLS. Producers and consumers are authorised by their IAM roles (same account),
so the policies grant nothing else except CloudWatch alarms publishing to the topic.

Queue policies are inline, with the queue ARN built from its name: Terraform waits ~25 s for SQS
attributes to settle after every queue or queue-policy write, so separate policy resources would
add that wait to every deploy's critical path.
"""
from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from lib.config import StackConfig
from lib.constructs.iam import AwsContext, deny_insecure_transport, document, statement

QUEUE_DATA_ACTIONS = (
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)
TOPIC_DATA_ACTIONS = ("sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes")
# A data key is reused for 5 minutes: far fewer KMS calls at 1000 rps, a common trade-off.
KMS_DATA_KEY_REUSE_S = 300


class Messaging(Construct):
    def __init__(
        self, scope: Construct, id_: str, *, config: StackConfig, aws: AwsContext, key: KmsKey
    ) -> None:
        super().__init__(scope, id_)

        self._config, self._aws, self._key = config, aws, key
        alert_queue_name = config.name("suspicious-transactions")
        self.alert_dlq = self._queue(
            "suspicious-transactions-dlq",
            message_retention_seconds=config.dlq_retention_seconds,
            # Only the alert queue may use this DLQ.
            redrive_allow_policy=json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self._arn(alert_queue_name)]}
            ),
        )
        self.alert_queue = self._queue(
            "suspicious-transactions",
            visibility_timeout_seconds=config.queue_visibility_timeout_s,
            redrive_policy=json.dumps(
                {
                    "deadLetterTargetArn": self.alert_dlq.arn,
                    "maxReceiveCount": config.queue_max_receive_count,
                }
            ),
        )
        # On-failure destination of the stream mapping: records detection gave up on.
        self.stream_failure_queue = self._queue(
            "fraud-detection-failures",
            message_retention_seconds=config.dlq_retention_seconds,
        )

        self.topic = SnsTopic(
            self,
            "alerts",
            name=config.name("fraud-alerts"),
            kms_master_key_id=key.arn,
            tags={"Name": config.name("fraud-alerts")},
        )
        SnsTopicPolicy(
            self,
            "alerts-policy",
            arn=self.topic.arn,
            policy=document(
                [
                    statement(
                        "CloudWatchAlarmsPublish",
                        ["sns:Publish"],
                        self.topic.arn,
                        principal={"Service": "cloudwatch.amazonaws.com"},
                        condition={
                            "StringEquals": {"aws:SourceAccount": aws.account_id},
                            "ArnLike": {"aws:SourceArn": aws.arn("cloudwatch", "alarm:*")},
                        },
                    ),
                    deny_insecure_transport(TOPIC_DATA_ACTIONS, self.topic.arn),
                ]
            ),
        )
        if config.alert_email:
            SnsTopicSubscription(
                self,
                "alerts-email",
                topic_arn=self.topic.arn,
                protocol="email",
                endpoint=config.alert_email,
            )

    def _arn(self, queue_name: str) -> str:
        return self._aws.arn("sqs", queue_name)

    def _queue(self, base_name: str, **settings: object) -> SqsQueue:
        name = self._config.name(base_name)
        return SqsQueue(
            self,
            base_name,
            name=name,
            kms_master_key_id=self._key.arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_S,
            policy=document([deny_insecure_transport(QUEUE_DATA_ACTIONS, self._arn(name))]),
            tags={"Name": name},
            **settings,  # type: ignore[arg-type]
        )
