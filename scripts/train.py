#!/usr/bin/env python3
"""Fit the fraud model on replayed features and export it for pure-Python scoring.

    python scripts/train.py --data sim.csv --train-from 2024-01-08 --train-to 2024-01-31 \\
        --label-delay-days 7 --out lib/lambda/fraud/models/model-v1.json

Features come from the very replay the backtest runs (fraud.replay over
FraudEngine with an in-memory store), so training sees exactly what the
Lambda computes. No leakage: a row is a training example only if its label
had arrived by the end of --train-to (event time + delay), and its features
only saw labels that had arrived before it. Everything before --train-from
only warms up the state.

Needs scikit-learn at training time only (GradientBoostingClassifier, or
LogisticRegression with --kind logistic); the artifact is evaluated by
fraud.model without numpy or sklearn, and the script checks that both
agree before writing it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backtest  # noqa: E402  (puts lib/lambda on sys.path)

from fraud.engine import FraudEngine  # noqa: E402
from fraud.features import FEATURE_NAMES  # noqa: E402
from fraud.model import from_dict  # noqa: E402
from fraud.models import Assessment, Transaction  # noqa: E402
from fraud.rules_config import RulesConfig  # noqa: E402

DAY_MS = backtest.DAY_MS


def collect(events: list, rules: RulesConfig, start: int, end: int, delay_ms: int,
            quiet: bool) -> tuple[list[list[float]], list[int], int]:
    """Feature rows and labels of the training window; also the count of rows left out (label not yet arrived)."""
    X: list[list[float]] = []
    y: list[int] = []
    unlabelled = 0

    class Sink:
        replayed = 0

        def __call__(self, txn: Transaction, assessment: Assessment, fraud: bool) -> None:
            nonlocal unlabelled
            self.replayed += 1
            if not start <= txn.event_time < end:
                return
            if txn.event_time + delay_ms > end:
                unlabelled += 1  # its label would not have arrived by the training cut-off
                return
            features = assessment.features
            X.append([features[name] for name in FEATURE_NAMES])
            y.append(int(fraud))

    backtest.run_replay(events, FraudEngine(rules), Sink(), delay_ms, end, quiet)
    return X, y, unlabelled


def fit(kind: str, X: list[list[float]], y: list[int], seed: int) -> dict[str, Any]:
    import numpy as np  # training-time only
    import sklearn

    data, target = np.asarray(X, dtype=float), np.asarray(y)
    meta: dict[str, Any] = {"sklearn": sklearn.__version__, "features": list(FEATURE_NAMES)}
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        transformed = np.sign(data) * np.log1p(np.abs(data))
        mean, scale = transformed.mean(axis=0), transformed.std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=1.0, max_iter=2000).fit((transformed - mean) / scale, target)
        return {**meta, "format": "logistic-v1", "log1p": True, "coef": model.coef_[0].tolist(),
                "intercept": float(model.intercept_[0]), "mean": mean.tolist(), "scale": scale.tolist()}
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=120, max_depth=3, learning_rate=0.1, subsample=0.8,
                                       min_samples_leaf=20, random_state=seed).fit(data, target)
    prior = float(target.mean())
    trees = []
    for estimator in model.estimators_[:, 0]:
        tree = estimator.tree_
        trees.append({"left": tree.children_left.tolist(), "right": tree.children_right.tolist(),
                      "feature": [max(0, int(f)) for f in tree.feature], "threshold": tree.threshold.tolist(),
                      "value": tree.value[:, 0, 0].tolist()})
    artifact = {**meta, "format": "gbdt-v1", "init": float(np.log(prior / (1 - prior))),
                "learning_rate": model.learning_rate, "trees": trees}
    check = data[: min(len(data), 2000)]
    expected = model.predict_proba(check)[:, 1]
    artifact["_check"] = (check, expected)
    return artifact


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Train the fraud model on replayed features.")
    p.add_argument("--data", required=True)
    p.add_argument("--train-from", required=True, help="first UTC day of training examples")
    p.add_argument("--train-to", required=True, help="last UTC day (inclusive); labels must have arrived by its end")
    p.add_argument("--label-delay-days", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rules", help="rules config used for the replay (default: bundled)")
    p.add_argument("--kind", choices=("gbdt", "logistic"), default="gbdt")
    p.add_argument("--version", help="artifact version (default: the --out file name without .json)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    start, end = backtest.day_start(args.train_from), backtest.day_start(args.train_to) + DAY_MS
    if end <= start or args.label_delay_days < 0:
        p.error("need --train-to >= --train-from and --label-delay-days >= 0")
    delay_ms = int(args.label_delay_days * DAY_MS)
    began = time.perf_counter()
    events, bad = backtest.load(args.data, quiet=args.quiet)
    X, y, unlabelled = collect(events, RulesConfig.load(args.rules), start, end, delay_ms, args.quiet)
    if sum(y) < 10 or len(y) - sum(y) < 10:
        raise SystemExit(f"not enough labelled examples to train: {sum(y)} fraud, {len(y) - sum(y)} legitimate")
    artifact = fit(args.kind, X, y, args.seed)
    check = artifact.pop("_check", None)
    artifact.update({
        "version": args.version or Path(args.out).stem,
        "trained": {"data": Path(args.data).name, "train_from": args.train_from, "train_to": args.train_to,
                    "label_delay_days": args.label_delay_days, "examples": len(y), "frauds": sum(y),
                    "left_out_unlabelled": unlabelled, "bad_rows": len(bad), "kind": args.kind,
                    "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
    })
    model = from_dict(artifact)  # validates the artifact the way the Lambda will load it
    if check is not None:
        rows, expected = check
        worst = max(abs(model.predict(dict(zip(FEATURE_NAMES, row))) - e) for row, e in zip(rows.tolist(), expected))
        if worst > 1e-9:
            raise SystemExit(f"pure-Python evaluation disagrees with sklearn by {worst}")
        artifact["trained"]["parity_max_abs_diff"] = worst
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(artifact, separators=(",", ":")) + "\n", encoding="utf-8")
    if not args.quiet:
        print(f"trained {args.kind} on {len(y):,} examples ({sum(y):,} fraud) in "
              f"{time.perf_counter() - began:.1f}s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
