"""Fraud detection: a DynamoDB stream batch → one engine pass → scores written back → alerts queued.

Why batch-oriented rather than a Powertools per-record `record_handler`: the engine's
point is one `BatchGetItem` for every card/customer/merchant document the batch
needs and one commit (`TransactWriteItems`) for all state and score write-backs —
100 records per batch would otherwise be 100 reads and 100 writes, and records of
the same card would race each other's optimistic-version checks. Partial failures
are still reported per record, the way the stream event source mapping expects:

- `INSERT` records only (the mapping filters too); our own write-backs are MODIFYs.
- A record whose image is not a transaction is poison: parked on the failure queue
  (`FAILURE_QUEUE_URL`, the stream mapping's on-failure destination) with its full
  new image — the table never holds a PAN — its event id and sequence number, and
  NOT reported as failed, so it never blocks its batch-mates.
- Transient failures (throttling, state conflicts after the engine's retries, SQS
  still failing after our retries) are reported as `batchItemFailures` for the
  affected records; Lambda resumes from the lowest reported sequence number, so
  the retry replays later records too. Replays are harmless: the engine does not
  apply a transaction twice and recomputes the same score, the write-back is an
  overwrite, and a re-sent alert is dropped by the notification handler's
  idempotency on transaction_id.
- Anything else (a bug) raises: the function error makes Lambda bisect the batch
  (`bisect_batch_on_function_error`) until the culprit lands in the on-failure
  destination.

Records are read as the plain dicts Lambda delivers, not through Powertools'
`DynamoDBStreamEvent`: importing any of its data classes imports the whole
`data_classes` package (~10 ms of cold start) for six fields, and the new image
is read with the same codec as every other item this code reads (store.codec).
"""
from __future__ import annotations

import os
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Optional

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import BotoCoreError, ClientError

from common.encoding import dumps
from common.settings import require, warm_up_during_init
from common.tracing import tracer as _tracer
from fraud.alerts import alert_message
from fraud.engine import FraudEngine, StateConflict
from fraud.models import Assessment, Transaction
from store.aws import client
from store.queues import OutgoingMessage, QueueSender

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from store.state_store import DynamoDBStateStore

Record = dict[str, Any]  # one stream record, as Lambda delivers it

logger = Logger()
tracer = _tracer()
metrics = Metrics()

POISON_KIND = "fraud-detection/unparseable-record"


def _engine() -> FraudEngine:
    """Rules plus the model artifact the rules config names, as deployed (both ship in the zip)."""
    return FraudEngine.from_config()


class _Container:
    def __init__(self) -> None:
        self.engine = _engine()
        model = getattr(self.engine.model, "version", None)
        logger.info("engine ready", extra={"rules": self.engine.rules.version, "model": model})
        self.state_table = require("STATE_TABLE")
        self.transactions_table = require("TRANSACTIONS_TABLE")
        self.alerts = QueueSender(require("ALERT_QUEUE_URL"))
        failure_url = os.environ.get("FAILURE_QUEUE_URL", "").strip()
        # Without it poison is reported as failed instead: Lambda retries it, then its own
        # on-failure destination gets the batch coordinates (not the image).
        self.failures: Optional[QueueSender] = QueueSender(failure_url) if failure_url else None
        if self.failures is None:
            logger.warning("FAILURE_QUEUE_URL is not set; unparseable records will be reported as failed")

    @cached_property
    def state(self) -> DynamoDBStateStore:
        # On first use: store.state_store imports boto3 (through store.codec).
        from store.state_store import DynamoDBStateStore

        return DynamoDBStateStore(self.state_table, transactions_table=self.transactions_table)


@cache
def container() -> _Container:
    return _Container()


def warm_up() -> None:
    """Build what the first batch builds (X-Ray patching, the state store, the DynamoDB and SQS
    clients), without calling AWS. Runs at import inside Lambda (common.settings.eager_init); with
    INIT_MODE=lazy, on the first request instead (bench/cold_start.py measures both)."""
    container().state
    client("dynamodb")
    client("sqs")


def _stream(record: Record) -> dict[str, Any]:
    return record.get("dynamodb") or {}


def _parse(record: Record) -> Transaction:
    image = _stream(record).get("NewImage")
    if not image:
        raise ValueError("record has no new image")
    from store.codec import from_attrs  # imports boto3: loaded on the first batch

    return Transaction.from_item(from_attrs(image))


def _poison_message(key: str, record: Record, reason: str) -> OutgoingMessage:
    stream = record.get("dynamodb")
    created = stream.get("ApproximateCreationDateTime") if stream else None
    body = {
        "kind": POISON_KIND,
        "reason": reason,
        "event_id": record.get("eventID"),
        "event_name": record.get("eventName"),
        "sequence_number": stream.get("SequenceNumber") if stream else None,
        "event_source_arn": record.get("eventSourceARN"),
        "approximate_creation_time": None if created is None else int(created),
        # Raw attribute values: exactly what the stream carried, ready for a redrive.
        "new_image": stream.get("NewImage") if stream else None,
        "keys": stream.get("Keys") if stream else None,
    }
    return OutgoingMessage(key=key, body=dumps(body))


def _failure_id(record: Record) -> str:
    return _stream(record).get("SequenceNumber") or record.get("eventID") or ""


@tracer.capture_method(capture_response=False)
def _park(poison: list[tuple[Record, str]]) -> list[Record]:
    """Park poison records; returns those that could not be parked (they must be retried)."""
    if not poison:
        return []
    for record, reason in poison:
        logger.warning("unparseable stream record", extra={"event_id": record.get("eventID"), "reason": reason})
    metrics.add_metric(name="PoisonRecords", unit=MetricUnit.Count, value=len(poison))
    failures = container().failures
    if failures is None:
        return [record for record, _ in poison]
    messages = [_poison_message(str(i), record, reason) for i, (record, reason) in enumerate(poison)]
    unsent = failures.send(messages)
    metrics.add_metric(name="PoisonRecordsParked", unit=MetricUnit.Count, value=len(messages) - len(unsent))
    return [poison[int(m.key)][0] for m in unsent]


@tracer.capture_method(capture_response=False)
def _assess(txns: list[Transaction]) -> Optional[list[Assessment]]:
    """One engine pass; None when DynamoDB kept failing (the records are retried)."""
    deps = container()
    state = deps.state
    from store.state_store import TransientStoreError  # loaded with the state store

    try:
        return deps.engine.assess_batch(txns, state)
    except (StateConflict, TransientStoreError) as exc:
        logger.warning("scoring deferred", extra={"error": type(exc).__name__, "records": len(txns)})
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        logger.warning("scoring deferred", extra={"error": code, "records": len(txns)})
    metrics.add_metric(name="ScoringDeferred", unit=MetricUnit.Count, value=len(txns))
    return None


def _record_scores(scored: list[tuple[Transaction, Assessment]]) -> None:
    metrics.add_metric(name="TransactionsScored", unit=MetricUnit.Count, value=len(scored))
    flagged: dict[str, int] = {}
    for txn, assessment in scored:
        # Each value is one observation: CloudWatch gives percentiles of the score.
        metrics.add_metric(name="RiskScore", unit=MetricUnit.NoUnit, value=assessment.risk_score)
        if assessment.flagged:
            flagged[assessment.decision] = flagged.get(assessment.decision, 0) + 1
        logger.info(
            "transaction scored",
            extra={"transaction_id": txn.transaction_id, "risk_score": assessment.risk_score,
                   "decision": assessment.decision, "reasons": [r.code for r in assessment.reasons]},
        )  # fmt: skip
    for decision, count in flagged.items():
        with single_metric(name="TransactionsFlagged", unit=MetricUnit.Count, value=count,
                           namespace=metrics.namespace, default_dimensions=metrics.default_dimensions) as metric:  # fmt: skip
            metric.add_dimension(name="decision", value=decision)


@tracer.capture_method(capture_response=False)
def _queue_alerts(scored: list[tuple[Record, Transaction, Assessment]]) -> list[Record]:
    """Send an alert for each alertable score; returns records whose alert is still unsent."""
    rules = container().engine.rules
    messages = []
    by_key: dict[str, Record] = {}
    for index, (record, txn, assessment) in enumerate(scored):
        if assessment.flagged and rules.should_alert(assessment.risk_score):
            key = str(index)
            by_key[key] = record
            messages.append(OutgoingMessage(
                key=key, body=dumps(alert_message(txn, assessment)),
                attributes={"decision": {"DataType": "String", "StringValue": assessment.decision}},
            ))  # fmt: skip
    if not messages:
        return []
    unsent = container().alerts.send(messages)
    metrics.add_metric(name="AlertsQueued", unit=MetricUnit.Count, value=len(messages) - len(unsent))
    if unsent:
        logger.warning("alerts not queued; records will be retried", extra={"count": len(unsent)})
    return [by_key[m.key] for m in unsent]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records: list[Record] = list(event.get("Records") or [])
    metrics.add_metric(name="StreamRecordsReceived", unit=MetricUnit.Count, value=len(records))
    tracer.put_annotation(key="records", value=len(records))
    parsed: list[tuple[Record, Transaction]] = []
    poison: list[tuple[Record, str]] = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue  # our own write-backs and other updates: never scored twice
        try:
            parsed.append((record, _parse(record)))
        except (ValueError, TypeError, ArithmeticError, KeyError, AttributeError) as exc:
            poison.append((record, str(exc)[:500]))

    failed: list[Record] = _park(poison)
    if parsed:
        assessments = _assess([txn for _, txn in parsed])
        if assessments is None:
            failed.extend(record for record, _ in parsed)
        else:
            scored = [(record, txn, a) for (record, txn), a in zip(parsed, assessments)]
            _record_scores([(txn, a) for _, txn, a in scored])
            failed.extend(_queue_alerts(scored))

    # Position order: Lambda checkpoints at the lowest reported sequence number.
    position = {id(record): index for index, record in enumerate(records)}
    failed.sort(key=lambda record: position[id(record)])
    logger.info("batch processed", extra={"records": len(records), "scored": len(parsed), "poison": len(poison),
                                          "failed": len(failed)})  # fmt: skip
    return {"batchItemFailures": [{"itemIdentifier": _failure_id(record)} for record in failed]}


# Last, once everything above is defined: Lambda imports this module during its init phase.
warm_up_during_init(warm_up, logger)
