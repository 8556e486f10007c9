"""scripts/train.py: no-leakage example selection, export, and pure-Python parity."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import sklearn  # noqa: F401  (a Pipfile dev dependency: a missing install must fail, not skip)

from scripts import backtest, simulate, train

from fraud.engine import FraudEngine, InMemoryStateStore  # noqa: E402
from fraud.features import FEATURE_NAMES  # noqa: E402
from fraud.model import load_model  # noqa: E402
from fraud.rules_config import RulesConfig  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train") / "sim.csv"
    simulate.main(["--out", str(path), "--customers", "150", "--merchants", "40", "--days", "20", "--seed", "4",
                   "--fraud-scale", "4"])
    return path


@pytest.mark.parametrize("kind", ["gbdt", "logistic"])
def test_train_exports_a_model_the_lambda_can_load(data: Path, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"model-{kind}.json"
    assert train.main(["--data", str(data), "--train-from", "2024-01-03", "--train-to", "2024-01-14",
                       "--label-delay-days", "2", "--out", str(out), "--kind", kind, "--quiet"]) == 0
    artifact = json.loads(out.read_text())
    assert artifact["version"] == f"model-{kind}" and artifact["features"] == list(FEATURE_NAMES)
    assert artifact["trained"]["frauds"] >= 10 and artifact["trained"]["left_out_unlabelled"] > 0
    if kind == "gbdt":
        assert artifact["trained"]["parity_max_abs_diff"] <= 1e-9
    model = load_model(out)
    engine = FraudEngine(model=model)
    events, _ = backtest.load(str(data))
    assessments = engine.assess_batch([t for t, _ in events[:50]], InMemoryStateStore())
    assert all(a.model_version == f"rules-v1+model-{kind}" for a in assessments)


def test_only_examples_whose_label_arrived_are_used(data: Path) -> None:
    events, _ = backtest.load(str(data))
    start, end = backtest.day_start("2024-01-03"), backtest.day_start("2024-01-14") + backtest.DAY_MS
    delay = 2 * backtest.DAY_MS
    X, y, unlabelled = train.collect(events, RulesConfig.load(), start, end, delay, quiet=True)
    in_window = [(t, f) for t, f in events if start <= t.event_time < end]
    arrived = [(t, f) for t, f in in_window if t.event_time + delay <= end]
    assert len(X) == len(arrived) and unlabelled == len(in_window) - len(arrived)
    assert y == [int(f) for _, f in arrived]


def test_too_few_examples_is_an_error(data: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not enough"):
        train.main(["--data", str(data), "--train-from", "2024-01-01", "--train-to", "2024-01-01",
                    "--label-delay-days", "0.5", "--out", str(tmp_path / "m.json"), "--quiet"])
