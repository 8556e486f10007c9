"""The benches' traffic: scripts/simulate.py's generator, replayed through the production engine.

One simulated history serves two benches: the scoring bench times the engine over its
first ≥ 100k transactions (leaving realistic 30-day state behind: card histories,
merchant hour columns), and the AWS-calls bench sends the last 1,000 normal transactions
through the real API handler on top of that state, so DynamoDB items have the sizes they
would have in steady operation rather than the tiny ones of an empty table.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Optional

from bench.common import add_paths

add_paths()

import backtest  # noqa: E402  (scripts/)
import simulate  # noqa: E402  (scripts/)
from fraud.engine import FraudEngine, InMemoryStateStore  # noqa: E402
from fraud.models import Transaction  # noqa: E402

DAY_MS = 86_400_000
TAIL = 1_000  # transactions kept back for the API / AWS-calls bench
# The API gives transactions UUIDs; card histories hold them, so the history uses UUIDs too
# (sizes of state documents, and so DynamoDB write units, depend on it).
_ID_NAMESPACE = uuid.UUID("6f1c1d1e-5b1a-4c55-8a0e-0d6b3f0b9a11")
HIGH_RISK = ("Lagos, Nigeria", "Tehran, Iran", "Yangon, Myanmar", "Kabul, Afghanistan")


@dataclass(frozen=True)
class Row:
    """One simulated transaction as a client would send it (PAN included)."""

    txn: Transaction  # fingerprinted with the backtest key (the in-memory history's keys)
    pan: str
    fraud: bool


@dataclass
class History:
    rows: list[Row]  # time order
    scored: int = 0  # how many of `rows` the engine has applied to `store`
    store: InMemoryStateStore = field(default_factory=InMemoryStateStore)
    engine: Optional[FraudEngine] = None

    @property
    def head(self) -> list[Row]:
        return self.rows[: len(self.rows) - TAIL]

    @property
    def tail(self) -> list[Row]:
        return self.rows[len(self.rows) - TAIL :]


def simulate_rows(customers: int = 2000, days: int = 45, seed: int = 7, end_ms: Optional[int] = None) -> list[Row]:
    """Simulated traffic, shifted so the last transaction happens at `end_ms` (default: a minute ago)."""
    args = simulate.parse_args(["--out", "-", "--customers", str(customers), "--days", str(days), "--seed", str(seed)])
    raw = simulate.Simulator(args).run()
    end = end_ms if end_ms is not None else int(time.time() * 1000) - 60_000
    shift = end - raw[-1][0]
    loader = backtest.Loader()
    rows: list[Row] = []
    for seq, (ts, customer, pan, merchant, cents, location, fraud) in enumerate(raw):
        cells = {"transaction_id": str(uuid.uuid5(_ID_NAMESPACE, str(seq))), "timestamp": simulate.iso(ts + shift), "customer_id": customer,
                 "card_number": pan, "merchant": merchant, "amount": f"{cents // 100}.{cents % 100:02d}",
                 "location": location, "is_fraud": str(fraud)}  # fmt: skip
        rows.append(Row(loader.row(seq + 2, cells), pan, bool(fraud)))
    return rows


_CACHE: dict[tuple[int, int, int], History] = {}


def history(customers: int = 2000, days: int = 45, seed: int = 7) -> History:
    """The shared history of this process (simulated once)."""
    key = (customers, days, seed)
    if key not in _CACHE:
        _CACHE[key] = History(simulate_rows(customers, days, seed))
    return _CACHE[key]


def replay_head(hist: History, batch_size: int = 100) -> float:
    """Score the head of the history (if not done yet); returns the seconds the engine took."""
    if hist.engine is None:
        hist.engine = FraudEngine.from_config()
    txns = [row.txn for row in hist.head[hist.scored :]]
    started = time.perf_counter()
    for start in range(0, len(txns), batch_size):
        hist.engine.assess_batch(txns[start : start + batch_size], hist.store)
    elapsed = time.perf_counter() - started
    hist.scored += len(txns)
    return elapsed


def api_body(row: Row) -> dict[str, Any]:
    """The POST /transactions body for a simulated row (online merchants have no location: say so)."""
    txn = row.txn
    body: dict[str, Any] = {"amount": str(txn.amount), "merchant": txn.merchant, "card_number": row.pan,
                            "location": txn.location or "online", "timestamp": txn.event_time}  # fmt: skip
    if txn.customer_id:
        body["customer_id"] = txn.customer_id
    return body


def alerting_body(index: int, event_time: int) -> dict[str, Any]:
    """A transaction the rules flag for sure: fresh card, large amount, high-risk location."""
    pan = simulate.luhn_complete(f"4{index:014d}"[:15])
    return {"amount": str(Decimal(12_000 + 37 * index)), "merchant": f"Unknown Store {index}", "card_number": pan,
            "location": HIGH_RISK[index % len(HIGH_RISK)], "timestamp": event_time}  # fmt: skip


def controlled_traffic(hist: History, count: int = TAIL, flagged_share: float = 0.01) -> list[dict[str, Any]]:
    """`count` API bodies: the tail's normal transactions with every 1/share-th replaced by an alerting one."""
    normal = [row for row in hist.tail if not row.fraud]
    every = max(1, round(1 / flagged_share)) if flagged_share > 0 else 0
    bodies = []
    for index, row in enumerate(normal[:count]):
        if every and index % every == every // 2:
            bodies.append(alerting_body(index, row.txn.event_time))
        else:
            bodies.append(api_body(row))
    return bodies
