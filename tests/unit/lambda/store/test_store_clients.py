"""The small store classes: queue batching/retries, the KMS-derived key, the transactions table,
the feedback route's per-document state store; clients made on first use, not at import."""
from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from fraud.engine import StateConflict, StateWrite
from store import aws as store_aws
from store.keys import FINGERPRINT_LABEL, FingerprintKeyProvider
from store.label_state import LabelStateStore
from store.queues import OutgoingMessage, QueueSender
from store.transactions import LabelConflict, TransactionExists, TransactionNotFound, TransactionRepository


LAMBDA_ROOT = Path(__file__).resolve().parents[4] / "lib" / "lambda"
# What the handlers' container() requires, as a deployed function has it (values never used).
HANDLER_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1", "TRANSACTIONS_TABLE": "t", "STATE_TABLE": "s", "IDEMPOTENCY_TABLE": "i",
    "CARD_FINGERPRINT_KEY_ID": "alias/k", "ALERT_QUEUE_URL": "https://sqs/q", "FAILURE_QUEUE_URL": "https://sqs/f",
    "ALERT_TOPIC_ARN": "arn:aws:sns:::t", "POWERTOOLS_SERVICE_NAME": "import-test",
    "POWERTOOLS_METRICS_NAMESPACE": "FraudDetection",
}  # fmt: skip


def messages(n: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(key=str(i), body=f'{{"n": {i}}}') for i in range(n)]


def test_queue_sender_sends_in_batches_of_ten(aws):
    sqs = boto3.client("sqs")
    sizes: list[int] = []

    class Counting:
        def send_message_batch(self, **kwargs: Any) -> Any:
            sizes.append(len(kwargs["Entries"]))
            return sqs.send_message_batch(**kwargs)

    assert QueueSender(aws.alert_queue, sqs=Counting()).send(messages(25)) == []
    assert sizes == [10, 10, 5]
    assert len(aws.drain(aws.alert_queue)) == 25


def test_queue_sender_returns_sender_faults_at_once_and_retries_service_faults(aws):
    calls: list[list[str]] = []

    class Partial:
        def send_message_batch(self, **kwargs: Any) -> Any:
            ids = [e["Id"] for e in kwargs["Entries"]]
            calls.append(ids)
            failed = [{"Id": ids[0], "SenderFault": True, "Code": "InvalidMessageContents"}]
            failed += [{"Id": i, "SenderFault": False, "Code": "InternalError"} for i in ids[1:]]
            return {"Successful": [], "Failed": failed}

    unsent = QueueSender(aws.alert_queue, sqs=Partial(), attempts=3, sleep=lambda _s: None).send(messages(3))
    assert sorted(m.key for m in unsent) == ["0", "1", "2"]
    assert len(calls) == 3 and calls[0] == ["0", "1", "2"] and len(calls[1]) == 2  # the sender fault is not retried


def test_queue_sender_survives_a_failing_call(aws, scripted):
    sqs = boto3.client("sqs")
    attempts: list[int] = []

    def fail_first(**kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://sqs")
        return sqs.send_message_batch(**kwargs)

    sender = QueueSender(aws.alert_queue, sqs=scripted(sqs, send_message_batch=fail_first), sleep=lambda _s: None)
    assert sender.send(messages(2)) == []
    assert len(aws.drain(aws.alert_queue)) == 2


def test_fingerprint_key_is_one_generate_mac_per_container(aws):
    kms = boto3.client("kms")
    calls: list[dict[str, Any]] = []

    class Counting:
        def generate_mac(self, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return kms.generate_mac(**kwargs)

    provider = FingerprintKeyProvider(aws.key_arn, kms=Counting())
    first = provider.key()
    assert provider.key() == first and len(first) == 32
    assert calls == [{"KeyId": aws.key_arn, "Message": FINGERPRINT_LABEL, "MacAlgorithm": "HMAC_SHA_256"}]
    with pytest.raises(ValueError):
        FingerprintKeyProvider("")


def test_clients_are_shared_per_container(aws):
    assert store_aws.client("dynamodb") is store_aws.client("dynamodb")
    assert store_aws.client("sqs") is not store_aws.client("dynamodb")


def test_first_client_hooks_run_once_before_the_first_client(aws, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(store_aws, "_before_first_client", [])
    store_aws.before_first_client(lambda: seen.append("patched"))
    store_aws.client.cache_clear()
    store_aws.client("dynamodb")
    store_aws.client("sqs")
    assert seen == ["patched"]


HEAVY = ("boto3", "botocore.client", "aws_lambda_powertools.utilities.idempotency",
         "aws_lambda_powertools.utilities.batch")  # fmt: skip


def _loaded_after_import(handler: str, **env: str) -> list[str]:
    """Which HEAVY modules a fresh interpreter holds after importing `handler` and building its container."""
    probe = (
        f"import sys; sys.path[:0] = [{str(LAMBDA_ROOT)!r}]; import {handler} as h; h.container(); "
        f"print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    )
    env = {**os.environ, **HANDLER_ENV, "LAMBDA_TASK_ROOT": str(LAMBDA_ROOT), "POWERTOOLS_TRACE_DISABLED": "0", **env}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warm-up during init failed" not in result.stdout + result.stderr
    return eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own probe's repr of a list of str


@pytest.mark.parametrize("handler", ["api_handler", "fraud_detection", "notification_handler"])
def test_inside_lambda_the_import_builds_clients_and_layers_during_init(handler):
    """Eager (the stack's default): Lambda's init phase does the work, the first request starts warm."""
    loaded = _loaded_after_import(handler, AWS_LAMBDA_FUNCTION_NAME="fn", INIT_MODE="eager")
    expected = {"boto3", "botocore.client"} | (
        {"aws_lambda_powertools.utilities.idempotency"} if handler != "fraud_detection" else set())
    assert expected <= set(loaded)


@pytest.mark.parametrize("handler", ["api_handler", "fraud_detection", "notification_handler"])
def test_lazy_init_and_tools_outside_lambda_leave_boto3_to_the_first_request(handler):
    """INIT_MODE=lazy, or no Lambda at all (tests, scripts): boto3, botocore's client and Powertools'
    idempotency and batch utilities (which import both) wait for warm_up() or the first request."""
    assert _loaded_after_import(handler, AWS_LAMBDA_FUNCTION_NAME="fn", INIT_MODE="lazy") == []
    assert _loaded_after_import(handler, AWS_LAMBDA_FUNCTION_NAME="") == []


def test_transactions_repository_conditions(aws):
    repo = TransactionRepository(aws.tables["transactions"])
    item = {"transaction_id": "t-00000001", "amount": Decimal("5.00"), "status": "RECEIVED"}
    repo.create(item)
    with pytest.raises(TransactionExists) as exists:
        repo.create({**item, "amount": Decimal("6.00")})
    assert exists.value.existing["amount"] == Decimal("5")
    assert repo.get("missing-0001") is None
    labelled = repo.set_label("t-00000001", "fraud", 123)
    assert (labelled["label"], labelled["labelled_at"]) == ("fraud", 123)
    assert repo.set_label("t-00000001", "fraud", 999)["labelled_at"] == 123  # idempotent
    with pytest.raises(LabelConflict):
        repo.set_label("t-00000001", "legitimate", 5)
    with pytest.raises(TransactionNotFound):
        repo.set_label("missing-0001", "fraud", 5)
    assert repo.mark_alerted("t-00000001", 77) is True
    assert repo.mark_alerted("missing-0001", 77) is False
    assert [i["transaction_id"] for i in aws.scan("transactions")] == ["t-00000001"]  # nothing created


def test_label_state_store_writes_per_document_with_version_checks(aws):
    store = LabelStateStore(aws.tables["fraud-state"])
    document = {"version": 1, "expires_at": 2_000_000_000, "events": [[1, 2, 3, "US", "t"]], "labels": []}
    store.commit([StateWrite("CARD#x", document, None)])
    assert store.load(["CARD#x", "MERCH#none"]) == {"CARD#x": document}
    with pytest.raises(StateConflict) as conflict:
        store.commit([StateWrite("CARD#x", {**document, "version": 3}, 2)])
    assert conflict.value.keys == {"CARD#x"}
    store.commit([StateWrite("CARD#x", {**document, "version": 2, "labels": [["t", 1, 2]]}, 1)])
    assert store.load(["CARD#x"])["CARD#x"]["labels"] == [["t", 1, 2]]
    with pytest.raises(StateConflict):
        store.commit([StateWrite("CARD#x", document, None)])
