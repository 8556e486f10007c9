"""Behaviour features of one transaction, computed from the state *before* it.

Only events that sort strictly before the transaction in (event_time,
transaction_id) order are used, so a replay, an out-of-order insert or a
later event never changes a score, and a transaction never sees itself.

Window edges (W = 1h, 1d, 7d, 30d): an earlier event at time e is in the
window of a transaction at time t when `0 <= t - e < W` -- an event exactly W
old is out, one at the same millisecond (sorting before) is in.

Merchant counts use whole clock hours: the window W covers the W/1h hours
*before* the transaction's own hour (hour = event_time // 3,600,000), so
they never depend on traffic later in the same hour.

Labels count only once they have arrived: a label is visible to a
transaction at t when `labelled_at <= t` (inclusive), never the
transaction's own label. Merchant fraud windows are by transaction time, so
with a label delay of d days a window of W days only holds labels of its
transactions older than d (the 30-day share is the useful one for a 7-day
delay).

Card-history features (`card_new_merchant`, `card_new_country`,
`card_country_change`, `card_small_burst`, amount ratios) look at the card's
retained history: at most 200 events within 30 days.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import TYPE_CHECKING, Optional

from .models import Transaction
from .state import DAY_MS, HISTORY_MS, HOUR_MS, EventState, MerchantState

if TYPE_CHECKING:  # rules_config imports FEATURE_NAMES from here
    from .rules_config import RulesConfig

WINDOWS = (("1h", HOUR_MS), ("1d", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS))
MERCHANT_WINDOWS = (("1d", 24), ("7d", 7 * 24), ("30d", 30 * 24))  # in hours
_LIMITS = tuple(ms for _, ms in WINDOWS)
_MERCHANT_LIMITS = tuple(hours * HOUR_MS for _, hours in MERCHANT_WINDOWS)


def _names() -> tuple[str, ...]:
    names = ["amount", "amount_log", "amount_whole", "card_luhn_fail", "country_unknown"]
    for prefix in ("card", "cust"):
        for label, _ in WINDOWS:
            names += [f"{prefix}_count_{label}", f"{prefix}_sum_{label}", f"{prefix}_mean_{label}"]
    names += [
        "card_first_use", "card_amount_ratio", "card_amount_max_ratio", "card_new_merchant",
        "card_new_country", "card_country_change", "card_small_burst", "card_hours_since_last", "card_fraud_labels",
        "cust_known",
    ]
    for label, _ in MERCHANT_WINDOWS:
        names += [f"merch_count_{label}", f"merch_fraud_{label}", f"merch_fraud_share_{label}"]
    return tuple(names)


FEATURE_NAMES = _names()


_KEYS = {
    prefix: tuple((f"{prefix}_count_{label}", f"{prefix}_sum_{label}", f"{prefix}_mean_{label}") for label, _ in WINDOWS)
    for prefix in ("card", "cust")
}


def _windows(state: Optional[EventState], end: int, t: int, out: dict[str, float], prefix: str) -> tuple[int, list]:
    """Count, sum and mean of amount (currency units) over the WINDOWS.

    Returns (start index of the 30-day window, its amounts in cents) for further features.
    """
    keys = _KEYS[prefix]
    if state is None or not end:
        for count_key, sum_key, mean_key in keys:
            out[count_key] = out[sum_key] = out[mean_key] = 0.0
        return end, []
    times = state.times()
    # In a window W when 0 <= t - time < W, i.e. time > t - W: bisect_right finds the first such event.
    start = bisect_right(times, t - HISTORY_MS, 0, end)
    cents = [row[1] for row in state.events[start:end]]
    for (count_key, sum_key, mean_key), limit in zip(keys, _LIMITS):
        part = cents[bisect_right(times, t - limit, start, end) - start:]
        count, total = len(part), sum(part) / 100.0
        out[count_key] = float(count)
        out[sum_key] = total
        out[mean_key] = total / count if count else 0.0
    return start, cents


def _arrived(labels: list, t: int, own: str) -> int:
    """Fraud labels visible at t (arrived, not the transaction's own)."""
    hits = 0
    for txn_id, _, labelled_at in labels:
        if labelled_at <= t and txn_id != own:
            hits += 1
    return hits


def _arrived_by_window(labels: list, t: int, own: str) -> list[int]:
    """Visible fraud labels per MERCHANT_WINDOWS, by transaction time (0 <= t - event_time < W), one pass."""
    hits = [0] * len(MERCHANT_WINDOWS)
    for txn_id, event_time, labelled_at in labels:
        if labelled_at <= t and txn_id != own:
            age = t - event_time
            for level, limit in enumerate(_MERCHANT_LIMITS):
                if 0 <= age < limit:
                    hits[level] += 1
    return hits


def compute(
    txn: Transaction,
    card: EventState,
    cust: Optional[EventState],
    merch: MerchantState,
    merchant_hash: int,
    rules: RulesConfig,
) -> dict[str, float]:
    t = txn.event_time
    own = txn.transaction_id
    cents = int(txn.amount * 100)
    amount = cents / 100.0
    small_cents = int(rules.small_amount * 100)
    out: dict[str, float] = {
        "amount": amount,
        "amount_log": math.log1p(amount),
        "amount_whole": 1.0 if cents % 100 == 0 else 0.0,
        "card_luhn_fail": 0.0 if txn.card_luhn_valid else 1.0,
        "country_unknown": 0.0 if txn.country else 1.0,
    }

    end = card.prior(t, own)
    start, prior_cents = _windows(card, end, t, out, "card")
    window = card.events[start:end]
    burst = 1 if cents <= small_cents else 0
    if window:
        times = card.times()
        last_age: Optional[int] = t - window[-1][0]
        new_merchant = 0.0 if merchant_hash in [row[2] for row in window] else 1.0
        countries = [row[3] for row in window]
        new_country = 1.0 if txn.country and txn.country not in countries else 0.0
        max_cents = max(prior_cents)
        recent = countries[bisect_right(times, t - rules.country_change_window_ms, start, end) - start:]
        country_change = 1.0 if txn.country and any(c and c != txn.country for c in recent) else 0.0
        burst_from = bisect_right(times, t - rules.burst_window_ms, start, end) - start
        burst += sum(1 for c in prior_cents[burst_from:] if c <= small_cents)
    else:
        last_age, new_merchant, new_country, max_cents, country_change = None, 1.0, 0.0, 0, 0.0
    mean = out["card_mean_30d"]
    out["card_first_use"] = 1.0 if last_age is None else 0.0
    out["card_amount_ratio"] = amount / mean if mean > 0 else 1.0
    out["card_amount_max_ratio"] = cents / max_cents if max_cents else 1.0
    out["card_new_merchant"] = new_merchant
    out["card_new_country"] = new_country
    out["card_country_change"] = country_change
    out["card_small_burst"] = float(burst)
    out["card_hours_since_last"] = (last_age if last_age is not None else HISTORY_MS) / HOUR_MS
    out["card_fraud_labels"] = float(_arrived(card.labels, t, own))

    _windows(cust, cust.prior(t, own) if cust is not None else 0, t, out, "cust")
    out["cust_known"] = 1.0 if cust is not None else 0.0

    hour = t // HOUR_MS
    frauds = _arrived_by_window(merch.labels, t, own)
    for (label, span), fraud in zip(MERCHANT_WINDOWS, frauds):
        count = merch.count_between(hour - span, hour)
        out[f"merch_count_{label}"] = float(count)
        out[f"merch_fraud_{label}"] = float(fraud)
        out[f"merch_fraud_share_{label}"] = fraud / max(count, fraud) if fraud else 0.0
    return out
