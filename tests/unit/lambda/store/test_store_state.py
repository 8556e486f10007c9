"""DynamoDBStateStore on moto: chunked consistent loads, grouped atomic commits, conflict mapping,
and the engine giving the same answers on it as on the in-memory store."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fraud.engine import FraudEngine, InMemoryStateStore, StateConflict, StateWrite
from fraud.models import Assessment, Transaction
from fraud.state import card_key, customer_key, merchant_key
from store.state_store import MAX_ACTIONS, DynamoDBStateStore, TransientStoreError

T0 = 1_700_000_000_000


def txn(n: int, *, card: str = "", merchant: str = "", customer: str = "", amount: str = "20.50") -> Transaction:
    return Transaction(
        transaction_id=f"txn-{n:08d}", event_time=T0 + n * 1000, received_at=T0 + n * 1000,
        amount=Decimal(amount), currency="USD", merchant=merchant or f"Shop {n}", location="Boston, USA",
        country="US", customer_id=customer or f"C{n}", card_fingerprint=(card or f"{n:x}").rjust(64, "0"),
        card_last4="1111", card_bin="411111", card_luhn_valid=True,
    )  # fmt: skip


def assessment(t: Transaction, score: int = 10) -> Assessment:
    return Assessment(t.transaction_id, score, "approve", (), "rules-v1", {})


def store_for(aws: Any, ddb: Any = None) -> DynamoDBStateStore:
    return DynamoDBStateStore(aws.tables["fraud-state"], aws.tables["transactions"], dynamodb=ddb,
                              sleep=lambda _s: None)  # fmt: skip


def put_transactions(aws: Any, txns: list[Transaction]) -> None:
    from store.codec import to_attrs

    for t in txns:
        aws.ddb.put_item(TableName=aws.tables["transactions"], Item=to_attrs({**t.to_item(), "status": "RECEIVED"}))


def doc(version: int = 1) -> dict[str, Any]:
    return {"version": version, "expires_at": 2_000_000_000, "events": [], "labels": []}


class Recorder:
    """Counts the calls that reach DynamoDB and what they carried."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gets: list[dict[str, Any]] = []
        self.writes: list[list[dict[str, Any]]] = []

    def batch_get_item(self, **kwargs: Any) -> Any:
        self.gets.append(kwargs["RequestItems"])
        return self.inner.batch_get_item(**kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.writes.append(kwargs["TransactItems"])
        return self.inner.transact_write_items(**kwargs)


def test_load_is_consistent_and_chunked_at_100_keys(aws):
    recorder = Recorder(boto3.client("dynamodb"))
    store = store_for(aws, recorder)
    store.commit([StateWrite(f"K#{i:03d}", doc(), None) for i in range(90)])
    found = store.load([f"K#{i:03d}" for i in range(250)])
    assert sorted(found) == [f"K#{i:03d}" for i in range(90)]
    assert found["K#007"] == doc()  # pk stripped, numbers come back as Decimal but compare equal
    assert [len(r[aws.tables["fraud-state"]]["Keys"]) for r in recorder.gets] == [100, 100, 50]
    assert all(r[aws.tables["fraud-state"]]["ConsistentRead"] for r in recorder.gets)


def test_unprocessed_keys_are_retried_then_given_up(aws, scripted):
    ddb = boto3.client("dynamodb")
    store = store_for(aws)
    store.commit([StateWrite(f"K#{i}", doc(), None) for i in range(4)])
    calls: list[int] = []

    def half_processed(**kwargs: Any) -> Any:
        calls.append(1)
        (table, request), = kwargs["RequestItems"].items()
        keys = request["Keys"]
        done = ddb.batch_get_item(RequestItems={table: {**request, "Keys": keys[:1]}})
        rest = keys[1:]
        return {**done, "UnprocessedKeys": {table: {**request, "Keys": rest}} if rest else {}}

    store = store_for(aws, scripted(ddb, batch_get_item=half_processed))
    assert sorted(store.load([f"K#{i}" for i in range(4)])) == [f"K#{i}" for i in range(4)]
    assert len(calls) == 4

    def never(**kwargs: Any) -> Any:
        return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}

    with pytest.raises(TransientStoreError):
        store_for(aws, scripted(ddb, batch_get_item=never)).load(["K#1"])


def test_commit_keeps_each_transaction_with_its_documents_and_under_100_actions(aws):
    txns = [txn(n) for n in range(60)]  # 60 x (card + customer + merchant + score) = 240 actions
    put_transactions(aws, txns)
    recorder = Recorder(boto3.client("dynamodb"))
    writes = [StateWrite(k, doc(), None) for t in txns for k in (card_key(t.card_fingerprint),
              customer_key(t.customer_id or ""), merchant_key(t.merchant))]  # fmt: skip
    store_for(aws, recorder).commit(writes, [(t, assessment(t)) for t in txns])
    assert len(recorder.writes) == 3 and all(len(call) <= MAX_ACTIONS for call in recorder.writes)
    for call in recorder.writes:
        puts = {a["Put"]["Item"]["pk"]["S"] for a in call if "Put" in a}
        for action in call:
            if "Update" in action:
                n = int(action["Update"]["Key"]["transaction_id"]["S"].split("-")[1])
                t = txns[n]
                assert {card_key(t.card_fingerprint), customer_key(t.customer_id or ""), merchant_key(t.merchant)} <= puts
    items = aws.scan("transactions")
    assert all(i["status"] == "SCORED" and i["risk_score"] == 10 and i["model_version"] == "rules-v1" for i in items)
    assert len(aws.scan("fraud-state")) == 180


def test_a_group_larger_than_one_call_is_split_and_fully_applied(aws):
    txns = [txn(n, merchant="Mega Mart") for n in range(70)]  # 1 merchant + 70 cards + 70 customers + 70 scores
    put_transactions(aws, txns)
    recorder = Recorder(boto3.client("dynamodb"))
    keys = {merchant_key("Mega Mart")} | {card_key(t.card_fingerprint) for t in txns} | {customer_key(t.customer_id or "") for t in txns}
    store_for(aws, recorder).commit([StateWrite(k, doc(), None) for k in sorted(keys)], [(t, assessment(t)) for t in txns])
    assert all(len(call) <= MAX_ACTIONS for call in recorder.writes) and len(recorder.writes) == 3
    assert len(aws.scan("fraud-state")) == 141
    assert all(i["status"] == "SCORED" for i in aws.scan("transactions"))


def test_version_mismatch_and_existing_document_are_state_conflicts(aws):
    store = store_for(aws)
    store.commit([StateWrite("CARD#a", doc(1), None), StateWrite("MERCH#b", doc(1), None)])
    with pytest.raises(StateConflict) as stale:
        store.commit([StateWrite("CARD#a", doc(3), 2), StateWrite("MERCH#b", doc(2), 1)])
    assert stale.value.keys == {"CARD#a"}
    with pytest.raises(StateConflict) as exists:
        store.commit([StateWrite("MERCH#b", doc(1), None)])
    assert exists.value.keys == {"MERCH#b"}
    # Nothing of a cancelled transaction is applied.
    assert {d["pk"]: d["version"] for d in aws.scan("fraud-state")} == {"CARD#a": 1, "MERCH#b": 1}


def test_score_for_a_deleted_transaction_is_dropped_not_created(aws):
    kept, gone = txn(1), txn(2)
    put_transactions(aws, [kept])
    store_for(aws).commit([StateWrite(card_key(kept.card_fingerprint), doc(), None)],
                          [(kept, assessment(kept, 42)), (gone, assessment(gone))])  # fmt: skip
    items = aws.scan("transactions")
    assert [(i["transaction_id"], i["risk_score"]) for i in items] == [(kept.transaction_id, 42)]
    assert len(aws.scan("fraud-state")) == 1


def _cancelled(*codes: str) -> ClientError:
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [{"Code": c} for c in codes]}, "TransactWriteItems")  # fmt: skip


def test_transaction_conflicts_are_retried_then_reported_as_transient(aws, scripted):
    ddb = boto3.client("dynamodb")
    attempts: list[int] = []

    def conflict_once(**kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise _cancelled("TransactionConflict")
        return ddb.transact_write_items(**kwargs)

    store_for(aws, scripted(ddb, transact_write_items=conflict_once)).commit([StateWrite("K#1", doc(), None)])
    assert len(attempts) == 2 and len(aws.scan("fraud-state")) == 1

    def always(**_: Any) -> Any:
        raise _cancelled("ThrottlingError")

    with pytest.raises(TransientStoreError):
        store_for(aws, scripted(ddb, transact_write_items=always)).commit([StateWrite("K#2", doc(), None)])


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_engine_gives_identical_results_on_dynamodb_and_in_memory(aws):
    """One scoring code path: the Lambda's store and the backtest's store agree exactly."""
    batches = [
        [txn(1, card="a", merchant="Corner"), txn(2, card="a", merchant="Corner", amount="30.00")],
        [txn(3, card="a", merchant="Scam Store", amount="12000.00"), txn(4, card="b", merchant="Corner")],
        [txn(2, card="a", merchant="Corner", amount="30.00"), txn(5, card="a", merchant="Kiosk", amount="1.00")],
    ]  # the third batch replays txn 2
    put_transactions(aws, [t for batch in batches for t in batch])
    engine, memory, dynamo = FraudEngine(), InMemoryStateStore(), store_for(aws)
    for batch in batches:
        assert engine.assess_batch(batch, dynamo) == engine.assess_batch(batch, memory)
    raw = aws.ddb.scan(TableName=aws.tables["fraud-state"], ConsistentRead=True)["Items"]
    assert all(set(item) == {"pk", "version", "expires_at", "doc"} for item in raw)  # the packed form
    assert {d.pop("pk"): d for d in aws.scan("fraud-state")} == memory.documents
