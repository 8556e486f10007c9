#!/usr/bin/env python3
"""Scoring cost: µs per transaction of the full scoring path on a warm, single process.

    python -m bench.scoring_cost [--profile] [--batch-size 100]

`FraudEngine.from_config()` (rules + the bundled model, exactly what detection builds)
runs `assess_batch` over the simulated history (≥ 100k transactions, time order,
batches of the stream's batch size) against the in-memory store: features, rules,
model and the state updates, no I/O. The first batches also warm the process (imports,
allocator); they are few against 100k. The first 30k again, with and without the model,
split the model's share out. `--profile` adds the cProfile top functions (GC paused).

Prints JSON lines: scoring_us_per_txn (headline) and detail keys (gc_share: the part of the
headline the cyclic garbage collector took).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time
from typing import Any, Optional

from bench.common import emit, log
from bench.workload import History, history, replay_head

MIN_TXNS = 100_000


def split_us(hist: History, limit: int = 30_000, batch_size: int = 100) -> dict[str, float]:
    """Full path vs rules alone (no model) over the same first `limit` transactions, each on fresh state."""
    from fraud.engine import FraudEngine, InMemoryStateStore

    txns = [row.txn for row in hist.head[:limit]]
    out: dict[str, float] = {}
    for name, engine in (("full", FraudEngine.from_config()), ("rules_only", FraudEngine())):
        store = InMemoryStateStore()
        started = time.perf_counter()
        for start in range(0, len(txns), batch_size):
            engine.assess_batch(txns[start : start + batch_size], store)
        out[name] = round((time.perf_counter() - started) / len(txns) * 1e6, 1)
    return out


def model_only_us(hist: History, limit: int = 20_000) -> float:
    """The model's raw tree walk alone, on the feature vectors of real transactions."""
    from fraud import features as feature_math
    from fraud.engine import FraudEngine
    from fraud.state import EventState, MerchantState, merchant_hash

    engine = FraudEngine.from_config()
    model = engine.model
    if model is None:
        return 0.0
    vectors = []
    for row in hist.head[:limit]:
        txn = row.txn
        feats = feature_math.compute(txn, EventState(None, id_col=4), None, MerchantState(None),
                                     merchant_hash(txn.merchant), engine.rules)  # fmt: skip
        vectors.append(feats)
    started = time.perf_counter()
    for feats in vectors:
        model.predict(feats)
    return (time.perf_counter() - started) / len(vectors) * 1e6


def hotspots(hist: History, limit: int = 20_000, top: int = 12) -> list[dict[str, Any]]:
    """cProfile of the full path over `limit` transactions: the functions with the most own time.

    The cyclic GC is paused meanwhile: its pauses would be charged to whichever function
    happened to allocate (gc_share of the headline says how much it takes).
    """
    from fraud.engine import FraudEngine, InMemoryStateStore

    engine, store = FraudEngine.from_config(), InMemoryStateStore()
    txns = [row.txn for row in hist.head[:limit]]
    profile = cProfile.Profile()
    collecting = gc.isenabled()
    gc.disable()
    try:
        profile.enable()
        for start in range(0, len(txns), 100):
            engine.assess_batch(txns[start : start + 100], store)
        profile.disable()
    finally:
        if collecting:
            gc.enable()
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{path.split('lib/lambda/')[-1]}:{line}({name})", "calls": calls,
                     "own_share": round(own / total, 3), "cumulative_share": round(cumulative / total, 3)})  # fmt: skip
    rows.sort(key=lambda r: -r["own_share"])
    return rows[:top]


class GcClock:
    """Seconds the cyclic garbage collector ran while active (gc.callbacks), to split it out of a timing."""

    def __init__(self) -> None:
        self.seconds, self._started = 0.0, 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> "GcClock":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: Any) -> None:
        gc.callbacks.remove(self._callback)


def run(profile: bool = False, batch_size: int = 100) -> list[dict[str, Any]]:
    hist = history()
    count = len(hist.head) - hist.scored
    if count < MIN_TXNS:
        raise RuntimeError(f"the simulated history has only {count} transactions to score (need {MIN_TXNS})")
    log(f"scoring {count} simulated transactions in batches of {batch_size}")
    with GcClock() as collector:
        seconds = replay_head(hist, batch_size)
    docs = hist.store.documents
    headline = {
        "bench": "scoring_cost",
        "scoring_us_per_txn": round(seconds / count * 1e6, 1),
        "transactions": count,
        "batch_size": batch_size,
        "model": getattr(hist.engine.model, "version", None) if hist.engine else None,
        # Share of the headline spent in cyclic GC: it grows with everything the process keeps
        # (the simulated history, all state documents, every assessment), not with one batch.
        "gc_share": round(collector.seconds / seconds, 3),
        # Same 30k transactions, fresh state: the difference is the model's share.
        **{f"first_30k_{k}_us_per_txn": v for k, v in split_us(hist, batch_size=batch_size).items()},
        "model_predict_us_per_txn": round(model_only_us(hist), 1),
        "state_documents": {kind: sum(1 for k in docs if k.startswith(kind)) for kind in ("CARD#", "CUST#", "MERCH#")},
    }
    results = [emit(headline)]
    if profile:
        log("profiling 20k transactions")
        results.append(emit({"bench": "scoring_hotspots", "top_own_time": hotspots(hist)}))
    return results


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="add the cProfile hotspots")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    run(args.profile, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
