"""Replay history through the engine with late labels (backtest and training).

Transactions are scored in (event_time, transaction_id) order by the same
`FraudEngine.assess_batch` the Lambda calls, against an in-memory store. A
label becomes known `label_delay_ms` after its transaction: it is recorded
with `labelled_at = event_time + delay` before any transaction at or after
that moment is scored, and never earlier -- so no score can see a label that
had not yet arrived, nor its own. Consecutive transactions with no label
arrival between them are scored in one batch (identical to one by one,
because the engine scores a batch in time order on evolving state).
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Optional

from .engine import FraudEngine, InMemoryStateStore, StateStore
from .models import Assessment, Transaction

OnScored = Callable[[Transaction, Assessment, bool], None]


def replay(
    events: Iterable[tuple[Transaction, bool]],
    engine: FraudEngine,
    on_scored: OnScored,
    *,
    label_delay_ms: int,
    store: Optional[StateStore] = None,
    batch_size: int = 256,
    until: Optional[int] = None,
) -> StateStore:
    """Score `events` (already sorted by event_time, transaction_id); return the final store.

    `until` (epoch ms, exclusive) stops the replay at the first transaction at
    or after it. Only `fraud` labels are fed back: a `legitimate` label would
    change no state (see FraudEngine.record_label).
    """
    if label_delay_ms < 0:
        raise ValueError("label_delay_ms must be >= 0")
    state = store if store is not None else InMemoryStateStore()
    pending: deque[tuple[int, Transaction]] = deque()  # FIFO: arrival times grow with event times
    batch: list[tuple[Transaction, bool]] = []

    def flush() -> None:
        if batch:
            assessments = engine.assess_batch([txn for txn, _ in batch], state)
            for (txn, fraud), assessment in zip(batch, assessments):
                on_scored(txn, assessment, fraud)
            batch.clear()

    last: Optional[tuple[int, str]] = None
    for txn, fraud in events:
        key = (txn.event_time, txn.transaction_id)
        if last is not None and key < last:
            raise ValueError(f"events out of order at {txn.transaction_id}")
        last = key
        if until is not None and txn.event_time >= until:
            break
        if pending and pending[0][0] <= txn.event_time:
            flush()  # earlier transactions were scored before these labels arrived
            while pending and pending[0][0] <= txn.event_time:
                arrival, labelled = pending.popleft()
                engine.record_label(labelled, "fraud", arrival, state)
        batch.append((txn, fraud))
        if fraud:
            pending.append((txn.event_time + label_delay_ms, txn))
        if len(batch) >= batch_size:
            flush()
    flush()
    return state
