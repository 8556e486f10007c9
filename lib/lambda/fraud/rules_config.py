"""The one declarative rules configuration (rules.json) and its validation.

Every rule is `{"code", "type", "weight", "params", "description"}`; its
weight is the number of score points it adds when it fires. Rule types:

- `amount_above` (`amount`): fires when amount > params.amount (strictly:
  exactly 10000 does not fire).
- `round_amount_below` (`amount`): fires when the amount is a whole number of
  currency units (49.00, not 49.50) and amount < params.amount (strictly:
  exactly 50 does not fire).
- `merchant_in` (`merchants`): normalised merchant name (case, accents,
  punctuation and spacing ignored) is in the list.
- `location_in` (`countries`, `locations`): normalised country code in
  `countries` or normalised location text in `locations`.
- `card_checksum_failed`: the PAN failed the Luhn check (a signal, not a
  rejection).
- `feature` (`feature`, `op`, `value`, or `all`: a list of such conditions
  that must all hold): behaviour features computed by the engine
  (fraud.features.FEATURE_NAMES) compared with `op` (`>`, `>=`, `<`, `<=`,
  `==`) to `value`; {value} in the description is the first feature's value.

Amounts compare in the transaction's own currency units (no FX conversion).
`thresholds`: `review` <= `block`, decisions are score >= threshold;
`alert` >= `review` so only flagged transactions are alerted. `model.weight`
is the most points a model can add (probability x weight); `model.artifact`
names the model file under fraud/models/ that `FraudEngine.from_config()`
loads (absent: rules only).
Descriptions are templates over {amount} {currency} {merchant} {location}
{country} {value}.
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from .features import FEATURE_NAMES
from .models import Transaction
from .reference import normalise_text

DEFAULT_PATH = Path(__file__).with_name("rules.json")
RULE_TYPES = ("amount_above", "round_amount_below", "merchant_in", "location_in", "card_checksum_failed", "feature")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
}
_TEMPLATE_FIELDS = {"amount": "1.00", "currency": "USD", "merchant": "m", "location": "l", "country": "US", "value": 1}
_DEFAULT_FEATURES = {"small_amount": "10.00", "burst_window_ms": 600_000, "country_change_window_ms": 3_600_000}

Predicate = Callable[[Transaction, Mapping[str, float]], bool]


class ConfigError(ValueError):
    """The rules configuration is malformed; the message names every problem by its path."""


class Rule:
    __slots__ = ("code", "type", "weight", "description", "feature", "fires", "spec")

    def __init__(self, code: str, type_: str, weight: int, description: str, feature: Optional[str], fires: Predicate,
                 spec: Optional[tuple] = None):
        self.code, self.type, self.weight, self.description = code, type_, weight, description
        self.feature = feature  # the feature a `feature` rule reads, None otherwise
        self.fires = fires
        # What `fires` checks, as validated values (fraud.scoring.compile_rules); None: only `fires` knows.
        self.spec = spec

    def describe(self, txn: Transaction, features: Mapping[str, float]) -> str:
        value = features.get(self.feature, 0.0) if self.feature else 0.0
        shown: Union[int, float] = int(value) if float(value).is_integer() else round(value, 2)
        return self.description.format(
            amount=f"{txn.amount:.2f}", currency=txn.currency, merchant=txn.merchant,
            location=txn.location, country=txn.country or "unknown", value=shown,
        )


def _decimal(value: Any, where: str, problems: list[str]) -> Decimal:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
            if number.is_finite() and number >= 0:
                return number
        except InvalidOperation:
            pass
    problems.append(f"{where}: must be a non-negative number (string or integer)")
    return Decimal(0)


def _int(value: Any, where: str, low: int, high: int, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: must be an integer in {low}..{high}")
        return low
    return value


def _strings(value: Any, where: str, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: must be a list of non-empty strings")
        return []
    return value


def _predicate(
    type_: str, params: Mapping[str, Any], where: str, problems: list[str]
) -> tuple[Predicate, Optional[str], tuple]:
    if type_ == "amount_above":
        limit = _decimal(params.get("amount"), f"{where}.params.amount", problems)
        return (lambda t, f: t.amount > limit), None, (type_, limit)
    if type_ == "round_amount_below":
        limit = _decimal(params.get("amount"), f"{where}.params.amount", problems)
        return (lambda t, f: t.amount < limit and t.amount == t.amount.to_integral_value()), None, (type_, limit)
    if type_ == "merchant_in":
        names = frozenset(normalise_text(m) for m in _strings(params.get("merchants"), f"{where}.params.merchants", problems))
        return (lambda t, f: normalise_text(t.merchant) in names), None, (type_, names)
    if type_ == "location_in":
        countries = frozenset(c.upper() for c in _strings(params.get("countries", []), f"{where}.params.countries", problems))
        for code in countries:
            if len(code) != 2 or not code.isalpha():
                problems.append(f"{where}.params.countries: {code!r} is not an ISO 3166 alpha-2 code")
        places = frozenset(normalise_text(p) for p in _strings(params.get("locations", []), f"{where}.params.locations", problems))
        located: Predicate = lambda t, f: t.country in countries or normalise_text(t.location) in places  # noqa: E731
        return located, None, (type_, countries, places)
    if type_ == "card_checksum_failed":
        return (lambda t, f: not t.card_luhn_valid), None, (type_,)
    # type_ == "feature": one condition, or {"all": [conditions]} that must all hold.
    conditions = params.get("all") if "all" in params else [params]
    if not isinstance(conditions, list) or not conditions:
        problems.append(f"{where}.params.all: must be a non-empty list of conditions")
        conditions = []
    checks: list[tuple[str, Callable[[float, float], bool], float]] = []
    ops: list[str] = []
    for number, condition in enumerate(conditions):
        at = f"{where}.params" + (f".all[{number}]" if "all" in params else "")
        if not isinstance(condition, Mapping):
            problems.append(f"{at}: must be an object")
            continue
        checks.append(_condition(condition, at, problems))
        ops.append(str(condition.get("op")))
    first = checks[0][0] if checks else None
    spec = (type_, tuple((name, op, bound) for (name, _, bound), op in zip(checks, ops)))

    def fires(t: Transaction, f: Mapping[str, float]) -> bool:
        for name, compare, bound in checks:
            if not compare(f.get(name, 0.0), bound):
                return False
        return bool(checks)

    return fires, first, spec


def _condition(condition: Mapping[str, Any], at: str, problems: list[str]) -> tuple[str, Callable[[float, float], bool], float]:
    name, op, raw = condition.get("feature"), condition.get("op"), condition.get("value")
    if not isinstance(name, str) or not name:
        problems.append(f"{at}.feature: must be a feature name")
    elif name not in FEATURE_NAMES:
        problems.append(f"{at}.feature: unknown feature {name!r}")
    if op not in _OPS:
        problems.append(f"{at}.op: must be one of {sorted(_OPS)}")
    bound = 0.0
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        problems.append(f"{at}.value: must be a number")
    else:
        try:
            bound = float(raw)
        except ValueError:
            problems.append(f"{at}.value: must be a number")
    return str(name), _OPS.get(str(op), _OPS[">"]), bound


class RulesConfig:
    """Validated rules, weights and thresholds. Build with `load()` or `from_dict()`."""

    __slots__ = ("version", "rules", "review_threshold", "block_threshold", "alert_threshold",
                 "model_weight", "model_artifact", "small_amount", "burst_window_ms", "country_change_window_ms")

    def __init__(self, data: Mapping[str, Any]) -> None:
        problems: list[str] = []
        if not isinstance(data, Mapping):
            raise ConfigError("rules config: must be a JSON object")
        unknown = set(data) - {"version", "thresholds", "model", "features", "rules"}
        if unknown:
            problems.append(f"unknown top-level keys: {sorted(unknown)}")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            problems.append("version: must be a non-empty string")
        self.version = str(version)
        thresholds = data.get("thresholds") if isinstance(data.get("thresholds"), Mapping) else {}
        if not thresholds:
            problems.append("thresholds: must be an object with review, block and alert")
        self.review_threshold = _int(thresholds.get("review"), "thresholds.review", 1, 100, problems)
        self.block_threshold = _int(thresholds.get("block"), "thresholds.block", 1, 100, problems)
        self.alert_threshold = _int(thresholds.get("alert"), "thresholds.alert", 1, 100, problems)
        if self.review_threshold > self.block_threshold:
            problems.append("thresholds: review must be <= block")
        if self.alert_threshold < self.review_threshold:
            problems.append("thresholds: alert must be >= review (only flagged transactions alert)")
        model = data.get("model", {"weight": 0})
        if not isinstance(model, Mapping):
            problems.append("model: must be an object")
            model = {}
        self.model_weight = _int(model.get("weight"), "model.weight", 0, 100, problems)
        artifact = model.get("artifact")
        if artifact is not None and not (
            isinstance(artifact, str) and artifact.endswith(".json") and "/" not in artifact and "\\" not in artifact
        ):
            problems.append("model.artifact: must be a file name like model-v1.json (in fraud/models/)")
            artifact = None
        self.model_artifact = artifact
        if set(model) - {"weight", "artifact"}:
            problems.append(f"model: unknown keys {sorted(set(model) - {'weight', 'artifact'})}")
        raw_features = data.get("features", {})
        if not isinstance(raw_features, Mapping):
            problems.append("features: must be an object")
            raw_features = {}
        features = {**_DEFAULT_FEATURES, **raw_features}
        self.small_amount = _decimal(features["small_amount"], "features.small_amount", problems)
        self.burst_window_ms = _int(features["burst_window_ms"], "features.burst_window_ms", 1, 86_400_000, problems)
        self.country_change_window_ms = _int(
            features["country_change_window_ms"], "features.country_change_window_ms", 1, 86_400_000, problems
        )
        self.rules = tuple(self._rules(data.get("rules"), problems))
        if problems:
            raise ConfigError("invalid rules config:\n  " + "\n  ".join(problems))

    @staticmethod
    def _rules(raw: Any, problems: list[str]) -> list[Rule]:
        if not isinstance(raw, list) or not raw:
            problems.append("rules: must be a non-empty list")
            return []
        rules, seen = [], set()
        for index, entry in enumerate(raw):
            where = f"rules[{index}]"
            if not isinstance(entry, Mapping):
                problems.append(f"{where}: must be an object")
                continue
            extra = set(entry) - {"code", "type", "weight", "params", "description"}
            if extra:
                problems.append(f"{where}: unknown keys {sorted(extra)}")
            code, type_, description = entry.get("code"), entry.get("type"), entry.get("description")
            if not isinstance(code, str) or not code.replace("_", "").isalnum() or not code.isupper():
                problems.append(f"{where}.code: must be an UPPER_SNAKE_CASE string")
            elif code in seen:
                problems.append(f"{where}.code: duplicate code {code}")
            seen.add(code)
            weight = _int(entry.get("weight"), f"{where}.weight", 0, 100, problems)
            if type_ not in RULE_TYPES:
                problems.append(f"{where}.type: must be one of {list(RULE_TYPES)}")
                continue
            if not isinstance(description, str) or not description:
                problems.append(f"{where}.description: must be a non-empty string")
                description = str(code)
            try:
                description.format(**_TEMPLATE_FIELDS)
            except (KeyError, IndexError, ValueError) as exc:
                problems.append(f"{where}.description: bad template ({exc!r})")
                description = str(code)
            params = entry.get("params", {})
            if not isinstance(params, Mapping):
                problems.append(f"{where}.params: must be an object")
                params = {}
            fires, feature, spec = _predicate(type_, params, where, problems)
            rules.append(Rule(str(code), type_, weight, description, feature, fires, spec))
        return rules

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RulesConfig":
        return cls(data)

    @classmethod
    def load(cls, path: Union[str, Path, None] = None) -> "RulesConfig":
        """Load and validate a rules file (default: the bundled rules.json)."""
        source = Path(path) if path is not None else DEFAULT_PATH
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read rules config {source}: {exc}") from exc
        return cls(data)

    def decide(self, score: int) -> str:
        if score >= self.block_threshold:
            return "block"
        if score >= self.review_threshold:
            return "review"
        return "approve"

    def should_alert(self, score: int) -> bool:
        return score >= self.alert_threshold
