#!/usr/bin/env python3
"""Replay a labelled CSV through the production scoring code and measure it.

    python scripts/backtest.py --data sim.csv [--model MODEL.json] [--rules RULES.json] \\
        --label-delay-days 7 --eval-from 2024-02-01 --eval-to 2024-02-29 \\
        --scores-out scores.csv --report report.json

Every transaction before --eval-to is replayed in time order through
`fraud.engine.FraudEngine` (the Lambda's engine) with an in-memory store;
each fraud label is fed back --label-delay-days after its transaction.
Metrics cover transactions whose time falls in [--eval-from 00:00 UTC,
--eval-to + 1 day 00:00 UTC); earlier ones only build state. Without
--model the score is rules-only. Dates are UTC days, both inclusive.

CSV: transaction_id,timestamp,customer_id,card_number,merchant,amount,location,
is_fraud (extra columns ignored; timestamps ISO-8601, UTC if no offset).
Bad rows are reported with their line numbers and skipped.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "lib" / "lambda"))

from fraud.cards import fingerprint, luhn_valid  # noqa: E402
from fraud.engine import FraudEngine  # noqa: E402
from fraud.model import load_model  # noqa: E402
from fraud.models import Assessment, Transaction  # noqa: E402
from fraud.reference import country_of  # noqa: E402
from fraud.rules_config import RulesConfig  # noqa: E402
from fraud.replay import replay  # noqa: E402

DAY_MS = 86_400_000
REQUIRED = ("transaction_id", "timestamp", "customer_id", "card_number", "merchant", "amount", "location", "is_fraud")
# Offline data is not a secret: a fixed key keeps fingerprints stable between runs.
BACKTEST_KEY = b"backtest-fingerprint-key-not-secret"
_CENT = Decimal("0.01")


class BadRow(ValueError):
    pass


class Loader:
    """CSV rows -> (Transaction, is_fraud), with bad rows collected as (line, reason)."""

    def __init__(self) -> None:
        self.bad: list[tuple[int, str]] = []
        self._cards: dict[str, tuple[str, bool]] = {}
        self._seen: set[str] = set()

    def row(self, line: int, get: dict[str, str]) -> Transaction:
        txn_id = get["transaction_id"].strip()
        if not txn_id or len(txn_id) > 64:
            raise BadRow("transaction_id: must be 1-64 characters")
        if txn_id in self._seen:
            raise BadRow(f"transaction_id: duplicate {txn_id}")
        try:
            moment = datetime.fromisoformat(get["timestamp"].strip())
        except ValueError:
            raise BadRow("timestamp: not ISO-8601") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        pan = get["card_number"].replace(" ", "").replace("-", "")
        if not (13 <= len(pan) <= 19 and pan.isdigit() and pan.isascii()):
            raise BadRow("card_number: must be 13-19 digits")
        try:
            amount = Decimal(get["amount"].strip())
        except InvalidOperation:
            raise BadRow("amount: not a number") from None
        if not amount.is_finite() or amount <= 0 or amount > 10**9 or amount != amount.quantize(_CENT):
            raise BadRow("amount: must be positive with at most 2 decimals")
        merchant = get["merchant"].strip()
        if not merchant:
            raise BadRow("merchant: empty")
        if get["is_fraud"].strip() not in ("0", "1"):
            raise BadRow("is_fraud: must be 0 or 1")
        card = self._cards.get(pan)
        if card is None:
            card = self._cards[pan] = (fingerprint(pan, BACKTEST_KEY), luhn_valid(pan))
        ms = int(moment.timestamp() * 1000)
        location = get["location"].strip()
        self._seen.add(txn_id)
        return Transaction(
            transaction_id=txn_id, event_time=ms, received_at=ms, amount=amount.quantize(_CENT), currency="USD",
            merchant=merchant, location=location, country=country_of(location) if location else "",
            customer_id=get["customer_id"].strip() or None, card_fingerprint=card[0],
            card_last4=pan[-4:], card_bin=pan[:6], card_luhn_valid=card[1],
        )


def load(path: str, *, quiet: bool = False) -> tuple[list[tuple[Transaction, bool]], list[tuple[int, str]]]:
    """Read and sort a CSV; returns (events in time order, bad rows)."""
    loader = Loader()
    events: list[tuple[Transaction, bool]] = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise SystemExit(f"{path}: empty file")
        names = [h.strip() for h in header]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise SystemExit(f"{path}: missing columns {missing}")
        index = {c: names.index(c) for c in REQUIRED}
        for line, cells in enumerate(reader, start=2):
            try:
                if len(cells) < len(names):
                    raise BadRow(f"expected {len(names)} columns, got {len(cells)}")
                txn = loader.row(line, {c: cells[i] for c, i in index.items()})
                events.append((txn, cells[index["is_fraud"]].strip() == "1"))
            except BadRow as exc:
                loader.bad.append((line, str(exc)))
    for line, reason in loader.bad[:20]:
        print(f"{path}:{line}: bad row: {reason}", file=sys.stderr)
    if len(loader.bad) > 20:
        print(f"{path}: ... and {len(loader.bad) - 20} more bad rows", file=sys.stderr)
    events.sort(key=lambda e: (e[0].event_time, e[0].transaction_id))
    return events, loader.bad


def day_start(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def auc_roc(scores: Sequence[float], labels: Sequence[bool]) -> Optional[float]:
    """Mann-Whitney U with average ranks for ties."""
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average = (i + j) / 2 + 1
        rank_sum += average * sum(1 for k in range(i, j + 1) if labels[order[k]])
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def average_precision(scores: Sequence[float], labels: Sequence[bool]) -> Optional[float]:
    """sum over distinct thresholds of (recall step) x precision, as sklearn defines it."""
    pos = sum(labels)
    if not pos:
        return None
    by_score: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    for s, y in zip(scores, labels):
        by_score[s][0] += 1
        by_score[s][1] += int(y)
    seen = hits = 0
    ap = 0.0
    for s in sorted(by_score, reverse=True):
        n, k = by_score[s]
        seen += n
        hits += k
        ap += (k / pos) * (hits / seen)
    return ap


def card_precision_at_k(rows: Iterable[tuple[int, str, float, bool]], k: int = 100) -> Optional[float]:
    """Mean over days of the share of compromised cards among the day's k highest-scored cards."""
    days: dict[int, dict[str, list]] = defaultdict(dict)
    for t, card, s, y in rows:
        entry = days[t // DAY_MS].setdefault(card, [0.0, False])
        entry[0] = max(entry[0], s)
        entry[1] = entry[1] or y
    if not days:
        return None
    values = []
    for cards in days.values():
        top = sorted(cards.values(), key=lambda e: -e[0])[:k]
        values.append(sum(1 for e in top if e[1]) / len(top))
    return sum(values) / len(values)


def at_threshold(scores: Sequence[int], labels: Sequence[bool], threshold: int) -> dict[str, Any]:
    flagged = [y for s, y in zip(scores, labels) if s >= threshold]
    tp, pos = sum(flagged), sum(labels)
    return {"threshold": threshold, "flagged": len(flagged), "true_positives": tp,
            "precision": tp / len(flagged) if flagged else None, "recall": tp / pos if pos else None}


class Collector:
    def __init__(self, start: int, end: int, scores_out: Optional[str]) -> None:
        self.start, self.end = start, end
        self.ids: list[str] = []
        self.scores: list[int] = []
        self.labels: list[bool] = []
        self.cards: list[tuple[int, str, float, bool]] = []
        self.reasons: Counter[str] = Counter()
        self.reason_frauds: Counter[str] = Counter()
        self.replayed = 0
        self.model_version = ""

    def __call__(self, txn: Transaction, assessment: Assessment, fraud: bool) -> None:
        self.replayed += 1
        if not self.start <= txn.event_time < self.end:
            return
        self.ids.append(txn.transaction_id)
        self.scores.append(assessment.risk_score)
        self.labels.append(fraud)
        self.cards.append((txn.event_time, txn.card_fingerprint, assessment.risk_score, fraud))
        self.model_version = assessment.model_version
        for reason in assessment.reasons:
            self.reasons[reason.code] += 1
            if fraud:
                self.reason_frauds[reason.code] += 1


def report(c: Collector, rules: RulesConfig) -> dict[str, Any]:
    n = len(c.scores)
    grid = sorted({rules.review_threshold, rules.block_threshold, rules.alert_threshold, *range(10, 100, 10)})
    return {
        "model_version": c.model_version,
        "transactions": n,
        "frauds": sum(c.labels),
        "fraud_rate": sum(c.labels) / n if n else None,
        "auc_roc": auc_roc(c.scores, c.labels),
        "average_precision": average_precision(c.scores, c.labels),
        "card_precision_at_100": card_precision_at_k(c.cards, 100),
        "alert_rate": sum(1 for s in c.scores if rules.should_alert(s)) / n if n else None,
        "decision_thresholds": {
            "review": at_threshold(c.scores, c.labels, rules.review_threshold),
            "block": at_threshold(c.scores, c.labels, rules.block_threshold),
            "alert": at_threshold(c.scores, c.labels, rules.alert_threshold),
        },
        "thresholds": [at_threshold(c.scores, c.labels, t) for t in grid],
        "reason_hits": {code: {"hits": hits, "fraud_hits": c.reason_frauds[code]}
                        for code, hits in c.reasons.most_common()},
    }


def run_replay(events: list[tuple[Transaction, bool]], engine: FraudEngine, collector: Any, delay_ms: int,
               until: int, quiet: bool) -> float:
    """Replay with progress on stderr; returns elapsed seconds."""
    total = sum(1 for t, _ in events if t.event_time < until)
    began = time.perf_counter()
    step = max(50_000, total // 20)

    def progress(txn: Transaction, assessment: Assessment, fraud: bool) -> None:
        collector(txn, assessment, fraud)
        done = collector.replayed
        if not quiet and done % step == 0:
            rate = done / max(1e-9, time.perf_counter() - began)
            print(f"  replayed {done:,}/{total:,} ({rate:,.0f} tx/s)", file=sys.stderr, flush=True)

    replay(events, engine, progress, label_delay_ms=delay_ms, until=until)
    return time.perf_counter() - began


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Backtest the fraud scoring on a labelled CSV.")
    p.add_argument("--data", required=True)
    p.add_argument("--model", help="model artifact JSON (default: rules only)")
    p.add_argument("--rules", help="rules config JSON (default: the bundled rules.json)")
    p.add_argument("--label-delay-days", type=float, required=True)
    p.add_argument("--eval-from", required=True, help="first UTC day evaluated, YYYY-MM-DD")
    p.add_argument("--eval-to", required=True, help="last UTC day evaluated, YYYY-MM-DD (inclusive)")
    p.add_argument("--scores-out", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.label_delay_days < 0:
        p.error("--label-delay-days must be >= 0")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    start, end = day_start(args.eval_from), day_start(args.eval_to) + DAY_MS
    if end <= start:
        raise SystemExit("--eval-to must not be before --eval-from")
    rules = RulesConfig.load(args.rules)
    engine = FraudEngine(rules, load_model(args.model) if args.model else None)
    began = time.perf_counter()
    events, bad = load(args.data, quiet=args.quiet)
    loaded = time.perf_counter() - began
    collector = Collector(start, end, args.scores_out)
    elapsed = run_replay(events, engine, collector, int(args.label_delay_days * DAY_MS), end, args.quiet)
    with open(args.scores_out, "w", newline="", encoding="utf-8") as out:
        out.write("transaction_id,score\n")
        out.writelines(f"{i},{s}\n" for i, s in zip(collector.ids, collector.scores))
    result = {
        "data": args.data, "rules_version": rules.version, "label_delay_days": args.label_delay_days,
        "eval_from": args.eval_from, "eval_to": args.eval_to, "rows_loaded": len(events),
        "bad_rows": [{"line": line, "reason": reason} for line, reason in bad[:1000]], "bad_row_count": len(bad),
        **report(collector, rules),
        "replayed": collector.replayed, "load_seconds": round(loaded, 2), "replay_seconds": round(elapsed, 2),
        "replay_throughput_tps": round(collector.replayed / elapsed) if elapsed > 0 else None,
    }
    Path(args.report).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        summary = {k: result[k] for k in ("transactions", "frauds", "auc_roc", "average_precision",
                                          "card_precision_at_100", "alert_rate", "replay_throughput_tps")}
        print(json.dumps(summary, indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
