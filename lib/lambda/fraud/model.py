"""Pure-Python evaluation of the exported fraud model (no numpy/sklearn at run time).

Artifacts are versioned JSON files (fraud/models/model-v1.json ships with the
stack; scripts/train.py writes them). Two formats:

- `gbdt-v1`: gradient-boosted regression trees on the log-odds scale, as
  sklearn's GradientBoostingClassifier builds them: probability =
  sigmoid(init + learning_rate x sum of the leaf values reached). A node is
  a leaf when `left` is -1; otherwise go left when x[feature] <= threshold.
- `logistic-v1`: sigmoid(intercept + sum(coef x (t(x) - mean) / scale)) with
  t = sign(x)·log1p(|x|) when `log1p` is true.

Every feature an artifact names must be one the engine computes
(fraud.features.FEATURE_NAMES); a missing value counts as 0.0.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from .features import FEATURE_NAMES

MODELS_DIR = Path(__file__).with_name("models")
DEFAULT_MODEL = MODELS_DIR / "model-v1.json"


class ModelError(ValueError):
    """The model artifact is malformed."""


def _sigmoid(raw: float) -> float:
    if raw >= 0:
        return 1.0 / (1.0 + math.exp(-raw))
    z = math.exp(raw)
    return z / (1.0 + z)


def _numbers(data: Mapping[str, Any], key: str, length: int, where: str) -> list[float]:
    values = data.get(key)
    if not isinstance(values, list) or len(values) != length or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise ModelError(f"{where}.{key}: expected {length} finite numbers")
    return [float(v) for v in values]


class TreeEnsemble:
    __slots__ = ("version", "features", "init", "trees")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = str(data["version"])
        self.features = tuple(data["features"])
        self.init = float(data["init"])
        rate = float(data["learning_rate"])
        trees = data.get("trees")
        if not isinstance(trees, list) or not trees:
            raise ModelError("trees: expected a non-empty list")
        width = len(self.features)
        self.trees = []
        for number, tree in enumerate(trees):
            where = f"trees[{number}]"
            if not isinstance(tree, Mapping) or not isinstance(tree.get("left"), list):
                raise ModelError(f"{where}: expected an object with left/right/feature/threshold/value")
            size = len(tree["left"])
            left = [int(v) for v in _numbers(tree, "left", size, where)]
            right = [int(v) for v in _numbers(tree, "right", size, where)]
            feature = [int(v) for v in _numbers(tree, "feature", size, where)]
            threshold = _numbers(tree, "threshold", size, where)
            value = [v * rate for v in _numbers(tree, "value", size, where)]  # fold the rate in once
            for node in range(size):
                if left[node] != -1 and not (
                    node < left[node] < size and node < right[node] < size and 0 <= feature[node] < width
                ):
                    raise ModelError(f"{where}: node {node} points outside the tree")
            self.trees.append((left, right, feature, threshold, value))

    def raw(self, x: Sequence[float]) -> float:
        total = self.init
        for left, right, feature, threshold, value in self.trees:
            node = 0
            while left[node] != -1:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
            total += value[node]
        return total

    def predict(self, features: Mapping[str, float]) -> float:
        get = features.get
        return _sigmoid(self.raw([get(name, 0.0) for name in self.features]))


class LogisticModel:
    __slots__ = ("version", "features", "intercept", "weights", "offsets", "log1p")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = str(data["version"])
        self.features = tuple(data["features"])
        width = len(self.features)
        coef = _numbers(data, "coef", width, "model")
        mean = _numbers(data, "mean", width, "model")
        scale = _numbers(data, "scale", width, "model")
        if any(s <= 0 for s in scale):
            raise ModelError("model.scale: must be positive")
        self.log1p = bool(data.get("log1p", False))
        self.weights = [c / s for c, s in zip(coef, scale)]  # fold standardisation into the weights
        self.intercept = float(data["intercept"]) - sum(w * m for w, m in zip(self.weights, mean))

    def predict(self, features: Mapping[str, float]) -> float:
        total = self.intercept
        for name, weight in zip(self.features, self.weights):
            x = features.get(name, 0.0)
            if self.log1p:
                x = math.copysign(math.log1p(abs(x)), x)
            total += weight * x
        return _sigmoid(total)


Model = Union[TreeEnsemble, LogisticModel]
_FORMATS = {"gbdt-v1": TreeEnsemble, "logistic-v1": LogisticModel}


def from_dict(data: Any) -> Model:
    if not isinstance(data, Mapping):
        raise ModelError("model artifact must be a JSON object")
    kind = _FORMATS.get(data.get("format"))  # type: ignore[arg-type]
    if kind is None:
        raise ModelError(f"format: must be one of {sorted(_FORMATS)}")
    version, names = data.get("version"), data.get("features")
    if not isinstance(version, str) or not version:
        raise ModelError("version: must be a non-empty string")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ModelError("features: must be a non-empty list of names")
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise ModelError(f"features: not computed by the engine: {unknown}")
    try:
        return kind(data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"malformed {data['format']} artifact: {exc!r}") from exc


def load_model(path: Union[str, Path, None] = None) -> Model:
    """Load a model artifact (default: the bundled fraud/models/model-v1.json)."""
    source = Path(path) if path is not None else DEFAULT_MODEL
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model {source}: {exc}") from exc
    return from_dict(data)
