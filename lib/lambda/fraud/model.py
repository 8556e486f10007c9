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
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from .features import FEATURE_NAMES, INDEX, Features

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
    """`raw` walks the trees node by node (the reference); `predict` runs the same
    walk compiled once, at load, into one Python expression of nested conditionals
    (see `_compile`): identical leaves, added in the same order, so bit-identical."""

    __slots__ = ("version", "features", "init", "trees", "_walk")

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
        self._walk = _compile(self.trees, [INDEX[name] for name in self.features])

    def raw(self, x: Sequence[float]) -> float:
        total = self.init
        for left, right, feature, threshold, value in self.trees:
            node = 0
            while left[node] != -1:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
            total += value[node]
        return total

    def predict(self, features: Mapping[str, float]) -> float:
        if self._walk is None:
            get = features.get
            return _sigmoid(self.raw([get(name, 0.0) for name in self.features]))
        if type(features) is Features:
            return _sigmoid(self._walk(features.vector, self.init))
        get = features.get
        return _sigmoid(self._walk([get(name, 0.0) for name in FEATURE_NAMES], self.init))

    def predict_vector(self, vector: Sequence[float]) -> float:
        """`predict` of the features in FEATURE_NAMES order (fraud.features.Features.vector)."""
        if self._walk is None:
            return _sigmoid(self.raw([vector[INDEX[name]] for name in self.features]))
        return _sigmoid(self._walk(vector, self.init))


# Beyond these the interpreted walk is used: deep nesting hits parser limits, and
# compiling a huge ensemble would cost more cold start than it saves.
_COMPILE_MAX_DEPTH = 40
_COMPILE_MAX_NODES = 50_000


def _compile(trees: list, positions: list[int]) -> Optional[Callable[[Sequence[float], float], float]]:
    """One function `walk(x, init)` over a FEATURE_NAMES-ordered vector x.

    Its source is built only from validated numbers (node indexes, feature
    positions, and thresholds and leaf values that are finite floats, whose
    repr reads back exactly), never from text in the artifact. The sum is
    ((init + tree_0) + tree_1) + ..., the order `raw` adds in.
    """
    if sum(len(tree[0]) for tree in trees) > _COMPILE_MAX_NODES:
        return None
    used = sorted({positions[f] for left, _, feature, _, _ in trees for f, l in zip(feature, left) if l != -1})

    def node(tree: tuple, index: int, depth: int) -> str:
        left, right, feature, threshold, value = tree
        if left[index] == -1:
            return repr(value[index])
        if depth >= _COMPILE_MAX_DEPTH:
            raise RecursionError
        return (f"({node(tree, left[index], depth + 1)} if x{positions[feature[index]]} <= {threshold[index]!r}"
                f" else {node(tree, right[index], depth + 1)})")

    try:
        terms = [node(tree, 0, 0) for tree in trees]
    except RecursionError:
        return None
    unpack = ", ".join(f"x{i}" if i in used else "_" for i in range(len(FEATURE_NAMES)))
    # Chunks of 50 trees per statement keep the expression shallow for the compiler.
    lines = [f"    {unpack} = x", "    t = init"]
    for first in range(0, len(terms), 50):
        lines.append("    t = (t\n        + " + "\n        + ".join(terms[first:first + 50]) + ")")
    source = "def walk(x, init):\n" + "\n".join(lines) + "\n    return t\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<fraud.model ensemble>", "exec"), namespace)  # noqa: S102 (numbers only, see above)
    return namespace["walk"]


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
