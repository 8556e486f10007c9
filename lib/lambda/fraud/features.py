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
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional

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


INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


class Features(Mapping[str, float]):
    """Feature values by name (read-only), kept as one list in FEATURE_NAMES order.

    The engine, its rules and the model read `vector` by position; everyone else
    uses it as the name -> value mapping it has always been.
    """

    __slots__ = ("vector",)

    def __init__(self, vector: tuple[float, ...]) -> None:
        self.vector = vector

    def __getitem__(self, name: str) -> float:
        return self.vector[INDEX[name]]

    def get(self, name: str, default: Any = None) -> Any:
        index = INDEX.get(name)
        return default if index is None else self.vector[index]

    def __contains__(self, name: object) -> bool:
        return name in INDEX

    def __iter__(self) -> Iterator[str]:
        return iter(FEATURE_NAMES)

    def __len__(self) -> int:
        return len(FEATURE_NAMES)

    def __repr__(self) -> str:
        return f"Features({dict(zip(FEATURE_NAMES, self.vector))!r})"


_ZERO_WINDOWS = (0.0,) * (3 * len(WINDOWS))
_H1, _D1, _D7, _D30 = _LIMITS  # the WINDOWS, unrolled below


def _windows(state: Optional[EventState], end: int, t: int) -> tuple[int, tuple[float, ...]]:
    """Count, sum and mean of amount (currency units) over the WINDOWS, in FEATURE_NAMES order.

    Also returns the start index of the 30-day window. Sums are differences of the
    state's running cents totals: exact integers, divided by 100 once, as before.
    """
    if state is None or not end:
        return end, _ZERO_WINDOWS
    times, sums = state.times, state.sums
    # In a window W when 0 <= t - time < W, i.e. time > t - W: bisect_right finds the first such event.
    start = bisect_right(times, t - _D30, 0, end)
    top = sums[end]
    d7 = bisect_right(times, t - _D7, start, end)
    d1 = bisect_right(times, t - _D1, d7, end)
    h1 = bisect_right(times, t - _H1, d1, end)
    c1, s1 = end - h1, (top - sums[h1]) / 100.0
    c2, s2 = end - d1, (top - sums[d1]) / 100.0
    c3, s3 = end - d7, (top - sums[d7]) / 100.0
    c4, s4 = end - start, (top - sums[start]) / 100.0
    return start, (
        float(c1), s1, s1 / c1 if c1 else 0.0,
        float(c2), s2, s2 / c2 if c2 else 0.0,
        float(c3), s3, s3 / c3 if c3 else 0.0,
        float(c4), s4, s4 / c4 if c4 else 0.0,
    )


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
) -> Features:
    t, own = txn.event_time, txn.transaction_id
    return Features(vector(
        txn, int(txn.amount * 100), card, card.prior(t, own), cust, cust.prior(t, own) if cust is not None else 0,
        merch, merchant_hash, int(rules.small_amount * 100), rules.burst_window_ms, rules.country_change_window_ms,
    ))


def vector(
    txn: Transaction, cents: int, card: EventState, end: int, cust: Optional[EventState], cust_end: int,
    merch: MerchantState, merchant_hash: int, small_cents: int, burst_ms: int, change_ms: int,
) -> tuple[float, ...]:
    """The features in FEATURE_NAMES order; `end`/`cust_end` are the states' `prior` indexes of txn."""
    t = txn.event_time
    own = txn.transaction_id
    country = txn.country
    amount = cents / 100.0
    start, card_windows = _windows(card, end, t)
    burst = 1 if cents <= small_cents else 0
    if end > start:
        times, amounts = card.times, card.cents
        last_age: Optional[int] = t - times[end - 1]
        new_merchant = 0.0 if merchant_hash in card.hashes[start:end] else 1.0
        new_country = 1.0 if country and country not in card.countries[start:end] else 0.0
        max_cents = max(amounts[start:end])
        recent = card.countries[bisect_right(times, t - change_ms, start, end):end]
        country_change = 1.0 if country and recent and any(c and c != country for c in recent) else 0.0
        burst_from = bisect_right(times, t - burst_ms, start, end)
        if burst_from < end:
            burst += sum(1 for c in amounts[burst_from:end] if c <= small_cents)
    else:
        last_age, new_merchant, new_country, max_cents, country_change = None, 1.0, 0.0, 0, 0.0
    mean = card_windows[11]  # card_mean_30d
    hour = t // HOUR_MS
    f1, f7, f30 = _arrived_by_window(merch.labels, t, own) if merch.labels else _NO_FRAUD
    hours = merch.hours
    if hours:  # whole hours before the transaction's own: differences of running totals
        totals = merch.totals
        before = totals[0] - merch.counts[0]  # running total before the first bucket
        index = bisect_left(hours, hour)
        now = totals[index - 1] if index else before
        index = bisect_left(hours, hour - _M1, 0, index)
        m1 = now - (totals[index - 1] if index else before)
        index = bisect_left(hours, hour - _M7, 0, index)
        m7 = now - (totals[index - 1] if index else before)
        index = bisect_left(hours, hour - _M30, 0, index)
        m30 = now - (totals[index - 1] if index else before)
    else:
        m1 = m7 = m30 = 0
    # A tuple of floats: the garbage collector stops tracking it, and scored
    # transactions kept in memory (backtest, training) then cost it nothing.
    return (
        amount, math.log1p(amount), 1.0 if cents % 100 == 0 else 0.0, 0.0 if txn.card_luhn_valid else 1.0,
        0.0 if country else 1.0,
        *card_windows,
        *_windows(cust, cust_end, t)[1],
        1.0 if last_age is None else 0.0,
        amount / mean if mean > 0 else 1.0,
        cents / max_cents if max_cents else 1.0,
        new_merchant,
        new_country,
        country_change,
        float(burst),
        (last_age if last_age is not None else HISTORY_MS) / HOUR_MS,
        float(_arrived(card.labels, t, own)) if card.labels else 0.0,
        1.0 if cust is not None else 0.0,
        float(m1), float(f1), f1 / max(m1, f1) if f1 else 0.0,
        float(m7), float(f7), f7 / max(m7, f7) if f7 else 0.0,
        float(m30), float(f30), f30 / max(m30, f30) if f30 else 0.0,
    )


_NO_FRAUD = (0,) * len(MERCHANT_WINDOWS)
_M1, _M7, _M30 = (span for _, span in MERCHANT_WINDOWS)  # hours, unrolled above
