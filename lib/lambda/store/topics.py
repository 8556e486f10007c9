"""SNS publishing for alerts."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from store.aws import client


class AlertPublisher:
    def __init__(self, topic_arn: str, sns: Optional[Any] = None) -> None:
        self.topic_arn = topic_arn
        self._sns = sns

    def publish(self, subject: str, body: str, attributes: Mapping[str, Mapping[str, str]]) -> str:
        """Publish one alert; returns the SNS message id. Errors propagate (the record is retried)."""
        response = (self._sns or client("sns")).publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=body,
            MessageAttributes={name: dict(value) for name, value in attributes.items()},
        )
        return str(response["MessageId"])
