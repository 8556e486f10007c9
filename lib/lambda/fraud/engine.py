"""The one scoring code path: the Lambda, the backtest and training all call it.

`FraudEngine.assess_batch` loads every state document the batch needs in one
`store.load`, scores in event-time order (ties by transaction id) while
updating the state in memory, then hands all writes and assessments to one
`store.commit`. A `StateConflict` (another writer moved a document on) makes
it reload and recompute, at most `max_attempts` times.

Replays: a transaction already in its card's history is not applied again
(no write for it) and, because features only look at events strictly before
it, its recomputed assessment is identical to the first one.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Collection, Optional, Protocol, Sequence

from . import features as feature_math
from .features import Features
from .models import Assessment, Transaction
from .rules_config import RulesConfig
from .scoring import Model, Scorer
from .state import EventState, MerchantState, card_key, customer_key, merchant_hash, merchant_key

LABELS = ("fraud", "legitimate")


class StateConflict(Exception):
    """A conditional write failed: `keys` were changed by someone else since they were loaded."""

    def __init__(self, keys: Collection[str]) -> None:
        self.keys = frozenset(keys)
        super().__init__(f"state changed concurrently: {sorted(self.keys)}")


@dataclass(frozen=True)
class StateWrite:
    key: str
    document: dict
    expected_version: Optional[int]  # None: the document must not exist yet


class StateStore(Protocol):
    def load(self, keys: Collection[str]) -> dict[str, dict]:
        """Documents by key; missing keys are absent. The engine never mutates them."""
        ...

    def commit(self, writes: Sequence[StateWrite], assessments: Sequence[tuple[Transaction, Assessment]]) -> None:
        """Apply all writes atomically (each conditional on its expected version) or raise StateConflict."""
        ...


class InMemoryStateStore:
    """The backtest/training store; same semantics as the DynamoDB one, minus the network.

    `derived` lets the engine keep, per key, the state (with the columns it derived
    from the rows; never part of a document) of a document it wrote here; a state is
    reused only while its rows are still the stored ones (see EventState.reload).
    """

    def __init__(self) -> None:
        self.documents: dict[str, dict] = {}
        self.assessments: dict[str, Assessment] = {}
        self.commits = 0
        self.derived: dict[str, Any] = {}

    def load(self, keys: Collection[str]) -> dict[str, dict]:
        docs = self.documents
        return {key: docs[key] for key in keys if key in docs}

    def commit(self, writes: Sequence[StateWrite], assessments: Sequence[tuple[Transaction, Assessment]]) -> None:
        docs = self.documents
        stale = [
            w.key for w in writes
            if (docs[w.key]["version"] if w.key in docs else None) != w.expected_version
        ]
        if stale:
            raise StateConflict(stale)
        for write in writes:
            docs[write.key] = write.document
        for txn, assessment in assessments:
            self.assessments[txn.transaction_id] = assessment
        self.commits += 1


def _version(doc: Optional[dict]) -> Optional[int]:
    return None if doc is None else int(doc["version"])


@lru_cache(maxsize=8192)  # merchants repeat heavily: normalise once per name
def _merchant(merchant: str) -> tuple[str, int]:
    return merchant_key(merchant), merchant_hash(merchant)


def _keys(txn: Transaction) -> tuple[str, tuple[str, int], Optional[str]]:
    """(card key, (merchant key, merchant hash), customer key or None): `keys_for`, plus the hash."""
    return (card_key(txn.card_fingerprint), _merchant(txn.merchant),
            customer_key(txn.customer_id) if txn.customer_id else None)


def _after(a: Transaction, b: Transaction) -> bool:
    return (a.event_time, a.transaction_id) > (b.event_time, b.transaction_id)


def _nothing(key: str, default: None) -> None:
    return None


def _event_state(group: dict[str, EventState], key: str, docs: dict[str, dict], cached: Any, id_col: int) -> EventState:
    """A batch's first use of a card or customer: the committed state if still current, else from the document."""
    state = cached(key, None)
    if state is None or not state.reload(docs.get(key)):
        state = EventState(docs.get(key), id_col)
    group[key] = state
    return state


class FraudEngine:
    def __init__(self, rules: Optional[RulesConfig] = None, model: Optional[Model] = None) -> None:
        self.rules = rules if rules is not None else RulesConfig.load()
        self.model = model
        self._prepared: Optional[Scorer] = None  # rebuilt if `rules` or `model` is replaced

    @classmethod
    def from_config(cls, rules: Optional[RulesConfig] = None) -> "FraudEngine":
        """Rules plus the model artifact the rules config names (`model.artifact`), as deployed."""
        config = rules if rules is not None else RulesConfig.load()
        if not config.model_artifact:
            return cls(config)
        from .model import MODELS_DIR, load_model  # only engines that use a model pay for it

        return cls(config, load_model(MODELS_DIR / config.model_artifact))

    def keys_for(self, txn: Transaction) -> list[str]:
        keys = [card_key(txn.card_fingerprint), merchant_key(txn.merchant)]
        if txn.customer_id:
            keys.append(customer_key(txn.customer_id))
        return keys

    def assess_batch(self, txns: Sequence[Transaction], store: StateStore, max_attempts: int = 5) -> list[Assessment]:
        """Assessments in the order of `txns`; state writes for newly seen transactions only."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not txns:
            return []
        keyed = [_keys(txn) for txn in txns]
        keys = {key for ck, (mk, _), uk in keyed for key in (ck, mk, uk) if key is not None}
        # States a store keeps for the engine: taken out while a batch changes them
        # in place, put back once their rows are committed (dropped on a conflict).
        derived = getattr(store, "derived", None)
        for attempt in range(1, max_attempts + 1):
            docs = store.load(keys)
            results, writes, recorded, states = self._run(txns, keyed, docs, derived)
            try:
                store.commit(writes, recorded)
            except StateConflict:
                if attempt == max_attempts:
                    raise
                continue
            if derived is not None:
                derived.update(states)
            return results
        raise AssertionError("unreachable")

    def _scorer(self) -> Scorer:
        scorer = self._prepared
        if scorer is None or scorer.rules is not self.rules or scorer.model is not self.model:
            scorer = self._prepared = Scorer(self.rules, self.model)
        return scorer

    def _run(
        self, txns: Sequence[Transaction], keyed: list, docs: dict[str, dict], derived: Optional[dict[str, EventState]]
    ) -> tuple[list[Assessment], list[StateWrite], list[tuple[Transaction, Assessment]], dict[str, EventState]]:
        cached = derived.pop if derived is not None else _nothing
        rules = self.rules
        scorer = self._scorer()
        small_cents = int(rules.small_amount * 100)
        burst_ms, change_ms = rules.burst_window_ms, rules.country_change_window_ms
        vector = feature_math.vector
        cards: dict[str, EventState] = {}
        customers: dict[str, EventState] = {}
        merchants: dict[str, MerchantState] = {}
        results: list[Any] = [None] * len(txns)
        order = range(len(txns))
        if any(_after(txns[i], txns[i + 1]) for i in range(len(txns) - 1)):
            order = sorted(order, key=lambda i: (txns[i].event_time, txns[i].transaction_id))
        for i in order:
            txn = txns[i]
            ck, (mk, mhash), uk = keyed[i]
            card = cards.get(ck) or _event_state(cards, ck, docs, cached, 4)
            merch = merchants.get(mk)
            if merch is None:
                merch = merchants[mk] = MerchantState(docs.get(mk))
            cust = None
            if uk is not None:
                cust = customers.get(uk) or _event_state(customers, uk, docs, cached, 2)
            t, own = txn.event_time, txn.transaction_id
            cents = int(txn.amount * 100)
            end = card.prior(t, own)
            cust_end = cust.prior(t, own) if cust is not None else 0
            feats = Features(vector(txn, cents, card, end, cust, cust_end, merch, mhash, small_cents, burst_ms,
                                    change_ms))
            results[i] = scorer(txn, feats)
            if card.applied_at(end, t, own):
                continue  # replay: already applied, not applied again
            card.insert(end, [t, cents, mhash, txn.country, own])
            if cust is not None:
                cust.insert(cust_end, [t, cents, own])
            merch.add(t)
        writes = [
            StateWrite(key, state.to_document(), _version(docs.get(key)))
            for group in (cards, customers, merchants)
            for key, state in group.items()
            if state.changed
        ]
        seen: set[str] = set()
        recorded = []
        for txn, assessment in zip(txns, results):
            if txn.transaction_id not in seen:  # one write per transaction item, even if delivered twice
                seen.add(txn.transaction_id)
                recorded.append((txn, assessment))
        return results, writes, recorded, {**cards, **customers}

    def record_label(
        self, transaction: Transaction, label: str, labelled_at: int, store: StateStore, max_attempts: int = 5
    ) -> bool:
        """Record a confirmed label in the card and merchant state; False when nothing changed.

        Idempotent: the same label again writes nothing. Only `fraud` labels are
        kept (features count confirmed fraud); `legitimate` withdraws an earlier
        `fraud` label for the same transaction.
        """
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {label!r}")
        keys = [card_key(transaction.card_fingerprint), merchant_key(transaction.merchant)]
        for attempt in range(1, max_attempts + 1):
            docs = store.load(keys)
            card = EventState(docs.get(keys[0]), id_col=4)
            merch = MerchantState(docs.get(keys[1]))
            fraud = label == "fraud"
            for state in (card, merch):
                state.set_label(transaction.transaction_id, transaction.event_time, labelled_at, fraud)
            writes = [
                StateWrite(key, state.to_document(), _version(docs.get(key)))
                for key, state in zip(keys, (card, merch))
                if state.changed
            ]
            if not writes:
                return False
            try:
                store.commit(writes, ())
                return True
            except StateConflict:
                if attempt == max_attempts:
                    raise
        raise AssertionError("unreachable")
