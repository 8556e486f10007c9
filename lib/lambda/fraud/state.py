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
- `MERCH#<normalised merchant>`: parallel columns `hours` (hour index =
  event_time // 1h), `counts` (transactions in that hour) and `totals`
  (running total up to and including it, so a window is a difference of two
  totals) for the last 32 days (<= 769 buckets), and `labels` like the
  card's, at most `MERCHANT_LABEL_CAP`.

A transaction is "applied" once it is in its card's `events`; the engine
writes card, customer and merchant documents in one atomic commit, so the
card list is the replay marker for all three. Replays are recognised, and
score identically, while the transaction is still inside its card's retained
history (2 days of slack beyond the 30-day horizon; a card with more than
200 events in that span loses its oldest ones first).

Loaded lists are never mutated in place (an in-memory store may hand out its
own objects): a state copies a list the first time it changes it. Columns an
EventState derives from its rows (times, running sums, ...) live only in memory.
"""
from __future__ import annotations

import zlib
from bisect import bisect_left
from itertools import accumulate
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
    """`version` (None: no document yet), `expires_at`, `changed`: set by each kind's __init__."""

    __slots__ = ("version", "expires_at", "changed")
    version: Optional[int]
    expires_at: int
    changed: bool

    def _touch(self, time_ms: int) -> None:
        expires_at = (time_ms + RETAIN_MS + TTL_SLACK_MS) // 1000
        if expires_at > self.expires_at:
            self.expires_at = expires_at

    def _base(self) -> dict[str, Any]:
        return {"version": (self.version or 0) + 1, "expires_at": self.expires_at}


class EventState(_State):
    """Card or customer history; `id_col` is where the transaction id sits in a row.

    Alongside the rows it keeps derived columns (never stored in the document):
    `times`, `cents`, `sums` (running total of cents before each row, one
    longer than the rows, so a window sum is two lookups) and, for cards,
    `hashes` (merchant) and `countries`, which it changes in place. `reload`
    starts a state over from a newer document with the same rows (labels or
    version moved on), keeping the columns: the engine keeps committed states
    for that, and takes one out while a batch changes it.
    """

    __slots__ = ("events", "labels", "id_col", "times", "cents", "sums", "hashes", "countries", "_owned")

    def __init__(self, doc: Optional[Mapping[str, Any]], id_col: int) -> None:
        self.changed = self._owned = False
        self.id_col = id_col
        if not doc:
            self.version, self.expires_at, self.events, self.labels = None, 0, [], []
        else:
            self.version, self.expires_at = int(doc["version"]), int(doc.get("expires_at", 0))
            labels = doc.get("labels")
            self.labels = _ints(labels, (1, 2)) if labels else []
            self.events = _ints(doc.get("events"), (0, 1, 2) if id_col == 4 else (0, 1))
        events = self.events
        if events:
            columns = list(zip(*events))  # one C-speed transpose instead of a pass per column
            self.times, self.cents = list(columns[0]), list(columns[1])
            self.sums = list(accumulate(self.cents, initial=0))
            self.hashes, self.countries = (list(columns[2]), list(columns[3])) if id_col == 4 else (None, None)
        else:
            self.times, self.cents, self.sums = [], [], [0]
            self.hashes, self.countries = ([], []) if id_col == 4 else (None, None)

    def reload(self, doc: Optional[Mapping[str, Any]]) -> bool:
        """Start over from `doc` if its rows are this state's own (same list); False otherwise."""
        if not doc or doc.get("events") is not self.events:
            return False
        self.version, self.expires_at = int(doc["version"]), int(doc.get("expires_at", 0))
        labels = doc.get("labels")
        self.labels = _ints(labels, (1, 2)) if labels else []
        self.changed = self._owned = False  # the rows are the document's now: copy before changing
        return True

    def prior(self, event_time: int, transaction_id: str) -> int:
        """Index one past the last event strictly before (event_time, transaction_id)."""
        times = self.times
        index = bisect_left(times, event_time)
        if index < len(times) and times[index] == event_time:  # ties: by transaction id
            events, col = self.events, self.id_col
            while index < len(events) and events[index][0] == event_time and events[index][col] < transaction_id:
                index += 1
        return index

    def applied_at(self, index: int, event_time: int, transaction_id: str) -> bool:
        """Is the transaction at `index` (its `prior`) this one, i.e. already applied?"""
        events = self.events
        return index < len(events) and events[index][0] == event_time and events[index][self.id_col] == transaction_id

    def has(self, event_time: int, transaction_id: str) -> bool:
        """Is this transaction already applied (the replay marker)?"""
        return self.applied_at(self.prior(event_time, transaction_id), event_time, transaction_id)

    def add(self, row: list[Any]) -> None:
        self.insert(self.prior(row[0], row[self.id_col]), row)

    def insert(self, index: int, row: list[Any]) -> None:
        """Insert `row` at `index`, which must be its `prior` position."""
        if not self._owned:  # the rows may be shared with the store; the columns are this state's own
            self.events, self._owned = list(self.events), True
        time_ms, cents, sums = row[0], row[1], self.sums
        if index == len(self.events):  # the common, in-order case
            self.events.append(row)
            self.times.append(time_ms)
            self.cents.append(cents)
            sums.append(sums[-1] + cents)
        else:
            self.events.insert(index, row)
            self.times.insert(index, time_ms)
            self.cents.insert(index, cents)
            sums[index:] = accumulate(self.cents[index:], initial=sums[index])
        if self.hashes is not None:
            self.hashes.insert(index, row[2])
            self.countries.insert(index, row[3])
        self._touch(time_ms)
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
        if events and (events[0][0] < events[-1][0] - RETAIN_MS or len(events) > EVENT_CAP):
            start = bisect_left(self.times, events[-1][0] - RETAIN_MS)
            start = max(start, len(events) - EVENT_CAP)
            if self._owned:  # this state's own copy: trim in place
                del events[:start]
            else:
                self.events = events = events[start:]
            # The columns (always this state's own) follow; `sums` keeps its offset (windows use differences).
            del self.times[:start], self.cents[:start], self.sums[:start]
            if self.hashes is not None:
                del self.hashes[:start], self.countries[:start]
        doc = self._base()
        # No copies: these lists are either fresh or owned by this (discarded) state,
        # and nobody mutates a list once it is in a document.
        doc["events"] = events
        doc["labels"] = self.labels
        return doc


def _column(values: Any) -> list[int]:
    if not values:
        return []
    return values if type(values[0]) is int else [int(v) for v in values]


class MerchantState(_State):
    """Hourly transaction counts as columns with running totals: a window count is two bisects."""

    __slots__ = ("hours", "counts", "totals", "labels", "_owned")

    def __init__(self, doc: Optional[Mapping[str, Any]]) -> None:
        self.changed = self._owned = False
        if not doc:
            self.version, self.expires_at, self.hours, self.counts, self.totals, self.labels = None, 0, [], [], [], []
            return
        self.version, self.expires_at = int(doc["version"]), int(doc.get("expires_at", 0))
        # Parallel columns: hour index, transactions in that hour, running total up to it.
        self.hours = _column(doc.get("hours"))
        self.counts = _column(doc.get("counts"))
        self.totals = _column(doc.get("totals"))
        labels = doc.get("labels")
        self.labels = _ints(labels, (1, 2)) if labels else []

    def _before(self, hour: int) -> int:
        """Running total of all buckets before `hour`."""
        index = bisect_left(self.hours, hour)
        return self.totals[index - 1] if index else self.totals[0] - self.counts[0]

    def count_between(self, first_hour: int, end_hour: int) -> int:
        """Transactions in hour buckets first_hour <= hour < end_hour."""
        return self._before(end_hour) - self._before(first_hour) if self.hours else 0

    def add(self, event_time: int) -> None:
        hour = event_time // HOUR_MS
        if not self._owned:  # loaded columns may be shared with the store: copy once
            self.hours, self.counts, self.totals = list(self.hours), list(self.counts), list(self.totals)
            self._owned = True
        hours, counts, totals = self.hours, self.counts, self.totals
        if not hours or hour > hours[-1]:  # in order, a new hour
            hours.append(hour)
            counts.append(1)
            totals.append((totals[-1] if totals else 0) + 1)
        elif hour == hours[-1]:  # in order, the latest hour
            counts[-1] += 1
            totals[-1] += 1
        else:
            index = bisect_left(hours, hour)
            if hours[index] != hour:  # out of order: a new bucket in the middle
                hours.insert(index, hour)
                counts.insert(index, 0)
                totals.insert(index, totals[index - 1] if index else totals[0] - counts[1])
            counts[index] += 1
            for i in range(index, len(totals)):
                totals[i] += 1
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
        hours, counts, totals, labels = self.hours, self.counts, self.totals, self.labels
        if hours and hours[0] < hours[-1] - RETAIN_MS // HOUR_MS:
            start = bisect_left(hours, hours[-1] - RETAIN_MS // HOUR_MS)
            if self._owned:  # this state's own copies: trim in place
                del hours[:start], counts[:start], totals[:start]
            else:
                hours, counts, totals = hours[start:], counts[start:], totals[start:]
        if labels and hours:
            # A label only counts in windows of its transaction's time: older ones are dead weight.
            horizon = hours[-1] * HOUR_MS - RETAIN_MS
            if any(row[1] < horizon for row in labels):
                labels = [row for row in labels if row[1] >= horizon]
        doc = self._base()
        # Fresh or owned lists; nobody mutates a list once it is in a document.
        doc.update(hours=hours, counts=counts, totals=totals, labels=labels)
        return doc
