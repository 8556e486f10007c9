from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud.features import FEATURE_NAMES, Features
from fraud.rules_config import DEFAULT_PATH, ConfigError, Rule, RulesConfig
from fraud.scoring import Scorer, _fit, compile_rules, score
from fraud_factories import make_txn

RULES = RulesConfig.load()
BASE = json.loads(DEFAULT_PATH.read_text())


def codes(amount: str = "20.50", **kw: Any) -> set[str]:
    return {r.code for r in score(make_txn(amount=amount, **kw), {}, RULES).reasons}


@pytest.mark.parametrize(
    "amount, fires",
    [("10000", False), ("10000.00", False), ("10000.01", True), ("9999.99", False), ("15000", True)],
)
def test_high_amount_is_strictly_greater_than_10000(amount: str, fires: bool) -> None:
    assert ("HIGH_AMOUNT" in codes(amount)) is fires


@pytest.mark.parametrize(
    "amount, fires",
    [("49.00", True), ("49", True), ("49.50", False), ("50.00", False), ("50", False),
     ("1.00", True), ("0.99", False), ("10", True), ("49.99", False), ("60.00", False)],
)
def test_round_small_amount_is_whole_and_strictly_under_50(amount: str, fires: bool) -> None:
    assert ("ROUND_SMALL_AMOUNT" in codes(amount)) is fires


@pytest.mark.parametrize(
    "merchant, fires",
    [("Scam Store", True), ("  scam   STORE ", True), ("Scam-Store!", True), ("Scam Stores", False), ("Store", False)],
)
def test_blacklisted_merchant_is_normalised(merchant: str, fires: bool) -> None:
    assert ("BLACKLISTED_MERCHANT" in codes(merchant=merchant)) is fires


@pytest.mark.parametrize("country, fires", [("NG", True), ("KP", True), ("US", False), ("", False)])
def test_high_risk_location(country: str, fires: bool) -> None:
    assert ("HIGH_RISK_LOCATION" in codes(country=country)) is fires


def test_luhn_failure_is_a_modest_reason() -> None:
    a = score(make_txn(card_luhn_valid=False), {}, RULES)
    assert [(r.code, r.contribution) for r in a.reasons] == [("CARD_CHECKSUM_FAILED", 10)]
    assert a.decision == "approve"


def test_spec_examples() -> None:
    ok = score(make_txn(amount="125.50", merchant="Store Name", location="New York, USA", country="US",
                        card_luhn_valid=False), {}, RULES)
    assert ok.decision == "approve" and not ok.flagged and not RULES.should_alert(ok.risk_score)
    bad = score(make_txn(amount="15000.00", merchant="Unknown Store", location="Nigeria", country="NG",
                         customer_id=None, card_luhn_valid=False), {}, RULES)
    assert bad.decision == "block" and RULES.should_alert(bad.risk_score)
    assert {r.code for r in bad.reasons} == {"HIGH_AMOUNT", "HIGH_RISK_LOCATION", "CARD_CHECKSUM_FAILED"}
    assert "15000.00 USD" in bad.reasons[0].description


def test_contributions_sum_to_score_and_clamp_at_100() -> None:
    a = score(make_txn(amount="20000", merchant="Scam Store", country="NG", card_luhn_valid=False), {}, RULES)
    assert a.risk_score == 100 == sum(r.contribution for r in a.reasons)
    assert len(a.reasons) == 4 and all(r.contribution > 0 for r in a.reasons)
    assert [r.contribution for r in a.reasons] == sorted((r.contribution for r in a.reasons), reverse=True)


@pytest.mark.parametrize(
    "weights, total, expected",
    [([10, 20], 100, [10, 20]), ([70, 45, 30, 10], 100, [45, 29, 19, 7]), ([50, 50, 50], 100, [34, 33, 33])],
)
def test_fit(weights: list[int], total: int, expected: list[int]) -> None:
    assert _fit(weights, total) == expected and sum(_fit(weights, total)) == min(total, sum(weights))


class FixedModel:
    version = "model-test"

    def __init__(self, p: float) -> None:
        self.p = p

    def predict(self, features: Mapping[str, float]) -> float:
        return self.p


@pytest.mark.parametrize("p, points", [(0.0, 0), (0.5, 30), (1.0, 60), (7.0, 60), (-3.0, 0)])
def test_model_contribution_is_bounded(p: float, points: int) -> None:
    a = score(make_txn(), {}, RULES, FixedModel(p))
    assert a.risk_score == points and a.model_version == "rules-v1+model-test"
    assert [r.code for r in a.reasons] == (["MODEL_RISK"] if points else [])


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2),
    merchant=st.sampled_from(["Scam Store", "Corner Shop", "Fake Electronics"]),
    country=st.sampled_from(["NG", "US", "", "KP"]),
    luhn=st.booleans(),
    p=st.floats(allow_nan=False),
    feature=st.floats(allow_nan=False, allow_infinity=False),
)
def test_score_always_within_0_100(amount: Decimal, merchant: str, country: str, luhn: bool, p: float,
                                   feature: float) -> None:
    rules = RulesConfig.from_dict({**BASE, "rules": BASE["rules"] + [
        {"code": "VELOCITY", "type": "feature", "weight": 100, "description": "{value} seen",
         "params": {"feature": "card_count_1h", "op": ">=", "value": 3}}]})
    a = score(make_txn(amount=amount, merchant=merchant, country=country, card_luhn_valid=luhn),
              {"card_count_1h": feature}, rules, FixedModel(p))
    assert 0 <= a.risk_score <= 100
    assert a.risk_score == sum(r.contribution for r in a.reasons)
    assert a.decision == rules.decide(a.risk_score)


def test_decide_thresholds_inclusive() -> None:
    assert [RULES.decide(s) for s in (0, 39, 40, 69, 70, 100)] == \
        ["approve", "approve", "review", "review", "block", "block"]


def bad(mutate: Any) -> str:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ConfigError) as info:
        RulesConfig.from_dict(data)
    return str(info.value)


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(extra=1), "unknown top-level keys"),
        (lambda d: d["thresholds"].update(review=80), "review must be <= block"),
        (lambda d: d["thresholds"].update(alert=10), "alert must be >= review"),
        (lambda d: d["thresholds"].update(block=101), "thresholds.block"),
        (lambda d: d["thresholds"].update(block=True), "thresholds.block"),
        (lambda d: d.update(thresholds=[]), "thresholds"),
        (lambda d: d.update(model={"weight": -1}), "model.weight"),
        (lambda d: d.update(model=[]), "model: must be an object"),
        (lambda d: d.update(model={"weight": 10, "artifact": "../x.json"}), "model.artifact"),
        (lambda d: d.update(model={"weight": 10, "artifact": "model.pkl"}), "model.artifact"),
        (lambda d: d.update(model={"weight": 10, "colour": 1}), "model: unknown keys"),
        (lambda d: d.update(features=[]), "features: must be an object"),
        (lambda d: d["features"].update(burst_window_ms=0), "features.burst_window_ms"),
        (lambda d: d.update(rules=[]), "rules: must be a non-empty list"),
        (lambda d: d["rules"].append("x"), f"rules[{len(BASE['rules'])}]: must be an object"),
        (lambda d: d["rules"][0].update(type="nope"), "rules[0].type"),
        (lambda d: d["rules"][0].update(code="lower"), "rules[0].code"),
        (lambda d: d["rules"][1].update(code="HIGH_AMOUNT"), "duplicate code"),
        (lambda d: d["rules"][0].update(weight=150), "rules[0].weight"),
        (lambda d: d["rules"][0]["params"].update(amount="lots"), "rules[0].params.amount"),
        (lambda d: d["rules"][0]["params"].update(amount=-1), "rules[0].params.amount"),
        (lambda d: d["rules"][0].update(description="{nope}"), "rules[0].description"),
        (lambda d: d["rules"][0].update(colour="red"), "unknown keys"),
        (lambda d: d["rules"][1]["params"].update(merchants="Scam"), "params.merchants"),
        (lambda d: d["rules"][3]["params"].update(countries=["Nigeria"]), "alpha-2"),
        (lambda d: d["rules"].append({"code": "F", "type": "feature", "weight": 5, "description": "d",
                                      "params": {"feature": "", "op": "~", "value": "x"}}), "params.op"),
    ],
)
def test_config_errors_are_clear(mutate: Any, fragment: str) -> None:
    assert fragment in bad(mutate)


def test_config_reports_every_problem() -> None:
    message = bad(lambda d: (d.pop("version"), d["rules"][0].update(weight=-1)))
    assert "version" in message and "rules[0].weight" in message


def test_load_from_path_and_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "rules.json"
    good.write_text(json.dumps({**BASE, "version": "rules-x"}))
    assert RulesConfig.load(good).version == "rules-x"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="cannot read"):
        RulesConfig.load(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        RulesConfig.load(tmp_path / "missing.json")


EVERY_TYPE = RulesConfig.from_dict({**BASE, "rules": BASE["rules"] + [
    {"code": "LOCATION_TEXT", "type": "location_in", "weight": 7, "description": "{location}",
     "params": {"locations": ["Gotham City"]}},
    {"code": "QUIET", "type": "feature", "weight": 0, "description": "never counted",
     "params": {"feature": "amount", "op": ">", "value": 0}},
    {"code": "EXACT", "type": "feature", "weight": 3, "description": "{value}",
     "params": {"all": [{"feature": "card_count_1h", "op": "==", "value": 2},
                        {"feature": "amount_log", "op": "<", "value": "4.5"},
                        {"feature": "cust_sum_1d", "op": "<=", "value": 30}]}},
]})


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("20000"), places=2),
    merchant=st.sampled_from(["Scam Store", "Corner Shop", "SCAM  store!"]),
    place=st.sampled_from([("Lagos", "NG"), ("Boston, USA", "US"), ("Gotham City", ""), ("", "")]),
    luhn=st.booleans(),
    values=st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 0.05, 4.4, 250.0]),
                    min_size=len(FEATURE_NAMES), max_size=len(FEATURE_NAMES)),
    p=st.sampled_from([0.0, 0.004, 0.5, 0.9, 1.0]),
)
def test_prepared_scorer_matches_score(amount: Decimal, merchant: str, place: tuple, luhn: bool, values: list,
                                       p: float) -> None:
    txn = make_txn(amount=amount, merchant=merchant, location=place[0], country=place[1], card_luhn_valid=luhn)
    features = Features(tuple(values))
    by_name = dict(zip(FEATURE_NAMES, values))
    for rules in (RULES, EVERY_TYPE):
        assert Scorer(rules, FixedModel(p))(txn, features) == score(txn, by_name, rules, FixedModel(p))
        assert Scorer(rules, None)(txn, features) == score(txn, by_name, rules)


def test_a_rule_built_by_hand_is_asked_through_fires() -> None:
    hand = Rule("BY_HAND", "feature", 20, "by hand", None, lambda t, f: f["card_count_1h"] > 1)
    assert hand.spec is None and compile_rules([hand])(make_txn(), (), Features((2.0,) * len(FEATURE_NAMES))) == [0]
