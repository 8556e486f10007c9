"""API handler: HTTP in, validated transaction stored, nothing else.

Routes (API Gateway REST proxy integration, stage `prod`):
  POST /transactions                              → 201 {"message", "transaction_id", "timestamp"}
  GET  /transactions/{transaction_id}             → 200 masked view with score, decision, reasons
  POST /transactions/{transaction_id}/feedback    → 200 {"transaction_id", "label", "labelled_at"}

Every client mistake is a 4xx with `{"message", "errors": [{"field", "reason"}]}`; a 5xx
only ever means our dependency failed. Idempotency, in two layers:
  - `Idempotency-Key` header → Powertools idempotency on the idempotency table, keyed on the
    header, validated against a hash of the request (PAN replaced by its fingerprint: an
    unkeyed hash of a body holding a PAN could be brute-forced). Same key + same body → the
    stored original response; same key + other body → 422; same key still running → 409.
  - The durable guard is a conditional PutItem (`attribute_not_exists(transaction_id)`) on an
    id that is stable across retries: the client's `transaction_id`, else a UUIDv5 of the
    idempotency key, else a fresh UUIDv4. A collision with the same content replays the
    original response; with other content it is a 409.

The dispatcher is a dict lookup on API Gateway's `resource` template rather than the
Powertools event handler: three routes do not justify ~90 ms more cold start.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from decimal import Decimal
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Callable, Optional

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from common import http
from common.http import HttpError
from common.settings import require, warm_up_during_init
from common.tracing import tracer as _tracer
from fraud.cards import fingerprint, mask, to_transaction
from fraud.validation import Submission, ValidationError, parse_feedback, parse_submission
from store.aws import client
from store.keys import FingerprintKeyProvider
from store.transactions import LabelConflict, TransactionExists, TransactionNotFound, TransactionRepository

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = _tracer()
metrics = Metrics()

MAX_BODY_BYTES = 16 * 1024
IDEMPOTENCY_TTL_S = 24 * 3600
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
_TRANSACTION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Fixed namespace: the same Idempotency-Key always maps to the same transaction id.
_ID_NAMESPACE = uuid.UUID("5d3f0c9e-6a53-4b0b-9a43-0b8f3c1d2e71")
_CENT = Decimal("0.01")
_LOGGABLE_FIELDS = frozenset(
    {"amount", "merchant", "card_number", "location", "currency", "customer_id", "timestamp", "transaction_id",
     "label", "body", "path", "Content-Type", "Idempotency-Key"}
)  # fmt: skip
_VIEW_FIELDS = (
    "status", "currency", "merchant", "location", "country", "customer_id", "event_time", "received_at",
    "risk_score", "decision", "reasons", "scored_at", "model_version", "label", "labelled_at", "alerted_at",
)  # fmt: skip


def _count_replay(response: Any, record: Any) -> Any:
    """Powertools returned the stored response of an earlier request with the same key."""
    metrics.add_metric(name="IdempotentReplays", unit=MetricUnit.Count, value=1)
    logger.info("idempotent replay")
    return response


class _Container:
    """Per-container dependencies, built on the first request (and per test).

    Cheap to build: the AWS clients come from `store.aws` on first use, and the Powertools
    idempotency layer (which imports boto3) on the first request with an Idempotency-Key.
    """

    def __init__(self) -> None:
        self.transactions = TransactionRepository(require("TRANSACTIONS_TABLE"))
        self.keys = FingerprintKeyProvider(require("CARD_FINGERPRINT_KEY_ID"))
        self.idempotency_table = require("IDEMPOTENCY_TABLE")
        # The current invocation's, for the idempotency layer's timeout handling.
        self.lambda_context: Optional[LambdaContext] = None
        self._feedback: Optional[Callable[[dict[str, Any], str, int], None]] = None

    @cached_property
    def idempotency_config(self) -> IdempotencyConfig:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(
            event_key_jmespath="idempotency_key",
            payload_validation_jmespath="payload",
            expires_after_seconds=IDEMPOTENCY_TTL_S,
            raise_on_no_idempotency_key=True,
            response_hook=_count_replay,
        )

    @cached_property
    def record_once(self) -> Callable[..., dict[str, Any]]:
        """`_record_transaction` under Powertools idempotency, keyed on the Idempotency-Key."""
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

        persistence = DynamoDBPersistenceLayer(table_name=self.idempotency_table, boto3_client=client("dynamodb"))
        return idempotent_function(
            _record_transaction,
            data_keyword_argument="request",
            persistence_store=persistence,
            config=self.idempotency_config,
        )

    @property
    def feedback(self) -> Callable[[dict[str, Any], str, int], None]:
        # Lazy: loading the rules is not worth paying on the POST/GET cold path.
        if self._feedback is None:
            self._feedback = _feedback_recorder()
        return self._feedback


@cache
def container() -> _Container:
    return _Container()


def warm_up() -> None:
    """Build what the first POST with an Idempotency-Key builds (X-Ray patching, the DynamoDB and
    KMS clients, the idempotency layer), without calling AWS. Runs at import inside Lambda (common.settings.eager_init); with
    INIT_MODE=lazy, on the first request instead (bench/cold_start.py measures both)."""
    deps = container()
    client("dynamodb")
    client("kms")
    deps.record_once


def _feedback_recorder() -> Callable[[dict[str, Any], str, int], None]:
    """Feed a confirmed label to the engine's card/merchant state (imported on first use)."""
    from fraud.engine import FraudEngine
    from fraud.models import Transaction
    from store.label_state import LabelStateStore

    engine = FraudEngine()
    state = LabelStateStore(require("STATE_TABLE"))

    def record(item: dict[str, Any], label: str, labelled_at: int) -> None:
        engine.record_label(Transaction.from_item(item), label, labelled_at, state)

    return record


# --- request plumbing -------------------------------------------------------------------


def _header(event: dict[str, Any], name: str) -> Optional[str]:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _json_body(event: dict[str, Any]) -> Any:
    """Content type, size and syntax checks shared by both POST routes."""
    content_type = (_header(event, "content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" and not (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        raise HttpError(415, "Content-Type must be application/json",
                        [{"field": "Content-Type", "reason": "must be application/json"}])  # fmt: skip
    raw = event.get("body") or ""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if event.get("isBase64Encoded"):
        import base64
        import binascii

        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "Body is not valid base64", [{"field": "body", "reason": "invalid base64"}])
    if len(data) > MAX_BODY_BYTES:
        raise HttpError(413, "Request body too large",
                        [{"field": "body", "reason": f"must be at most {MAX_BODY_BYTES} bytes"}])  # fmt: skip
    try:
        # Decimal keeps "125.50" exact; NaN/Infinity are not JSON and are refused.
        return json.loads(data.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HttpError(400, "Malformed JSON body", [{"field": "body", "reason": "must be valid UTF-8 JSON"}])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _path_id(event: dict[str, Any]) -> str:
    value = (event.get("pathParameters") or {}).get("transaction_id") or ""
    if not _TRANSACTION_ID.fullmatch(value):
        raise HttpError(404, "Transaction not found",
                        [{"field": "transaction_id", "reason": "no such transaction"}])  # fmt: skip
    logger.append_keys(transaction_id=value)
    tracer.put_annotation(key="transaction_id", value=value)
    return value


def _validation_error(exc: ValidationError) -> HttpError:
    return HttpError(400, "Invalid request", [e.to_dict() for e in exc.errors])


# --- POST /transactions -----------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _accepted(transaction_id: str, timestamp: int) -> dict[str, Any]:
    return {"message": "Transaction recorded successfully", "transaction_id": transaction_id, "timestamp": timestamp}


def _same_submission(existing: dict[str, Any], item: dict[str, Any], client_time: bool) -> bool:
    """Is a stored transaction the same request as `item` (a retry), not another one?"""
    fields = ["amount", "currency", "merchant", "location", "card_fingerprint"]
    if client_time:
        fields.append("event_time")
    if existing.get("customer_id") != item.get("customer_id"):
        return False
    return all(existing.get(f) == item.get(f) for f in fields)


def _record_transaction(request: dict[str, Any], sub: Submission, transaction_id: str) -> dict[str, Any]:
    """Store the transaction once; returns the (replayable) 201 body."""
    deps = container()
    received_at = _now_ms()
    txn = to_transaction(sub, transaction_id=transaction_id, received_at=received_at,
                         fingerprint_key=deps.keys.key())  # fmt: skip
    item = {**txn.to_item(), "status": "RECEIVED"}
    if request.get("idempotency_key"):
        item["idempotency_key"] = request["idempotency_key"]
    try:
        deps.transactions.create(item)
    except TransactionExists as exists:
        if not _same_submission(exists.existing, item, sub.event_time is not None):
            if sub.transaction_id:
                raise HttpError(409, "transaction_id already used for a different transaction",
                                [{"field": "transaction_id", "reason": "already exists"}])  # fmt: skip
            # The id came from the Idempotency-Key (its Powertools record had expired).
            raise HttpError(422, "Idempotency-Key was already used with a different request",
                            [{"field": "Idempotency-Key", "reason": "reused with a different body"}])  # fmt: skip
        logger.info("replayed existing transaction")
        metrics.add_metric(name="IdempotentReplays", unit=MetricUnit.Count, value=1)
        return _accepted(transaction_id, int(exists.existing["received_at"]))
    metrics.add_metric(name="TransactionsAccepted", unit=MetricUnit.Count, value=1)
    logger.info("transaction recorded", extra={"card_last4": txn.card_last4, "amount": str(txn.amount)})
    return _accepted(transaction_id, received_at)


@tracer.capture_method(capture_response=False)
def create_transaction(event: dict[str, Any]) -> dict[str, Any]:
    try:
        sub = parse_submission(_json_body(event))
    except ValidationError as exc:
        raise _validation_error(exc) from None
    key = _header(event, "idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise HttpError(400, "Invalid Idempotency-Key header",
                        [{"field": "Idempotency-Key", "reason": "must be 1-255 printable ASCII characters"}])  # fmt: skip
    if sub.transaction_id:
        transaction_id = sub.transaction_id
    elif key:
        transaction_id = str(uuid.uuid5(_ID_NAMESPACE, key))
    else:
        transaction_id = str(uuid.uuid4())
    logger.append_keys(transaction_id=transaction_id)
    tracer.put_annotation(key="transaction_id", value=transaction_id)
    deps = container()
    if key is None:
        body = _record_transaction(request={}, sub=sub, transaction_id=transaction_id)
        return http.response(201, body)
    # What the payload hash covers: the request as validated, PAN replaced by its fingerprint.
    payload = {
        "amount": str(sub.amount), "currency": sub.currency, "merchant": sub.merchant, "location": sub.location,
        "customer_id": sub.customer_id, "event_time": sub.event_time, "transaction_id": sub.transaction_id,
        "card": fingerprint(sub.card_number, deps.keys.key()),
    }  # fmt: skip
    # Imported with the idempotency layer, on the first request that carries a key.
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    deps.idempotency_config.register_lambda_context(deps.lambda_context)
    try:
        body = deps.record_once(
            request={"idempotency_key": key, "payload": payload}, sub=sub, transaction_id=transaction_id
        )
    except IdempotencyValidationError:
        raise HttpError(422, "Idempotency-Key was already used with a different request",
                        [{"field": "Idempotency-Key", "reason": "reused with a different body"}])  # fmt: skip
    except IdempotencyAlreadyInProgressError:
        raise HttpError(409, "A request with this Idempotency-Key is still in progress",
                        [{"field": "Idempotency-Key", "reason": "request in progress; retry later"}])  # fmt: skip
    return http.response(201, body)


# --- GET /transactions/{id} -------------------------------------------------------------


def _view(item: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"transaction_id": item["transaction_id"], "card": mask(str(item.get("card_last4", "")))}
    if "amount" in item:
        view["amount"] = str(Decimal(item["amount"]).quantize(_CENT))
    for name in _VIEW_FIELDS:
        if name in item:
            view[name] = item[name]
    return view


@tracer.capture_method(capture_response=False)
def get_transaction(event: dict[str, Any]) -> dict[str, Any]:
    item = container().transactions.get(_path_id(event))
    if item is None:
        raise HttpError(404, "Transaction not found", [{"field": "transaction_id", "reason": "no such transaction"}])
    metrics.add_metric(name="TransactionsRead", unit=MetricUnit.Count, value=1)
    return http.response(200, _view(item))


# --- POST /transactions/{id}/feedback ---------------------------------------------------


@tracer.capture_method(capture_response=False)
def record_feedback(event: dict[str, Any]) -> dict[str, Any]:
    transaction_id = _path_id(event)
    try:
        label = parse_feedback(_json_body(event))
    except ValidationError as exc:
        raise _validation_error(exc) from None
    deps = container()
    item = deps.transactions.get(transaction_id)
    if item is None:
        raise HttpError(404, "Transaction not found", [{"field": "transaction_id", "reason": "no such transaction"}])
    stored = item.get("label")
    if stored is not None and stored != label:
        raise HttpError(409, f"Transaction is already labelled {stored!r}",
                        [{"field": "label", "reason": "a different label is already recorded"}])  # fmt: skip
    labelled_at = int(item.get("labelled_at", _now_ms()))
    if stored is None:
        # State first, label second: a retry after a crash in between redoes the
        # (idempotent) state update; a label on the item means the state has it too.
        deps.feedback(item, label, labelled_at)
        try:
            item = deps.transactions.set_label(transaction_id, label, labelled_at)
        except TransactionNotFound:
            raise HttpError(404, "Transaction not found",
                            [{"field": "transaction_id", "reason": "no such transaction"}])  # fmt: skip
        except LabelConflict as conflict:
            raise HttpError(409, "Transaction is already labelled",
                            [{"field": "label", "reason": "a different label is already recorded"}]) from conflict  # fmt: skip
        metrics.add_metric(name="FeedbackLabels", unit=MetricUnit.Count, value=1)
        logger.info("feedback recorded", extra={"label": label})
    else:
        metrics.add_metric(name="FeedbackReplays", unit=MetricUnit.Count, value=1)
    return http.response(200, {"transaction_id": transaction_id, "label": label,
                               "labelled_at": int(item.get("labelled_at", labelled_at))})  # fmt: skip


# --- entry point ------------------------------------------------------------------------

ROUTES: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("POST", "/transactions"): create_transaction,
    ("GET", "/transactions/{transaction_id}"): get_transaction,
    ("POST", "/transactions/{transaction_id}/feedback"): record_feedback,
}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    container().lambda_context = context
    route = ROUTES.get((str(event.get("httpMethod", "")).upper(), str(event.get("resource", ""))))
    if route is None:
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        return http.error(404, "Not found", [{"field": "path", "reason": "no such route"}])
    try:
        return route(event)
    except HttpError as exc:
        # Known field names only: values, and unknown names a client invented, never reach the log.
        fields = sorted({e["field"] if e["field"] in _LOGGABLE_FIELDS else "<unknown>" for e in exc.errors})
        logger.info("request rejected", extra={"status": exc.status, "fields": fields})
        rejected = "TransactionsRejected" if route is create_transaction else "RequestsRejected"
        metrics.add_metric(name=rejected, unit=MetricUnit.Count, value=1)
        return http.error(exc.status, exc.message, exc.errors)
    except Exception:
        # A dependency failed (not the client): JSON 500 instead of API Gateway's bare 502.
        logger.exception("request failed")
        metrics.add_metric(name="RequestsFailed", unit=MetricUnit.Count, value=1)
        return http.error(500, "Internal error; retry with the same Idempotency-Key")


# Last, once everything above is defined: Lambda imports this module during its init phase.
warm_up_during_init(warm_up, logger)
