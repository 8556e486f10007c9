from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from fraud.engine import FraudEngine, InMemoryStateStore
from fraud.features import FEATURE_NAMES, Features
from fraud.rules_config import DEFAULT_PATH, RulesConfig
from fraud.model import DEFAULT_MODEL, LogisticModel, ModelError, TreeEnsemble, from_dict, load_model
from fraud_factories import make_txn

# One stump on amount (<= 100 -> -1, else +2) and one on card_count_1h.
GBDT: dict[str, Any] = {
    "format": "gbdt-v1", "version": "model-t", "features": ["amount", "card_count_1h"],
    "init": -2.0, "learning_rate": 0.5,
    "trees": [
        {"left": [1, -1, -1], "right": [2, -1, -1], "feature": [0, 0, 0], "threshold": [100.0, -2, -2],
         "value": [0.0, -1.0, 2.0]},
        {"left": [1, -1, -1], "right": [2, -1, -1], "feature": [1, 0, 0], "threshold": [2.5, -2, -2],
         "value": [0.0, 0.0, 4.0]},
    ],
}
LOGISTIC: dict[str, Any] = {
    "format": "logistic-v1", "version": "model-l", "features": ["amount", "card_luhn_fail"],
    "coef": [2.0, 1.0], "intercept": -1.0, "mean": [10.0, 0.0], "scale": [5.0, 1.0], "log1p": False,
}


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize(
    "features, raw",
    [
        ({"amount": 100.0, "card_count_1h": 0.0}, -2.0 + 0.5 * -1.0),  # <= threshold goes left
        ({"amount": 100.01, "card_count_1h": 0.0}, -2.0 + 0.5 * 2.0),
        ({"amount": 500.0, "card_count_1h": 3.0}, -2.0 + 0.5 * 2.0 + 0.5 * 4.0),
        ({}, -2.0 + 0.5 * -1.0),  # missing features count as 0.0
    ],
)
def test_tree_ensemble(features: dict, raw: float) -> None:
    assert from_dict(GBDT).predict(features) == pytest.approx(sigmoid(raw))


def test_logistic() -> None:
    model = from_dict(LOGISTIC)
    assert isinstance(model, LogisticModel)
    assert model.predict({"amount": 20.0, "card_luhn_fail": 1.0}) == pytest.approx(sigmoid(-1 + 2 * 2 + 1))
    logged = from_dict({**LOGISTIC, "log1p": True, "mean": [0.0, 0.0], "scale": [1.0, 1.0]})
    assert logged.predict({"amount": math.e - 1}) == pytest.approx(sigmoid(-1 + 2))


def test_extreme_raw_scores_do_not_overflow() -> None:
    model = from_dict({**LOGISTIC, "coef": [1e6, 0.0]})
    assert model.predict({"amount": 1e6}) == 1.0 and model.predict({"amount": -1e6}) == 0.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "xgb"}, "format"),
        ({"version": ""}, "version"),
        ({"features": ["amount", "shoe_size"]}, "not computed by the engine"),
        ({"features": []}, "features"),
        ({"trees": []}, "trees"),
        ({"trees": [{"left": [1], "right": [2], "feature": [0], "threshold": [1.0], "value": [0.0]}]}, "outside"),
        ({"trees": [{"left": [-1], "right": [-1], "feature": [0], "threshold": [1.0], "value": [float("nan")]}]},
         "finite"),
        ({"trees": [{"left": [-1, -1], "right": [-1], "feature": [0], "threshold": [1.0], "value": [0.0]}]},
         "expected 2"),
        ({"init": "x"}, "malformed"),
    ],
)
def test_bad_artifacts(change: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        from_dict({**GBDT, **change})


def test_bad_logistic_scale() -> None:
    with pytest.raises(ModelError, match="scale"):
        from_dict({**LOGISTIC, "scale": [0.0, 1.0]})


def test_load_model_files(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(GBDT))
    assert isinstance(load_model(path), TreeEnsemble)
    path.write_text("{")
    with pytest.raises(ModelError, match="cannot read"):
        load_model(path)


def test_bundled_model_loads_and_combines_with_rules() -> None:
    model = load_model()
    assert DEFAULT_MODEL.name == "model-v1.json" and model.version == "model-v1"
    [a] = FraudEngine(model=model).assess_batch([make_txn()], InMemoryStateStore())
    assert a.model_version == "rules-v1+model-v1"
    assert 0 <= a.risk_score <= 100 and a.risk_score == sum(r.contribution for r in a.reasons)


def test_from_config_loads_the_configured_artifact() -> None:
    engine = FraudEngine.from_config()
    assert engine.model is not None and engine.model.version == "model-v1"
    rules_only = RulesConfig.from_dict({**json.loads(DEFAULT_PATH.read_text()), "model": {"weight": 60}})
    assert FraudEngine.from_config(rules_only).model is None


def test_spec_examples_with_the_bundled_model() -> None:
    engine = FraudEngine.from_config()
    store = InMemoryStateStore()
    ok, bad = engine.assess_batch([
        make_txn(transaction_id="spec-ok-1", amount="125.50", merchant="Store Name", location="New York, USA",
                 country="US", customer_id="CUST12345", card_luhn_valid=False, card_fingerprint="1" * 64),
        make_txn(transaction_id="spec-bad-1", amount="15000.00", merchant="Unknown Store", location="Nigeria",
                 country="NG", customer_id=None, card_luhn_valid=False, card_fingerprint="2" * 64),
    ], store)
    assert ok.decision == "approve" and bad.decision == "block"


def test_model_raises_the_score_through_a_reason() -> None:
    engine = FraudEngine(model=from_dict(GBDT))
    [a] = engine.assess_batch([make_txn(amount="500")], InMemoryStateStore())
    model_points = [r.contribution for r in a.reasons if r.code == "MODEL_RISK"]
    assert model_points == [round(sigmoid(-1.0) * 60)]


def _vectors(count: int, seed: int) -> list[tuple[float, ...]]:
    rng = random.Random(seed)
    picks = (0.0, 1.0, 2.5, 100.0, 100.01, -1.0)
    return [tuple(rng.choice(picks) if rng.random() < 0.5 else rng.uniform(-5, 500) for _ in FEATURE_NAMES)
            for _ in range(count)]


@pytest.mark.parametrize("artifact", ["bundled", "small"])
def test_compiled_ensemble_is_bit_identical_to_the_tree_walk(artifact: str) -> None:
    model = load_model() if artifact == "bundled" else from_dict(GBDT)
    assert isinstance(model, TreeEnsemble) and model._walk is not None
    for vector in _vectors(2000, seed=5):
        by_name = dict(zip(FEATURE_NAMES, vector))
        reference = model.raw([by_name[name] for name in model.features])
        assert model._walk(vector, model.init) == reference  # exact: same leaves, same order of additions
        assert model.predict(Features(vector)) == model.predict(by_name)


def test_too_deep_trees_fall_back_to_the_walk() -> None:
    depth = 60  # a chain of splits on amount, deeper than the compiler is given
    left = [i + 1 for i in range(depth)] + [-1, -1]
    right = [depth + 1] * depth + [-1, -1]
    tree = {"left": left, "right": right, "feature": [0] * (depth + 2),
            "threshold": [float(100 - i) for i in range(depth)] + [-2, -2], "value": [0.0] * depth + [-1.0, 3.0]}
    model = from_dict({**GBDT, "trees": [tree]})
    assert isinstance(model, TreeEnsemble) and model._walk is None
    assert model.predict({"amount": 1.0}) == pytest.approx(sigmoid(-2.0 + 0.5 * -1.0))
    assert model.predict({"amount": 500.0}) == pytest.approx(sigmoid(-2.0 + 0.5 * 3.0))
