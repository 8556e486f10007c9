"""Monitoring: alarms that notify the alert topic, and one dashboard.

Metric dimensions use the names from config (static strings), not resource attributes: an alarm
may exist before its metric does, and construct ids must not contain tokens.

Alarms: errors and throttles per function, messages in the DLQ or the stream failure queue,
detection falling behind the stream (iterator age), API 5xx and p99 latency.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from constructs import Construct

from lib.config import StackConfig
from lib.constructs.functions import PythonFunction


@dataclass(frozen=True)
class AlarmSpec:
    suffix: str  # alarm name: config.name(f"{subject base name}-{suffix}")
    namespace: str
    metric: str
    dimensions: dict[str, str]
    threshold: float
    description: str
    statistic: Optional[str] = "Sum"
    extended_statistic: Optional[str] = None


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: StackConfig,
        functions: Sequence[PythonFunction],
        detection: PythonFunction,
        alert_queue: str,
        dead_letter_queues: Sequence[str],
        api: str,
        topic: SnsTopic,
    ) -> None:
        """Queues and the API are given by base name (see CONTRACTS.md), names derive from it."""
        super().__init__(scope, id_)
        self._config = config
        self._topic = topic
        self.alarms: list[CloudwatchMetricAlarm] = []
        stage = config.api_stage_name

        for fn in functions:
            dims = {"FunctionName": fn.name}
            self._alarm(fn.base_name, AlarmSpec(
                "errors", "AWS/Lambda", "Errors", dims, 0, f"{fn.name} raised errors"))
            self._alarm(fn.base_name, AlarmSpec(
                "throttles", "AWS/Lambda", "Throttles", dims, 0,
                f"{fn.name} was throttled (reserved concurrency reached)"))
        for queue in dead_letter_queues:
            self._alarm(queue, AlarmSpec(
                "not-empty", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                {"QueueName": config.name(queue)}, 0,
                f"messages are waiting in {config.name(queue)}", statistic="Maximum"))
        self._alarm(detection.base_name, AlarmSpec(
            "iterator-age", "AWS/Lambda", "IteratorAge", {"FunctionName": detection.name},
            config.stream_iterator_age_alarm_ms, "detection is falling behind the stream",
            statistic="Maximum"))
        api_name = config.name(api)
        api_dims = {"ApiName": api_name, "Stage": stage}
        self._alarm(api, AlarmSpec(
            "5xx", "AWS/ApiGateway", "5XXError", api_dims, 0, "the API returned 5xx responses"))
        self._alarm(api, AlarmSpec(
            "latency-p99", "AWS/ApiGateway", "Latency", api_dims, config.api_latency_alarm_ms,
            "API p99 latency above target", statistic=None, extended_statistic="p99"))

        CloudwatchDashboard(
            self,
            "dashboard",
            dashboard_name=config.name("fraud-detection"),
            dashboard_body=json.dumps(
                {"widgets": self._widgets(
                    functions,
                    detection,
                    [config.name(queue) for queue in (alert_queue, *dead_letter_queues)],
                    api_name,
                )}
            ),
        )

    def _alarm(self, subject: str, spec: AlarmSpec) -> None:
        name = self._config.name(f"{subject}-{spec.suffix}")
        self.alarms.append(
            CloudwatchMetricAlarm(
                self,
                name,
                alarm_name=name,
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=spec.dimensions,
                statistic=spec.statistic,
                extended_statistic=spec.extended_statistic,
                period=self._config.alarm_period_s,
                evaluation_periods=1,
                threshold=spec.threshold,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",  # no traffic is not an incident
                alarm_actions=[self._topic.arn],
                ok_actions=[self._topic.arn],
            )
        )

    def _widgets(
        self,
        functions: Sequence[PythonFunction],
        detection: PythonFunction,
        queue_names: Sequence[str],
        api_name: str,
    ) -> list[dict[str, Any]]:
        region = self._config.region
        stage = self._config.api_stage_name

        def widget(title: str, metrics: list[list[Any]], stat: str, x: int, y: int) -> dict[str, Any]:
            return {
                "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": {"title": title, "region": region, "stat": stat,
                               "period": 60, "metrics": metrics, "view": "timeSeries"},
            }

        def per_function(metric: str) -> list[list[Any]]:
            return [["AWS/Lambda", metric, "FunctionName", fn.name] for fn in functions]

        api = ["ApiName", api_name, "Stage", stage]
        return [
            widget("API requests and errors", [
                ["AWS/ApiGateway", "Count", *api],
                ["AWS/ApiGateway", "4XXError", *api],
                ["AWS/ApiGateway", "5XXError", *api],
            ], "Sum", 0, 0),
            widget("API latency p99 (ms)", [["AWS/ApiGateway", "Latency", *api]], "p99", 12, 0),
            widget("Lambda invocations", per_function("Invocations"), "Sum", 0, 6),
            widget("Lambda errors and throttles",
                   per_function("Errors") + per_function("Throttles"), "Sum", 12, 6),
            widget("Lambda duration p99 (ms)", per_function("Duration"), "p99", 0, 12),
            widget("Stream iterator age (ms)",
                   [["AWS/Lambda", "IteratorAge", "FunctionName", detection.name]],
                   "Maximum", 12, 12),
            widget("Messages waiting", [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue]
                for queue in queue_names
            ], "Maximum", 0, 18),
        ]
