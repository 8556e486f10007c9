"""The packed state-document form: exact round trips, legacy items, and that it is actually smaller."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.codec import to_attrs
from store.state_codec import from_item_attrs, pack, to_item_attrs, unpack

T0 = 1_790_000_000_000


def card_doc(events: int = 30) -> dict[str, Any]:
    rows = [[T0 + i * 3_600_123, 1999 + 7 * i, (i * 2_654_435_761) % 2**32, "US" if i % 3 else "", str(uuid.uuid4())]
            for i in range(events)]  # fmt: skip
    return {"version": 7, "expires_at": 1_795_000_000, "events": rows,
            "labels": [[row[4], row[0], T0 + 10**9] for row in rows[3:4]]}  # fmt: skip


def merchant_doc(hours: int = 769) -> dict[str, Any]:
    base = T0 // 3_600_000
    counts = [(h * 7) % 13 + 1 for h in range(hours)]
    totals, running = [], 0
    for c in counts:
        running += c
        totals.append(running)
    return {"version": 2, "expires_at": 1_795_000_000, "hours": [base + h for h in range(hours)], "counts": counts,
            "totals": totals, "labels": []}  # fmt: skip


def size(attrs: dict[str, Any]) -> int:
    """Rough DynamoDB item size: what matters is the order of magnitude between the two forms."""
    from bench.call_counter import dynamodb_item_size

    return dynamodb_item_size(attrs)


@pytest.mark.parametrize("doc", [card_doc(), card_doc(0), merchant_doc(), merchant_doc(1)], ids=["card", "empty", "merchant", "one"])
def test_engine_documents_round_trip_exactly(doc):
    attrs = to_item_attrs("CARD#abc", doc)
    assert set(attrs) == {"pk", "version", "expires_at", "doc"}
    assert attrs["version"] == {"N": str(doc["version"])} and attrs["pk"] == {"S": "CARD#abc"}
    back = from_item_attrs(attrs)
    assert back == doc
    assert all(type(v) is int for row in back.get("events", []) for v in row[:3])  # ints, not Decimal


def test_packed_documents_are_a_fraction_of_the_attribute_form():
    for doc in (card_doc(), merchant_doc()):
        plain = size(to_attrs({**doc, "pk": "K"}))
        packed = size(to_item_attrs("K", doc))
        assert packed < plain * 0.6, (packed, plain)


def test_items_written_before_the_packed_form_still_load():
    doc = card_doc(3)
    legacy = to_attrs({**{k: v for k, v in doc.items()}, "pk": "CARD#abc"})
    back = from_item_attrs(legacy)
    assert back["events"][0][0] == Decimal(doc["events"][0][0]) and "pk" not in back


def test_columns_that_only_look_alike_keep_their_values():
    doc = {"version": 1, "expires_at": 0,
           "rows": [["6206F594-DCDF-526E-ACB6-20C4AB83FC43", -5, None, 2**70], ["txn-1", 2**40, "x", 3]],
           "mixed": [1, "a", None, [2]], "ints": [3, -2**62, 2**62 - 1], "empty": [], "nested": {"a": [1, 2]}}  # fmt: skip
    assert unpack(pack(doc)) == {k: v for k, v in doc.items() if k not in ("version", "expires_at")}


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=8),
                         st.uuids().map(str))  # fmt: skip
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=30)  # fmt: skip
uniform_rows = st.integers(min_value=1, max_value=4).flatmap(lambda w: st.lists(st.lists(json_scalars, min_size=w, max_size=w), max_size=6))


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["events", "labels", "hours", "x"]), json_values | uniform_rows, max_size=4))
def test_any_json_document_round_trips(fields):
    doc = {"version": 3, "expires_at": 9, **fields}
    assert from_item_attrs(to_item_attrs("K", doc)) == doc


def test_unknown_format_is_refused():
    import zlib

    header = b'{"f":99,"fields":{},"sizes":[]}'
    with pytest.raises(ValueError, match="format"):
        unpack(zlib.compress(len(header).to_bytes(4, "big") + header))
