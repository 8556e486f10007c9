"""The small store classes: queue batching/retries, the KMS-derived key, the transactions table,
the feedback route's per-document state store."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest

from fraud.engine import StateConflict, StateWrite
from store import aws as store_aws
from store.keys import FINGERPRINT_LABEL, FingerprintKeyProvider
from store.label_state import LabelStateStore
from store.queues import OutgoingMessage, QueueSender
from store.transactions import LabelConflict, TransactionExists, TransactionNotFound, TransactionRepository


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
