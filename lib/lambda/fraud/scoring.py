"""Rules (+ optional model) -> one 0..100 score whose reasons add up to it.

Each fired rule contributes its weight; a model contributes
`round(probability x model.weight)` as the `MODEL_RISK` reason. When the raw
total exceeds 100 the contributions are scaled down proportionally
(largest-remainder rounding) so they still sum exactly to the clamped score
and every fired reason keeps a visible share.
"""
from __future__ import annotations

from typing import Mapping, Optional, Protocol, Sequence

from .models import Assessment, Reason, Transaction
from .rules_config import RulesConfig

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
        model_version=model_version(rules, model),
        features=features,
    )
