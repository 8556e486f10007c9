from __future__ import annotations

import copy
import random
import json
from decimal import Decimal
from typing import Any, Collection, Sequence

import pytest

from fraud.engine import FraudEngine, InMemoryStateStore, StateConflict, StateWrite
from fraud.models import Assessment, Transaction
from fraud.state import DAY_MS, EVENT_CAP, card_key, customer_key, merchant_key
from fraud_factories import T0, make_txn

ENGINE = FraudEngine()


def txns(n: int, step_ms: int = 60_000, **kw: Any) -> list[Transaction]:
    return [make_txn(transaction_id=f"txn-{i:08d}", event_time=T0 + i * step_ms, **kw) for i in range(n)]


class DecimalStore(InMemoryStateStore):
    """Stores documents as DynamoDB would hand them back: numbers as Decimal, fresh objects."""

    def load(self, keys: Collection[str]) -> dict[str, dict]:
        loaded = super().load(keys)
        return {k: json.loads(json.dumps(v), parse_int=Decimal) for k, v in loaded.items()}

    def commit(self, writes: Sequence[StateWrite], assessments: Sequence[tuple[Transaction, Assessment]]) -> None:
        for w in writes:
            assert_dynamo_safe(w.document)
        super().commit(writes, assessments)


def assert_dynamo_safe(value: Any) -> None:
    assert value is not None and not isinstance(value, float)
    if isinstance(value, dict):
        for v in value.values():
            assert_dynamo_safe(v)
    elif isinstance(value, list):
        for v in value:
            assert_dynamo_safe(v)


def test_results_in_input_order_and_state_written_once() -> None:
    store = InMemoryStateStore()
    batch = txns(3)
    results = ENGINE.assess_batch(list(reversed(batch)), store)
    assert [a.transaction_id for a in results] == [t.transaction_id for t in reversed(batch)]
    card = store.documents[card_key("f" * 64)]
    assert [e[4] for e in card["events"]] == [t.transaction_id for t in batch]
    assert card["version"] == 1 and store.commits == 1
    assert set(store.documents) == {card_key("f" * 64), customer_key("CUST1"), merchant_key("Corner Shop")}
    assert card["expires_at"] == (T0 + 2 * 60_000 + 33 * DAY_MS) // 1000  # 30 d horizon + 2 d replay slack + 1 d


def test_scored_in_event_time_order_regardless_of_input_order() -> None:
    forward = ENGINE.assess_batch(txns(5), InMemoryStateStore())
    backward = ENGINE.assess_batch(list(reversed(txns(5))), InMemoryStateStore())
    assert {a.transaction_id: a for a in forward} == {a.transaction_id: a for a in backward}


def test_replay_is_not_applied_and_scores_identically() -> None:
    store = InMemoryStateStore()
    batch = txns(4)
    first = ENGINE.assess_batch(batch, store)
    before = copy.deepcopy(store.documents)
    again = ENGINE.assess_batch([batch[2], batch[0]], store)
    assert again == [first[2], first[0]]
    assert store.documents == before


def test_replay_after_later_events_scores_identically() -> None:
    store = InMemoryStateStore()
    batch = txns(6)
    first = ENGINE.assess_batch(batch[:3], store)
    ENGINE.assess_batch(batch[3:], store)
    assert ENGINE.assess_batch([batch[1]], store) == [first[1]]


def test_duplicate_in_one_batch_is_applied_once() -> None:
    store = InMemoryStateStore()
    t = txns(1)[0]
    a, b = ENGINE.assess_batch([t, t], store)
    assert a == b
    assert len(store.documents[card_key("f" * 64)]["events"]) == 1
    assert list(store.assessments) == [t.transaction_id]


def test_decimal_store_gives_identical_scores() -> None:
    batch = txns(30, step_ms=97_000)
    assert ENGINE.assess_batch(batch, InMemoryStateStore()) == ENGINE.assess_batch(batch, DecimalStore())
    plain, dec = InMemoryStateStore(), DecimalStore()
    for t in batch:
        assert ENGINE.assess_batch([t], plain) == ENGINE.assess_batch([t], dec)


class ConflictingStore(InMemoryStateStore):
    """Lets a concurrent writer slip in before the first `conflicts` commits."""

    def __init__(self, conflicts: int, intruder: Transaction) -> None:
        super().__init__()
        self.conflicts, self.intruder, self.loads = conflicts, intruder, 0

    def load(self, keys: Collection[str]) -> dict[str, dict]:
        self.loads += 1
        return super().load(keys)

    def commit(self, writes: Sequence[StateWrite], assessments: Sequence[tuple[Transaction, Assessment]]) -> None:
        if self.conflicts:
            self.conflicts -= 1
            other = InMemoryStateStore()
            other.documents = self.documents
            ENGINE.assess_batch([self.intruder], other)
            self.intruder = make_txn(transaction_id=f"{self.intruder.transaction_id}x",
                                     event_time=self.intruder.event_time + 1)
        super().commit(writes, assessments)


def test_conflict_reloads_and_recomputes() -> None:
    intruder = make_txn(transaction_id="intruder1", event_time=T0 - 1000)
    store = ConflictingStore(2, intruder)
    mine = txns(2)
    ENGINE.assess_batch(mine, store)
    assert store.loads == 3
    ids = [e[4] for e in store.documents[card_key("f" * 64)]["events"]]
    assert ids == ["intruder1", "intruder1x", "txn-00000000", "txn-00000001"]
    assert store.documents[card_key("f" * 64)]["version"] == 3


def test_conflict_gives_up_after_max_attempts() -> None:
    store = ConflictingStore(10, make_txn(transaction_id="intruder1", event_time=T0 - 1000))
    with pytest.raises(StateConflict) as info:
        ENGINE.assess_batch(txns(1), store, max_attempts=3)
    assert store.loads == 3 and card_key("f" * 64) in info.value.keys


def test_in_memory_store_checks_versions() -> None:
    store = InMemoryStateStore()
    store.commit([StateWrite("K", {"version": 1}, None)], [])
    with pytest.raises(StateConflict):
        store.commit([StateWrite("K", {"version": 1}, None)], [])
    with pytest.raises(StateConflict):
        store.commit([StateWrite("K", {"version": 3}, 2), StateWrite("J", {"version": 1}, None)], [])
    assert "J" not in store.documents  # all or nothing
    store.commit([StateWrite("K", {"version": 2}, 1)], [])


def test_history_is_bounded_by_count_and_age() -> None:
    store = InMemoryStateStore()
    ENGINE.assess_batch(txns(EVENT_CAP + 50, step_ms=1000), store)
    assert len(store.documents[card_key("f" * 64)]["events"]) == EVENT_CAP
    late = make_txn(transaction_id="late-0001", event_time=T0 + 32 * DAY_MS + 250_000)
    ENGINE.assess_batch([late], store)
    assert [e[4] for e in store.documents[card_key("f" * 64)]["events"]] == ["late-0001"]
    assert [e[2] for e in store.documents[customer_key("CUST1")]["events"]] == ["late-0001"]


def test_state_documents_are_dynamodb_safe() -> None:
    store = DecimalStore()
    ENGINE.assess_batch(txns(5) + [make_txn(transaction_id="nocust01", customer_id=None)], store)
    ENGINE.record_label(txns(1)[0], "fraud", T0 + DAY_MS, store)


def test_engine_never_mutates_loaded_documents() -> None:
    store = InMemoryStateStore()
    ENGINE.assess_batch(txns(3), store)
    snapshot = copy.deepcopy(store.documents)
    shared = {k: v for k, v in store.documents.items()}
    ENGINE.assess_batch(txns(6)[3:], store)
    assert shared == snapshot  # the old document objects are untouched


def test_record_label_is_idempotent_and_reversible() -> None:
    store = InMemoryStateStore()
    t = txns(1)[0]
    ENGINE.assess_batch([t], store)
    assert ENGINE.record_label(t, "fraud", T0 + DAY_MS, store) is True
    card, merch = card_key("f" * 64), merchant_key("Corner Shop")
    assert store.documents[card]["labels"] == [[t.transaction_id, T0, T0 + DAY_MS]]
    assert store.documents[merch]["labels"] == [[t.transaction_id, T0, T0 + DAY_MS]]
    versions = (store.documents[card]["version"], store.documents[merch]["version"])
    assert ENGINE.record_label(t, "fraud", T0 + 2 * DAY_MS, store) is False
    assert (store.documents[card]["version"], store.documents[merch]["version"]) == versions
    assert ENGINE.record_label(t, "legitimate", T0 + 3 * DAY_MS, store) is True
    assert store.documents[card]["labels"] == [] and store.documents[merch]["labels"] == []
    assert ENGINE.record_label(t, "legitimate", T0 + 3 * DAY_MS, store) is False
    with pytest.raises(ValueError):
        ENGINE.record_label(t, "maybe", T0, store)


def test_label_for_unseen_transaction_creates_state() -> None:
    store = InMemoryStateStore()
    assert ENGINE.record_label(make_txn(), "fraud", T0, store) is True
    assert store.documents[card_key("f" * 64)]["events"] == []


def test_empty_batch_and_bad_attempts() -> None:
    assert ENGINE.assess_batch([], InMemoryStateStore()) == []
    with pytest.raises(ValueError):
        ENGINE.assess_batch(txns(1), InMemoryStateStore(), max_attempts=0)


class BumpingStore(InMemoryStateStore):
    """Every third commit, someone else first rewrites a document (same content, new version and lists)."""

    def commit(self, writes: Sequence[StateWrite], assessments: Sequence[tuple[Transaction, Assessment]]) -> None:
        self.attempts = getattr(self, "attempts", 0) + 1
        if self.attempts % 3 == 0 and writes and writes[0].key in self.documents:
            doc = copy.deepcopy(self.documents[writes[0].key])
            self.documents[writes[0].key] = {**doc, "version": doc["version"] + 1}
        super().commit(writes, assessments)


def test_cached_columns_score_like_freshly_loaded_documents() -> None:
    """Out-of-order events, ties, replays, the history cap and 32-day trim, labels and conflicts:
    a store that keeps the engine's columns scores exactly like one handing out fresh documents."""
    rng = random.Random(4)
    history = [make_txn(transaction_id=f"r{i:05d}", event_time=T0 + rng.choice([0, rng.randrange(40 * DAY_MS)]),
                        card_fingerprint=rng.choice("ab") * 64, customer_id=rng.choice(["C1", "C2", None]),
                        merchant=rng.choice(["M1", "M2", "M3"]), country=rng.choice(["US", "NG", ""]),
                        amount=f"{rng.randrange(1, 3000)}.{rng.randrange(100):02d}")
               for i in range(600)]
    cached, fresh = BumpingStore(), DecimalStore()
    done: list[Transaction] = []
    while history:
        batch = [history.pop() for _ in range(min(len(history), rng.randrange(1, 40)))]
        batch += rng.sample(done, min(len(done), rng.randrange(0, 4)))  # re-deliveries
        assert ENGINE.assess_batch(batch, cached) == ENGINE.assess_batch(batch, fresh)
        done += batch
        if rng.random() < 0.3:
            labelled = rng.choice(done)
            label, at = rng.choice(["fraud", "legitimate"]), labelled.event_time + DAY_MS
            assert ENGINE.record_label(labelled, label, at, cached) == ENGINE.record_label(labelled, label, at, fresh)
    assert cached.derived and cached.attempts > cached.commits  # the cache was used, conflicts happened
