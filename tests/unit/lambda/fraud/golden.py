"""Behaviour fingerprint of the scoring path over a simulated history (golden check).

Every transaction of a `scripts/simulate.py` history is replayed through
`FraudEngine.from_config()` with late fraud labels (fraud.replay, as the
backtest does), then a tail of already-applied transactions is delivered again
(replays, duplicates within a batch). Each assessment becomes one record:
id, risk_score, decision, reasons (code, description, contribution),
model_version, feature names and values (repr: floats compared exactly, types too).

    python tests/unit/lambda/fraud/golden.py fixture          # rewrite the committed fixture
    python tests/unit/lambda/fraud/golden.py dump OUT [--customers 2000 --days 45 --seed 7] [--decimal]
    python tests/unit/lambda/fraud/golden.py compare A B      # two dumps: first difference, or OK

`dump` of the same history from two checkouts (copy this file into the other
one) and `compare` is the full-history equivalence check; the unit test
compares a small history against the committed fixture's digests.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
FIXTURE = HERE / "data" / "golden.json"
SMALL = {"customers": 160, "merchants": 40, "days": 18, "seed": 11, "fraud_scale": 3.0}
LABEL_DELAY_MS = 86_400_000


def _paths() -> None:
    for path in (str(REPO / "lib" / "lambda"), str(REPO / "scripts")):
        if path not in sys.path:
            sys.path.insert(0, path)


def events(customers: int, days: int, seed: int, merchants: int = 300, fraud_scale: float = 1.0) -> list:
    """(Transaction, is_fraud) in (event_time, transaction_id) order, fingerprinted as the backtest does."""
    _paths()
    import backtest
    import simulate

    args = simulate.parse_args(["--out", "-", "--customers", str(customers), "--merchants", str(merchants),
                                "--days", str(days), "--seed", str(seed), "--fraud-scale", str(fraud_scale)])
    loader = backtest.Loader()
    out = []
    for seq, (ts, customer, pan, merchant, cents, location, fraud) in enumerate(simulate.Simulator(args).run()):
        cells = {"transaction_id": f"T{seq:09d}", "timestamp": simulate.iso(ts), "customer_id": customer,
                 "card_number": pan, "merchant": merchant, "amount": f"{cents // 100}.{cents % 100:02d}",
                 "location": location, "is_fraud": str(fraud)}
        out.append((loader.row(seq + 2, cells), bool(fraud)))
    out.sort(key=lambda e: (e[0].event_time, e[0].transaction_id))
    return out


def _decimal_store() -> Any:
    from decimal import Decimal

    from fraud.engine import InMemoryStateStore

    class DecimalStore(InMemoryStateStore):
        """Numbers come back as Decimal in fresh objects, as DynamoDB hands them out."""

        def load(self, keys: Any) -> dict:
            loaded = super().load(keys)
            return {k: json.loads(json.dumps(v), parse_int=Decimal) for k, v in loaded.items()}

    return DecimalStore()


def records(history: list, decimal: bool = False, batch_size: int = 100) -> Iterator[list]:
    """One record per assessment, in scoring order (the replay, then the re-deliveries)."""
    _paths()
    from fraud.engine import FraudEngine, InMemoryStateStore
    from fraud.replay import replay

    engine = FraudEngine.from_config()
    store = _decimal_store() if decimal else InMemoryStateStore()
    scored: list = []
    replay(history, engine, lambda t, a, f: scored.append(a), label_delay_ms=LABEL_DELAY_MS, store=store,
           batch_size=batch_size)
    yield from (_record(a) for a in scored)
    # Re-deliveries: the last 300 again, shuffled into batches of 50 with in-batch duplicates.
    tail = [txn for txn, _ in history[-300:]]
    tail = tail[::-1]
    for start in range(0, len(tail), 50):
        batch = tail[start:start + 50]
        batch = batch + batch[:5]
        yield from (_record(a) for a in engine.assess_batch(batch, store))


def _record(a: Any) -> list:
    """Features by name in FEATURE_NAMES order (the mapping's own iteration order is not pinned)."""
    from fraud.features import FEATURE_NAMES

    feats = a.features
    return [a.transaction_id, a.risk_score, a.decision, [[r.code, r.description, r.contribution] for r in a.reasons],
            a.model_version, sorted(feats.keys()), [repr(feats[name]) for name in FEATURE_NAMES]]


def digest(record: list) -> str:
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()[:16]


def small_history() -> list:
    return events(**SMALL)


def write_fixture() -> None:
    history = small_history()
    rows = [digest(r) for r in records(history)]
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps({"history": SMALL, "label_delay_ms": LABEL_DELAY_MS, "records": len(rows),
                                   "digests": rows}, indent=0) + "\n")
    print(f"{FIXTURE}: {len(rows)} records")


def compare(path_a: str, path_b: str, rel: float = 0.0) -> int:
    with gzip.open(path_a, "rt") as a, gzip.open(path_b, "rt") as b:
        count = 0
        for line_a, line_b in zip(a, b):
            count += 1
            if line_a == line_b:
                continue
            ra, rb = json.loads(line_a), json.loads(line_b)
            if ra[:6] != rb[:6] or not all(_close(float(x), float(y), rel) for x, y in zip(ra[6], rb[6])):
                print(f"record {count} differs:\n  {ra}\n  {rb}")
                return 1
        if next(a, None) is not None or next(b, None) is not None:
            print("different record counts")
            return 1
    print(f"OK: {count} records identical" + (f" (features within {rel} relative)" if rel else ""))
    return 0


def _close(x: float, y: float, rel: float) -> bool:
    return x == y or abs(x - y) <= rel * max(abs(x), abs(y))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fixture")
    dump = sub.add_parser("dump")
    dump.add_argument("out")
    dump.add_argument("--customers", type=int, default=2000)
    dump.add_argument("--days", type=int, default=45)
    dump.add_argument("--seed", type=int, default=7)
    dump.add_argument("--decimal", action="store_true", help="a store that hands out Decimal copies (DynamoDB)")
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    cmp_.add_argument("--rel", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.cmd == "fixture":
        write_fixture()
        return 0
    if args.cmd == "compare":
        return compare(args.a, args.b, args.rel)
    history = events(args.customers, args.days, args.seed)
    with gzip.open(args.out, "wt") as out:
        for record in records(history, decimal=args.decimal):
            out.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
