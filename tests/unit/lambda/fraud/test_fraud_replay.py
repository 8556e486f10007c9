"""One scoring path: the backtest replay, the Lambda's batches and no leakage of future labels."""
from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from fraud.engine import FraudEngine, InMemoryStateStore
from fraud.models import Assessment, Transaction
from fraud.replay import replay
from fraud.state import DAY_MS, HOUR_MS
from fraud_factories import T0, make_txn
from test_fraud_engine import DecimalStore
from test_fraud_model import GBDT

from fraud.model import from_dict

DELAY = 2 * DAY_MS


def history(n: int = 600, seed: int = 3) -> list[tuple[Transaction, bool]]:
    rng = random.Random(seed)
    t = T0
    events = []
    for i in range(n):
        t += rng.choice([0, 1, 30_000, 600_000, HOUR_MS, 6 * HOUR_MS])
        card = rng.randrange(12)
        events.append((make_txn(
            transaction_id=f"h-{i:06d}", event_time=t, amount=Decimal(rng.choice(["1.00", "5.00", "42.10", "900.00"])),
            merchant=f"Shop {rng.randrange(5)}", country=rng.choice(["US", "US", "NG", ""]),
            customer_id=rng.choice([None, f"C{card % 7}"]), card_fingerprint=f"{card:064d}",
        ), rng.random() < 0.15))
    return events


def scores(events: list[tuple[Transaction, bool]], engine: FraudEngine, **kw: Any) -> dict[str, Assessment]:
    out: dict[str, Assessment] = {}
    replay(events, engine, lambda t, a, y: out.__setitem__(t.transaction_id, a), label_delay_ms=DELAY, **kw)
    return out


ENGINES = [FraudEngine(), FraudEngine(model=from_dict(GBDT))]


@pytest.mark.parametrize("engine", ENGINES)
def test_flipping_labels_not_yet_arrived_changes_no_score(engine: FraudEngine) -> None:
    events = history()
    cut = events[len(events) // 2][0].event_time
    flipped = [(t, (not y) if t.event_time + DELAY > cut else y) for t, y in events]
    before, after = scores(events, engine), scores(flipped, engine)
    changed_later = False
    for txn, _ in events:
        if txn.event_time <= cut:
            assert before[txn.transaction_id] == after[txn.transaction_id]
        else:
            changed_later |= before[txn.transaction_id] != after[txn.transaction_id]
    assert changed_later  # the flip is real: scores after the cut do see it


def test_labels_are_used_once_arrived() -> None:
    events = history()
    no_labels = scores([(t, False) for t, _ in events], ENGINES[0])
    assert scores(events, ENGINES[0]) != no_labels


@pytest.mark.parametrize("batch_size", [1, 7, 256])
def test_batching_does_not_change_scores(batch_size: int) -> None:
    events = history()
    assert scores(events, ENGINES[1], batch_size=batch_size) == scores(events, ENGINES[1], batch_size=1)


def lambda_path(events: list[tuple[Transaction, bool]], engine: FraudEngine, store: Any,
                seed: int = 5) -> dict[str, Assessment]:
    """What production does: stream batches of varying size (with redeliveries) and feedback calls."""
    rng = random.Random(seed)
    pending = sorted(((t.event_time + DELAY, t) for t, y in events if y), key=lambda p: (p[0], p[1].transaction_id))
    out: dict[str, Assessment] = {}
    i = 0
    while i < len(events):
        size = rng.randint(1, 9)
        batch = [t for t, _ in events[i:i + size]]
        # Labels arrive (POST .../feedback) before the stream delivers the next record after their arrival.
        arrived = [p for p in pending if p[0] <= batch[0].event_time]
        for arrival, txn in arrived:
            engine.record_label(txn, "fraud", arrival, store)
        pending = pending[len(arrived):]
        cut = next((k for k, t in enumerate(batch) if pending and pending[0][0] <= t.event_time), len(batch))
        batch = batch[:max(1, cut)]
        for txn, assessment in zip(batch, engine.assess_batch(batch, store)):
            out[txn.transaction_id] = assessment
        if rng.random() < 0.3:  # at-least-once delivery: the same records again
            for txn, assessment in zip(batch, engine.assess_batch(batch, store)):
                assert out[txn.transaction_id] == assessment
        i += len(batch)
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_lambda_path_and_backtest_path_give_identical_scores(engine: FraudEngine) -> None:
    events = history()
    assert lambda_path(events, engine, DecimalStore()) == scores(events, engine)


def test_lambda_path_on_dynamodb_store_matches_backtest() -> None:
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("boto3.dynamodb.types")
    moto = pytest.importorskip("moto")
    store_module = pytest.importorskip("store.state_store")
    events = history(n=150)
    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="fraud-state-test", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        client.create_table(TableName="transactions-test", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "transaction_id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "transaction_id", "AttributeType": "S"}])
        serialize = boto3.dynamodb.types.TypeSerializer().serialize
        for txn, _ in events:  # the api handler stored them before the stream fired
            item = {**txn.to_item(), "status": "RECEIVED"}
            client.put_item(TableName="transactions-test", Item={k: serialize(v) for k, v in item.items()})
        store = store_module.DynamoDBStateStore("fraud-state-test", "transactions-test", dynamodb=client)
        assert lambda_path(events, ENGINES[1], store) == scores(events, ENGINES[1])


def test_replay_guards() -> None:
    events = history(n=20)
    with pytest.raises(ValueError, match="order"):
        scores(list(reversed(events)), ENGINES[0])
    with pytest.raises(ValueError):
        replay(events, ENGINES[0], lambda *a: None, label_delay_ms=-1)
    until = events[10][0].event_time
    seen = scores(events, ENGINES[0], until=until)
    assert all(events[k][0].transaction_id not in seen for k in range(len(events)) if events[k][0].event_time >= until)


def test_label_arriving_exactly_at_a_transaction_is_visible_to_it() -> None:
    fraud = make_txn(transaction_id="fraud-0001", event_time=T0, merchant="Shop X", card_fingerprint="1" * 64)
    probe = make_txn(transaction_id="probe-0001", event_time=T0 + DELAY, merchant="Shop X")
    early = make_txn(transaction_id="probe-0000", event_time=T0 + DELAY - 1, merchant="Shop X")
    out = scores([(fraud, True), (early, False), (probe, False)], ENGINES[0])
    assert out["probe-0000"].features["merch_fraud_30d"] == 0.0
    assert out["probe-0001"].features["merch_fraud_30d"] == 1.0
    assert isinstance(InMemoryStateStore(), InMemoryStateStore)
