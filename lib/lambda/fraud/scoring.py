"""Rules (+ optional model) -> one 0..100 score whose reasons add up to it.

Each fired rule contributes its weight; a model contributes
`round(probability x model.weight)` as the `MODEL_RISK` reason. When the raw
total exceeds 100 the contributions are scaled down proportionally
(largest-remainder rounding) so they still sum exactly to the clamped score
and every fired reason keeps a visible share.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

from .features import INDEX, Features
from .models import Assessment, Reason, Transaction
from .reference import normalise_text
from .rules_config import Rule, RulesConfig

MAX_SCORE = 100


class Model(Protocol):
    """A fraud-probability model evaluated in pure Python (see fraud.model)."""

    version: str

    def predict(self, features: Mapping[str, float]) -> float:
        """Probability of fraud in [0, 1]."""
        ...


def model_version(rules: RulesConfig, model: Optional[Model]) -> str:
    return rules.version if model is None else f"{rules.version}+{model.version}"


def _fit(weights: Sequence[int], total: int) -> list[int]:
    """Scale non-negative `weights` down so they sum to `total` (Hamilton apportionment)."""
    raw = sum(weights)
    if raw <= total:
        return list(weights)
    exact = [w * total / raw for w in weights]
    shares = [int(x) for x in exact]
    left = total - sum(shares)
    # Ties go to the earlier (higher-priority) reason so the result is deterministic.
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def score(
    txn: Transaction,
    features: Mapping[str, float],
    rules: RulesConfig,
    model: Optional[Model] = None,
) -> Assessment:
    fired: list[tuple[str, str, int]] = []
    for rule in rules.rules:
        if rule.weight and rule.fires(txn, features):
            fired.append((rule.code, rule.describe(txn, features), rule.weight))
    if model is not None and rules.model_weight:
        probability = min(1.0, max(0.0, float(model.predict(features))))
        points = round(probability * rules.model_weight)
        if points:
            fired.append(("MODEL_RISK", f"Model {model.version} fraud probability {probability:.2f}", points))
    return _assessment(txn, features, fired, rules, model_version(rules, model))


def _assessment(
    txn: Transaction, features: Mapping[str, float], fired: list[tuple[str, str, int]], rules: RulesConfig, version: str
) -> Assessment:
    fired.sort(key=lambda r: -r[2])  # stable: equal weights keep config order
    contributions = _fit([w for _, _, w in fired], MAX_SCORE)
    reasons = tuple(
        Reason(code, description, points)
        for (code, description, _), points in zip(fired, contributions)
        if points > 0
    )
    risk = sum(r.contribution for r in reasons)
    return Assessment(
        transaction_id=txn.transaction_id,
        risk_score=risk,
        decision=rules.decide(risk),
        reasons=reasons,
        model_version=version,
        features=features,
    )


class Scorer:
    """`score` for one (rules, model) pair and `Features` input, prepared once (the engine's path).

    Same result as `score`: the rules' checks run as one compiled function over
    the feature vector (`compile_rules`), the model reads the vector directly.
    """

    __slots__ = ("rules", "model", "version", "_fired", "_model_weight", "_by_vector")

    def __init__(self, rules: RulesConfig, model: Optional[Model]) -> None:
        self.rules, self.model = rules, model
        self.version = model_version(rules, model)
        self._fired = compile_rules(rules.rules)
        self._model_weight = rules.model_weight if model is not None else 0
        self._by_vector = hasattr(model, "predict_vector")  # fraud.model's models read the vector directly

    def __call__(self, txn: Transaction, features: Features) -> Assessment:
        rules = self.rules
        hits = self._fired(txn, features.vector, features)
        fired = []
        if hits:
            chosen = rules.rules
            fired = [(chosen[i].code, chosen[i].describe(txn, features), chosen[i].weight) for i in hits]
        if self._model_weight:
            model: Any = self.model
            raw = model.predict_vector(features.vector) if self._by_vector else model.predict(features)
            probability = min(1.0, max(0.0, float(raw)))
            points = round(probability * self._model_weight)
            if points:
                fired.append(("MODEL_RISK", f"Model {model.version} fraud probability {probability:.2f}", points))
        if not fired:
            return Assessment(txn.transaction_id, 0, rules.decide(0), (), self.version, features)
        return _assessment(txn, features, fired, rules, self.version)


_OPS = (">", ">=", "<", "<=", "==")


def compile_rules(rules: Sequence[Rule]) -> Callable[[Transaction, list, Mapping[str, float]], list[int]]:
    """`fired(txn, vector, features)`: indexes of the rules with a weight that fire, in order.

    The source holds only rule indexes, feature positions and comparison operators
    from a fixed set; every configured value (limits, name sets, bounds) is passed
    in as a constant of the function's namespace, never written into the source.
    A rule without a `spec` (built by hand) is asked through its own `fires`.
    """
    namespace: dict[str, Any] = {"normalise_text": normalise_text}
    lines = ["def fired(t, x, f):", "    hits = []"]
    for i, rule in enumerate(rules):
        if not rule.weight:
            continue
        test = _test(rule.spec, i, namespace)
        if test is None:
            namespace[f"r{i}"] = rule.fires
            test = f"r{i}(t, f)"
        lines.append(f"    if {test}: hits.append({i})")
    lines.append("    return hits")
    exec(compile("\n".join(lines) + "\n", "<fraud.scoring rules>", "exec"), namespace)  # noqa: S102 (see above)
    return namespace["fired"]


def _test(spec: Optional[tuple], i: int, namespace: dict[str, Any]) -> Optional[str]:
    kind = spec[0] if spec else None
    if kind == "amount_above":
        namespace[f"a{i}"] = spec[1]  # type: ignore[index]
        return f"t.amount > a{i}"
    if kind == "round_amount_below":
        namespace[f"a{i}"] = spec[1]  # type: ignore[index]
        return f"(t.amount < a{i} and t.amount == t.amount.to_integral_value())"
    if kind == "merchant_in":
        namespace[f"m{i}"] = spec[1]  # type: ignore[index]
        return f"normalise_text(t.merchant) in m{i}"
    if kind == "location_in":
        namespace[f"c{i}"], namespace[f"l{i}"] = spec[1], spec[2]  # type: ignore[index]
        return f"(t.country in c{i} or normalise_text(t.location) in l{i})"
    if kind == "card_checksum_failed":
        return "not t.card_luhn_valid"
    if kind == "feature":
        checks = spec[1]  # type: ignore[index]
        if not checks or any(op not in _OPS or name not in INDEX for name, op, _ in checks):
            return None
        parts = []
        for j, (name, op, bound) in enumerate(checks):
            namespace[f"b{i}_{j}"] = bound
            parts.append(f"x[{INDEX[name]}] {op} b{i}_{j}")
        return "(" + " and ".join(parts) + ")"
    return None
