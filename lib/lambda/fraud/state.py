"""Per-card, per-customer and per-merchant state documents.

Documents are plain dicts of ints, strs and lists (DynamoDB- and JSON-safe;
numbers read back as Decimal are converted on load). Every document has an
integer `version` (optimistic concurrency) and `expires_at` (epoch seconds,
DynamoDB TTL). Shapes and bounds:

- `CARD#<fingerprint>`: `events` `[[event_time_ms, amount_cents, merchant_hash,
  country, transaction_id], ...]` sorted by (event_time, transaction_id), the
  most recent `EVENT_CAP` (200) within `RETAIN_MS` (30 days of feature
  horizon + 2 days of replay slack) of the newest;
  `labels` `[[transaction_id, event_time_ms, labelled_at_ms], ...]` confirmed
  fraud on this card, at most `LABEL_CAP`.
- `CUST#<customer_id>`: `events` `[[event_time_ms, amount_cents, transaction_id]]`,
  same bounds.
- `MERCH#<normalised merchant>`: `hours` `[[hour_index, count, running_total],
  ...]` (hour_index = event_time // 1h; running_total counts every bucket up
  to this one, so a window is a difference of two totals) for the last 32
  days (<= 769 buckets) and `labels` like the card's, at most
  `MERCHANT_LABEL_CAP`.

A transaction is "applied" once it is in its card's `events`; the engine
writes card, customer and merchant documents in one atomic commit, so the
card list is the replay marker for all three. Replays are recognised, and
score identically, while the transaction is still inside its card's retained
history (2 days of slack beyond the 30-day horizon; a card with more than
200 events in that span loses its oldest ones first).

Loaded lists are never mutated in place (an in-memory store may hand out its
own objects): a state copies a list the first time it changes it.
"""
from __future__ import annotations

import zlib
from bisect import bisect_left, insort
from typing import Any, Mapping, Optional

from .reference import normalise_text

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
HISTORY_MS = 30 * DAY_MS
EVENT_CAP = 200
LABEL_CAP = 50
MERCHANT_LABEL_CAP = 500
# Kept beyond the 30-day feature horizon so a replay (stream retention is 24 h)
# or a late event still finds everything its own 30-day window needs.
REPLAY_SLACK_MS = 2 * DAY_MS
RETAIN_MS = HISTORY_MS + REPLAY_SLACK_MS
TTL_SLACK_MS = DAY_MS


def card_key(fingerprint: str) -> str:
    return f"CARD#{fingerprint}"


def customer_key(customer_id: str) -> str:
    return f"CUST#{customer_id}"


def merchant_key(merchant: str) -> str:
    return f"MERCH#{normalise_text(merchant)}"


def merchant_hash(merchant: str) -> int:
    """Compact per-card merchant identity (for 'first use of a merchant')."""
    return zlib.crc32(normalise_text(merchant).encode("utf-8"))


def _ints(rows: Any, int_columns: tuple[int, ...]) -> list[list[Any]]:
    """Rows as stored; Decimal columns (DynamoDB) become ints once, at load."""
    if not rows:
        return []
    if type(rows[0][int_columns[0]]) is int:
        return rows  # already native (in-memory store): share, never mutate
    return [[int(v) if i in int_columns else v for i, v in enumerate(row)] for row in rows]


class _State:
    __slots__ = ("version", "expires_at", "changed")

    def __init__(self, doc: Optional[Mapping[str, Any]]) -> None:
        self.version: Optional[int] = int(doc["version"]) if doc else None
        self.expires_at = int(doc.get("expires_at", 0)) if doc else 0
        self.changed = False

    def _touch(self, time_ms: int) -> None:
        self.expires_at = max(self.expires_at, (time_ms + RETAIN_MS + TTL_SLACK_MS) // 1000)

    def _base(self) -> dict[str, Any]:
        return {"version": (self.version or 0) + 1, "expires_at": self.expires_at}


class EventState(_State):
    """Card or customer history; `id_col` is where the transaction id sits in a row."""

    __slots__ = ("events", "labels", "id_col", "_ids", "_owned")

    def __init__(self, doc: Optional[Mapping[str, Any]], id_col: int) -> None:
        super().__init__(doc)
        self.id_col = id_col
        int_cols = (0, 1, 2) if id_col == 4 else (0, 1)
        self.events = _ints(doc.get("events"), int_cols) if doc else []
        self.labels = _ints(doc.get("labels"), (1, 2)) if doc else []
        self._ids: Optional[set[str]] = None
        self._owned = False

    def has(self, transaction_id: str) -> bool:
        if self._ids is None:
            col = self.id_col
            self._ids = {row[col] for row in self.events}
        return transaction_id in self._ids

    def prior(self, event_time: int, transaction_id: str) -> int:
        """Index one past the last event strictly before (event_time, transaction_id)."""
        col = self.id_col
        return bisect_left(self.events, (event_time, transaction_id), key=lambda r: (r[0], r[col]))

    def add(self, row: list[Any]) -> None:
        if not self._owned:
            self.events, self._owned = list(self.events), True
        col = self.id_col
        insort(self.events, row, key=lambda r: (r[0], r[col]))
        if self._ids is not None:
            self._ids.add(row[col])
        self._touch(row[0])
        self.changed = True

    def set_label(self, transaction_id: str, event_time: int, labelled_at: int, fraud: bool) -> None:
        present = any(row[0] == transaction_id for row in self.labels)
        if fraud == present:
            return  # idempotent: the label is already recorded as it is
        if fraud:
            self.labels = (self.labels + [[transaction_id, event_time, labelled_at]])[-LABEL_CAP:]
        else:
            self.labels = [row for row in self.labels if row[0] != transaction_id]
        self._touch(labelled_at)
        self.changed = True

    def to_document(self) -> dict[str, Any]:
        events = self.events
        if events:
            oldest = events[-1][0] - RETAIN_MS
            start = bisect_left(events, oldest, key=lambda r: r[0])
            events = events[max(start, len(events) - EVENT_CAP):]
        doc = self._base()
        # No copies: these lists are either fresh or owned by this (discarded) state,
        # and nobody mutates a list once it is in a document.
        doc["events"] = events
        doc["labels"] = self.labels
        return doc


class MerchantState(_State):
    """Hourly transaction counts with running totals, so a window count is two bisects."""

    __slots__ = ("hours", "labels", "_owned")

    def __init__(self, doc: Optional[Mapping[str, Any]]) -> None:
        super().__init__(doc)
        # rows: [hour_index, count, running_total_including_this_hour]
        self.hours = _ints(doc.get("hours"), (0, 1, 2)) if doc else []
        self.labels = _ints(doc.get("labels"), (1, 2)) if doc else []
        self._owned = False

    def _before(self, hour: int) -> int:
        """Running total of all buckets before `hour`."""
        hours = self.hours
        index = bisect_left(hours, hour, key=lambda r: r[0])
        if index:
            return hours[index - 1][2]
        return hours[0][2] - hours[0][1] if hours else 0

    def count_between(self, first_hour: int, end_hour: int) -> int:
        """Transactions in hour buckets first_hour <= hour < end_hour."""
        return self._before(end_hour) - self._before(first_hour) if self.hours else 0

    def add(self, event_time: int) -> None:
        hour = event_time // HOUR_MS
        if not self._owned:
            self.hours, self._owned = list(self.hours), True
        hours = self.hours
        # Rows are replaced, never changed in place: loaded rows are shared.
        if not hours or hour > hours[-1][0]:  # the common, in-order case
            hours.append([hour, 1, (hours[-1][2] if hours else 0) + 1])
        elif hour == hours[-1][0]:
            hours[-1] = [hour, hours[-1][1] + 1, hours[-1][2] + 1]
        else:  # out of order: bump this bucket and every later running total
            index = bisect_left(hours, hour, key=lambda r: r[0])
            if hours[index][0] != hour:
                base = hours[index - 1][2] if index else hours[0][2] - hours[0][1]
                hours.insert(index, [hour, 0, base])
            for i in range(index, len(hours)):
                h, count, total = hours[i]
                hours[i] = [h, count + (i == index), total + 1]
        self._touch(event_time)
        self.changed = True

    def set_label(self, transaction_id: str, event_time: int, labelled_at: int, fraud: bool) -> None:
        present = any(row[0] == transaction_id for row in self.labels)
        if fraud == present:
            return
        if fraud:
            self.labels = (self.labels + [[transaction_id, event_time, labelled_at]])[-MERCHANT_LABEL_CAP:]
        else:
            self.labels = [row for row in self.labels if row[0] != transaction_id]
        self._touch(labelled_at)
        self.changed = True

    def to_document(self) -> dict[str, Any]:
        hours = self.hours
        if hours:
            first = hours[-1][0] - RETAIN_MS // HOUR_MS
            if hours[0][0] < first:
                hours = hours[bisect_left(hours, first, key=lambda r: r[0]):]
        labels = self.labels
        if labels and hours:
            # A label only counts in windows of its transaction's time: older ones are dead weight.
            horizon = hours[-1][0] * HOUR_MS - RETAIN_MS
            if any(row[1] < horizon for row in labels):
                labels = [row for row in labels if row[1] >= horizon]
        doc = self._base()
        doc["hours"] = hours  # fresh or owned; never mutated once in a document
        doc["labels"] = labels
        return doc
