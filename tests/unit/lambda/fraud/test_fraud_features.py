"""Every feature window edge: inclusive/exclusive boundaries, ties, late labels, replays."""
from __future__ import annotations

from typing import Any

import pytest

from fraud.engine import FraudEngine, InMemoryStateStore
from fraud.features import FEATURE_NAMES, WINDOWS, Features
from fraud.models import Transaction
from fraud.state import DAY_MS, HOUR_MS
from fraud_factories import make_txn

ENGINE = FraudEngine()
T = 1_700_002_800_000  # 2023-11-14T23:00:00Z: the start of an hour
MINUTE = 60_000


def run(*txns: Transaction, store: Any = None) -> dict[str, float]:
    """Assess `txns` one by one; features of the last one."""
    store = store if store is not None else InMemoryStateStore()
    result = None
    for txn in txns:
        [result] = ENGINE.assess_batch([txn], store)
    assert result is not None
    return dict(result.features)


def tx(n: int, at: int, **kw: Any) -> Transaction:
    return make_txn(transaction_id=kw.pop("tid", f"txn-{n:08d}"), event_time=at, **kw)


def test_all_features_are_computed_and_named() -> None:
    assert set(run(tx(1, T))) == set(FEATURE_NAMES)


@pytest.mark.parametrize("label, width", WINDOWS)
def test_card_and_customer_windows_are_half_open(label: str, width: int) -> None:
    exactly = run(tx(1, T - width, amount="30"), tx(2, T))
    inside = run(tx(1, T - width + 1, amount="30"), tx(2, T))
    for prefix in ("card", "cust"):
        assert exactly[f"{prefix}_count_{label}"] == 0.0 and exactly[f"{prefix}_sum_{label}"] == 0.0
        assert inside[f"{prefix}_count_{label}"] == 1.0 and inside[f"{prefix}_sum_{label}"] == 30.0
        assert inside[f"{prefix}_mean_{label}"] == 30.0


def test_windows_nest_sums_and_means() -> None:
    f = run(tx(1, T - 20 * DAY_MS, amount="100"), tx(2, T - 2 * DAY_MS, amount="40"),
            tx(3, T - 2 * HOUR_MS, amount="20"), tx(4, T - MINUTE, amount="10"), tx(5, T, amount="5"))
    assert [f[f"card_count_{w}"] for w, _ in WINDOWS] == [1.0, 2.0, 3.0, 4.0]
    assert [f[f"card_sum_{w}"] for w, _ in WINDOWS] == [10.0, 30.0, 70.0, 170.0]
    assert f["card_mean_30d"] == 42.5 and f["card_mean_1h"] == 10.0
    assert f["card_amount_ratio"] == 5 / 42.5 and f["card_amount_max_ratio"] == 5 / 100


def test_same_millisecond_ties_are_ordered_by_transaction_id() -> None:
    store = InMemoryStateStore()
    later_id, earlier_id = tx(0, T, tid="txn-b"), tx(0, T, tid="txn-a")
    ENGINE.assess_batch([later_id], store)  # arrives first, but sorts after txn-a
    assert run(earlier_id, store=store)["card_count_1h"] == 0.0
    assert ENGINE.assess_batch([later_id], store)[0].features["card_count_1h"] == 1.0


def test_out_of_order_arrival_only_sees_the_past() -> None:
    store = InMemoryStateStore()
    run(tx(2, T + MINUTE), store=store)
    assert run(tx(1, T), store=store)["card_count_1h"] == 0.0


def test_no_customer_means_zero_customer_features() -> None:
    f = run(tx(1, T - MINUTE, customer_id=None), tx(2, T, customer_id=None))
    assert f["cust_known"] == 0.0 and f["cust_count_1d"] == 0.0 and f["card_count_1d"] == 1.0


def test_first_use_and_no_history_defaults() -> None:
    f = run(tx(1, T))
    assert (f["card_first_use"], f["card_amount_ratio"], f["card_amount_max_ratio"]) == (1.0, 1.0, 1.0)
    assert (f["card_new_merchant"], f["card_new_country"], f["card_hours_since_last"]) == (1.0, 0.0, 720.0)
    assert run(tx(1, T - 30 * DAY_MS), tx(2, T))["card_first_use"] == 1.0  # 30 days old is forgotten


def test_new_merchant_and_country() -> None:
    same = run(tx(1, T - DAY_MS, merchant="Corner  SHOP"), tx(2, T, merchant="corner shop"))
    assert same["card_new_merchant"] == 0.0 and same["card_new_country"] == 0.0
    other = run(tx(1, T - DAY_MS), tx(2, T, merchant="Elsewhere", country="FR"))
    assert other["card_new_merchant"] == 1.0 and other["card_new_country"] == 1.0
    assert other["card_hours_since_last"] == 24.0
    unknown = run(tx(1, T - DAY_MS), tx(2, T, country=""))
    assert unknown["card_new_country"] == 0.0


@pytest.mark.parametrize("age, change", [(HOUR_MS, 0.0), (HOUR_MS - 1, 1.0), (0, 1.0)])
def test_country_change_window(age: int, change: float) -> None:
    f = run(tx(1, T - age, country="US"), tx(2, T, country="NG"))
    assert f["card_country_change"] == change


def test_country_change_ignores_unknown_and_same_country() -> None:
    assert run(tx(1, T - MINUTE, country=""), tx(2, T, country="NG"))["card_country_change"] == 0.0
    assert run(tx(1, T - MINUTE, country="NG"), tx(2, T, country="NG"))["card_country_change"] == 0.0


def test_small_burst_counts_this_one_and_the_window_is_half_open() -> None:
    small = [tx(i, T - 10 * MINUTE + i, amount="1.00") for i in range(3)]  # the first is exactly 10 min old
    f = run(*small, tx(9, T, amount="10.00"))
    assert f["card_small_burst"] == 3.0  # two prior small + this one (10.00 is "small": <=)
    assert run(*small, tx(9, T, amount="10.01"))["card_small_burst"] == 2.0


@pytest.mark.parametrize(
    "hours_before, in_1d, in_7d",
    [(0, 0.0, 0.0), (1, 1.0, 1.0), (24, 1.0, 1.0), (25, 0.0, 1.0), (168, 0.0, 1.0), (169, 0.0, 0.0)],
)
def test_merchant_counts_use_whole_previous_hours(hours_before: int, in_1d: float, in_7d: float) -> None:
    # Another card at the same merchant, somewhere inside an earlier (or the same) clock hour.
    other = make_txn(transaction_id="other-001", event_time=T - hours_before * HOUR_MS + 59 * MINUTE * (hours_before == 0),
                     card_fingerprint="e" * 64, customer_id="C2")
    f = run(other, tx(1, T + 59 * MINUTE))
    assert (f["merch_count_1d"], f["merch_count_7d"]) == (in_1d, in_7d)


def test_merchant_counts_out_of_order_inserts() -> None:
    store = InMemoryStateStore()
    for i, hours in enumerate((3, 1, 2, 2)):  # later hour first, then earlier ones
        ENGINE.assess_batch([make_txn(transaction_id=f"m-{i:06d}", event_time=T - hours * HOUR_MS,
                                      card_fingerprint=f"{i:064d}", customer_id=None)], store)
    assert run(tx(1, T), store=store)["merch_count_1d"] == 4.0


def labelled(store: InMemoryStateStore, n: int, at: int, labelled_at: int, **kw: Any) -> Transaction:
    txn = make_txn(transaction_id=f"lab-{n:06d}", event_time=at, card_fingerprint=kw.pop("card", f"{n:064d}"),
                   customer_id=None, **kw)
    ENGINE.assess_batch([txn], store)
    ENGINE.record_label(txn, "fraud", labelled_at, store)
    return txn


@pytest.mark.parametrize("arrival, seen", [(T, 1.0), (T + 1, 0.0), (T - DAY_MS, 1.0)])
def test_labels_count_only_once_arrived(arrival: int, seen: float) -> None:
    store = InMemoryStateStore()
    labelled(store, 1, T - 2 * DAY_MS, arrival)
    f = run(tx(1, T), store=store)
    assert f["merch_fraud_30d"] == seen and f["merch_fraud_7d"] == seen


def test_merchant_fraud_window_by_transaction_time_and_share() -> None:
    store = InMemoryStateStore()
    labelled(store, 1, T - 30 * DAY_MS, T - DAY_MS)  # exactly 30 days old: out
    labelled(store, 2, T - 30 * DAY_MS + 1, T - DAY_MS)  # in the 30-day window only
    labelled(store, 3, T - 2 * DAY_MS, T - DAY_MS)
    for i in range(5):
        ENGINE.assess_batch([make_txn(transaction_id=f"ok-{i:06d}", event_time=T - 3 * DAY_MS,
                                      card_fingerprint=f"9{i:063d}", customer_id=None)], store)
    f = run(tx(1, T), store=store)
    assert (f["merch_fraud_30d"], f["merch_fraud_7d"], f["merch_fraud_1d"]) == (2.0, 1.0, 0.0)
    # Counts are by whole hours: the 720 hours before T's hour include the exactly-30-day-old one.
    assert f["merch_count_30d"] == 8.0
    assert f["merch_fraud_share_30d"] == pytest.approx(2 / 8) and f["merch_fraud_share_7d"] == pytest.approx(1 / 6)


def test_card_label_never_counts_its_own_transaction() -> None:
    store = InMemoryStateStore()
    first = labelled(store, 1, T - DAY_MS, T - HOUR_MS, card="f" * 64)
    assert run(tx(1, T), store=store)["card_fraud_labels"] == 1.0
    # A replay of the labelled transaction itself, after its label arrived, scores as before.
    assert ENGINE.assess_batch([first], store)[0].features["card_fraud_labels"] == 0.0


def test_replay_after_label_arrival_scores_identically() -> None:
    store = InMemoryStateStore()
    a, b = tx(1, T), tx(2, T + MINUTE)
    before = ENGINE.assess_batch([a, b], store)
    ENGINE.record_label(a, "fraud", T + 2 * MINUTE, store)
    assert ENGINE.assess_batch([b, a], store) == [before[1], before[0]]


def test_features_read_as_a_name_to_value_mapping() -> None:
    [a] = ENGINE.assess_batch([tx(1, T, amount="12.00")], InMemoryStateStore())
    features = a.features
    assert isinstance(features, Features) and len(features) == len(FEATURE_NAMES) == len(features.vector)
    assert list(features) == list(FEATURE_NAMES) and features["amount"] == 12.0 == features.get("amount")
    assert "amount" in features and "shoe_size" not in features and features.get("shoe_size", -1.0) == -1.0
    with pytest.raises(KeyError):
        features["shoe_size"]
    assert features == dict(features) and dict(features) == features and "card_count_1h" in repr(features)
    assert all(type(v) is float for v in features.values())
