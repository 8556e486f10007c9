"""Notification: SQS alert messages → one human-readable SNS alert per flagged transaction.

Powertools batch processing reports failures per message (`batchItemFailures`), so a
failing publish retries only its own message; one that keeps failing (or is
malformed) reaches the DLQ after the queue's maxReceiveCount.

Exactly one alert per transaction under duplicate delivery: "publish + mark
`alerted_at`" runs inside Powertools idempotency keyed on `transaction_id` (table
IDEMPOTENCY_TABLE). A concurrent duplicate finds the record IN_PROGRESS and is
retried later; a later duplicate gets the stored result without publishing. The
record outlives the DLQ's 14-day retention, so a redriven copy is also suppressed.
Once SNS accepted the alert, a failure to write the marker is logged and counted
but not raised: raising would delete the idempotency record and publish twice.
The one window left is a crash between the publish and Powertools saving the
result (SNS standard topics have no deduplication); that resends, never loses.
"""
from __future__ import annotations

import json
import re
import time
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Callable, Optional

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from common.settings import require, warm_up_during_init
from common.tracing import tracer as _tracer
from fraud.alerts import format_alert
from store.aws import client
from store.topics import AlertPublisher
from store.transactions import TransactionRepository

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = _tracer()
metrics = Metrics()

IDEMPOTENCY_TTL_S = 15 * 24 * 3600  # > the DLQ's 14-day retention
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MalformedAlert(ValueError):
    """The message is not an alert: retried, then parked in the DLQ for a human."""


def _count_duplicate(response: Any, record: Any) -> Any:
    metrics.add_metric(name="DuplicateAlertsSuppressed", unit=MetricUnit.Count, value=1)
    logger.info("duplicate alert suppressed")
    return response


class _Container:
    """Built on the first request; the Powertools idempotency and batch utilities (which import
    boto3 and every event data class) on first use, so that importing the handler stays fast."""

    def __init__(self) -> None:
        self.transactions = TransactionRepository(require("TRANSACTIONS_TABLE"))
        self.publisher = AlertPublisher(require("ALERT_TOPIC_ARN"))
        self.idempotency_table = require("IDEMPOTENCY_TABLE")

    @cached_property
    def idempotency_config(self) -> IdempotencyConfig:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(
            event_key_jmespath="transaction_id",
            expires_after_seconds=IDEMPOTENCY_TTL_S,
            raise_on_no_idempotency_key=True,
            response_hook=_count_duplicate,
        )

    @cached_property
    def send_once(self) -> Callable[..., dict[str, Any]]:
        """`_send_alert` under Powertools idempotency, keyed on the alert's transaction_id."""
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

        persistence = DynamoDBPersistenceLayer(table_name=self.idempotency_table, boto3_client=client("dynamodb"))
        return idempotent_function(
            _send_alert, data_keyword_argument="alert", persistence_store=persistence, config=self.idempotency_config
        )

    @cached_property
    def processor(self) -> BatchProcessor:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

        return BatchProcessor(event_type=EventType.SQS)


@cache
def container() -> _Container:
    return _Container()


def warm_up() -> None:
    """Build what the first batch builds (X-Ray patching, batch processing, the idempotency
    layer, the DynamoDB and SNS clients), without calling AWS. Runs at import inside Lambda
    (common.settings.eager_init); with INIT_MODE=lazy, on the first request instead
    (bench/cold_start.py measures both)."""
    deps = container()
    deps.processor
    deps.send_once
    client("sns")


def _send_alert(alert: dict[str, Any], rendered: tuple[str, str, dict[str, dict[str, str]]]) -> dict[str, Any]:
    """Publish, then mark the transaction; runs at most once per transaction_id."""
    deps = container()
    subject, body, attributes = rendered
    message_id = deps.publisher.publish(subject, body, attributes)
    metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=1)
    alerted_at = int(time.time() * 1000)
    try:
        if not deps.transactions.mark_alerted(alert["transaction_id"], alerted_at):
            logger.warning("alerted transaction not found; marker not written")
    except (ClientError, BotoCoreError):
        logger.exception("alert sent but alerted_at marker not written")
        metrics.add_metric(name="AlertMarkerFailed", unit=MetricUnit.Count, value=1)
    logger.info("alert published", extra={"message_id": message_id, "severity": attributes["severity"]["StringValue"]})
    return {"message_id": message_id, "alerted_at": alerted_at}


def _decode(record: SQSRecord) -> dict[str, Any]:
    try:
        message = json.loads(record.body)
    except (TypeError, ValueError):
        raise MalformedAlert("message body is not JSON") from None
    if not isinstance(message, dict):
        raise MalformedAlert("message body is not a JSON object")
    return message


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> Optional[dict[str, Any]]:
    try:
        message = _decode(record)
        transaction_id = message.get("transaction_id")
        # Only well-formed ids go into log keys (a malformed body could carry anything).
        safe_id = transaction_id if isinstance(transaction_id, str) and _SAFE_ID.fullmatch(transaction_id) else None
        logger.append_keys(transaction_id=safe_id, message_id=record.message_id)
        if safe_id:
            tracer.put_annotation(key="transaction_id", value=safe_id)
        try:
            rendered = format_alert(message)
        except ValueError as exc:
            raise MalformedAlert(str(exc)) from None
        return container().send_once(alert=message, rendered=rendered)
    except MalformedAlert as exc:
        metrics.add_metric(name="MalformedAlerts", unit=MetricUnit.Count, value=1)
        logger.error("malformed alert message", extra={"reason": str(exc)[:500], "message_id": record.message_id,
                                                       "receive_count": record.attributes.approximate_receive_count})  # fmt: skip
        raise
    finally:
        logger.remove_keys(["transaction_id", "message_id"])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    deps = container()
    deps.idempotency_config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=deps.processor,
                                    context=context)  # fmt: skip


# Last, once everything above is defined: Lambda imports this module during its init phase.
warm_up_during_init(warm_up, logger)
