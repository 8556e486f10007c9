"""Messaging: the alert queue with its DLQ, the stream failure queue and the alert topic.

Every queue and the topic are encrypted with the CMK, and their resource policies refuse requests
that are not over TLS. Producers and consumers are authorised by their IAM roles (same account),
so the policies grant nothing else except CloudWatch alarms publishing to the topic.
"""
from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from cdktf_cdktf_provider_aws.sqs_queue_redrive_allow_policy import SqsQueueRedriveAllowPolicy
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

        self.alert_dlq = self._queue(
            "suspicious-transactions-dlq",
            config,
            key,
            message_retention_seconds=config.dlq_retention_seconds,
        )
        self.alert_queue = self._queue(
            "suspicious-transactions",
            config,
            key,
            visibility_timeout_seconds=config.queue_visibility_timeout_s,
            redrive_policy=json.dumps(
                {
                    "deadLetterTargetArn": self.alert_dlq.arn,
                    "maxReceiveCount": config.queue_max_receive_count,
                }
            ),
        )
        # Only the alert queue may use the DLQ (separate resource: the queues reference each other).
        SqsQueueRedriveAllowPolicy(
            self,
            "dlq-redrive-allow",
            queue_url=self.alert_dlq.url,
            redrive_allow_policy=json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.alert_queue.arn]}
            ),
        )
        # On-failure destination of the stream mapping: records detection gave up on.
        self.stream_failure_queue = self._queue(
            "fraud-detection-failures",
            config,
            key,
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

    def _queue(self, base_name: str, config: StackConfig, key: KmsKey, **settings: object) -> SqsQueue:
        name = config.name(base_name)
        queue = SqsQueue(
            self,
            base_name,
            name=name,
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_S,
            tags={"Name": name},
            **settings,  # type: ignore[arg-type]
        )
        SqsQueuePolicy(
            self,
            f"{base_name}-policy",
            queue_url=queue.url,
            policy=document([deny_insecure_transport(QUEUE_DATA_ACTIONS, queue.arn)]),
        )
        return queue
