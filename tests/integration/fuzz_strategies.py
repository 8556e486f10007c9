"""Hypothesis strategies for requests, derived from docs/openapi.yaml (plus hostile extras).

`valid_transaction()` draws bodies the document says are valid — so the API must take them
(201). `invalid_transaction()` starts from a valid body and breaks exactly one documented
rule, so the API must refuse it with a 4xx. `hostile_body()` is raw bytes no schema
describes: junk, broken encodings, deep nesting, huge numbers, oversize bodies.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml
from hypothesis import strategies as st

DOC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
SCHEMAS = DOC["components"]["schemas"]
REQUEST = SCHEMAS["TransactionRequest"]
PROPS = REQUEST["properties"]
TEXT = SCHEMAS["Text"]
MAX_BODY = int(REQUEST["x-max-body-bytes"])
JSON_TYPE = {"Content-Type": "application/json"}


def _pattern(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    strategy = st.from_regex(schema["pattern"], fullmatch=True)
    low, high = schema.get("minLength", 0), schema.get("maxLength", 10_000)
    return strategy.filter(lambda s: low <= len(s) <= high)


def _amount() -> st.SearchStrategy[Any]:
    number, string = PROPS["amount"]["oneOf"]
    cents = st.integers(min_value=1, max_value=int(number["maximum"] * 100))
    # k/100 as a float prints as exactly two decimals (shortest round-trip repr).
    return st.one_of(cents.map(lambda k: k / 100), cents.map(lambda k: f"{k // 100}.{k % 100:02d}"),
                     cents.filter(lambda k: k % 100 == 0).map(lambda k: str(k // 100)))  # fmt: skip


# The event-time window, fixed once per run (a strategy whose bounds move between draws is not
# replayable): a minute inside the future bound, 20 minutes inside the age bound, so values stay
# valid for the 20 minutes the server clock runs on while the module executes.
_NOW_MS = int(time.time() * 1000)
_WINDOW = (_NOW_MS - PROPS["timestamp"]["x-max-age-ms"] + 1_200_000, _NOW_MS + PROPS["timestamp"]["x-max-future-ms"] - 60_000)


def _timestamp() -> st.SearchStrategy[Any]:
    millis = st.integers(min_value=_WINDOW[0], max_value=_WINDOW[1])
    iso = millis.map(lambda ms: datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat())
    return st.one_of(millis, iso)


def _unique(strategy: st.SearchStrategy[str], width: int = 64) -> st.SearchStrategy[str]:
    """Ids that match the pattern but never repeat across runs (a repeat would rightly be a 409)."""
    return strategy.map(lambda s: (s[: width - 16] + secrets.token_hex(8))[-width:])


OPTIONAL: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "currency": lambda: st.sampled_from(PROPS["currency"]["enum"]),
    "customer_id": lambda: _pattern(PROPS["customer_id"]),
    "timestamp": _timestamp,
    "transaction_id": lambda: _unique(_pattern(PROPS["transaction_id"])),
}


@st.composite
def valid_transaction(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": draw(_amount()),
        "merchant": draw(_pattern(TEXT)),
        "location": draw(_pattern(TEXT)),
        "card_number": draw(_pattern(PROPS["card_number"])),
    }
    assert sorted(body) == sorted(REQUEST["required"])
    for name in draw(st.sets(st.sampled_from(sorted(OPTIONAL)))):
        body[name] = draw(OPTIONAL[name]())
    return body


# One documented rule broken per body: (field, replacement values that break it).
JUNK = st.one_of(st.booleans(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
BREAKERS: dict[str, st.SearchStrategy[Any]] = {
    "amount": st.one_of(JUNK, st.sampled_from([0, -1, -0.01, 0.001, 12.345, 1000000.01, 1e308, -1e308, "1e3", "-5",
                                                "12,50", "NaN", "Infinity", "", " ", "0x10", "１２"]),  # fmt: skip
                        st.integers(min_value=10**7, max_value=10**40)),
    "merchant": st.one_of(JUNK, st.integers(), st.sampled_from(["", "   ", "x" * 129, "a\x00b", "tab\there", "bidi\u202eevil",
                                                                "line\u2028break", "bell\x07", "\x9b31m"])),  # fmt: skip
    "location": st.one_of(JUNK, st.floats(allow_nan=False), st.sampled_from(["", "\n", "y" * 500, "\u2066iso"])),
    "card_number": st.one_of(JUNK, st.integers(min_value=10**12, max_value=10**19),
                             st.sampled_from(["", "4111", "4" * 20, "4111-1111-1111-111x", "４１１１１１１１１１１１１１１１",
                                              "4111_1111_1111_1111", "+4111111111111111"])),  # fmt: skip
    "currency": st.one_of(JUNK, st.sampled_from(["usd", "US", "USDD", "XXX", "ABC", "", "€"])),
    "customer_id": st.one_of(JUNK, st.sampled_from(["", "has space", "x" * 65, "semi;colon", "ü"])),
    "timestamp": st.one_of(JUNK, st.sampled_from([0, -1, 10**18, "yesterday", "2024-01-01T00:00:00", "2999-01-01T00:00:00Z",
                                                  "1970-01-01T00:00:00+00:00", 1.5, ""])),  # fmt: skip
    "transaction_id": st.one_of(JUNK, st.sampled_from(["short", "x" * 65, "has space here", "../../etc/passwd", "id;drop", ""])),
}


@st.composite
def invalid_transaction(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(what was broken, body)."""
    body = draw(valid_transaction())
    how = draw(st.sampled_from(["missing", "unknown-field", "not-an-object", *sorted(BREAKERS)]))
    if how == "missing":
        body.pop(draw(st.sampled_from(REQUEST["required"])))
    elif how == "unknown-field":
        name = draw(st.text(min_size=1, max_size=20).filter(lambda n: n not in PROPS))
        body[name] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=10)))
    elif how == "not-an-object":
        return how, draw(st.sampled_from([[], [body], "body", 42, None, True]))  # type: ignore[return-value]
    else:
        body[how] = draw(BREAKERS[how])
    return how, body


def _nested(depth: int) -> bytes:
    return b'{"amount": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE_BYTES = [
    b"", b"null", b"{", b"}", b"[]", b'"just a string"', b"\x00" * 64, b"\xff\xfe\xfd", b"\xc3\x28",
    b'{"amount": 1e999999, "merchant": "m", "card_number": "4111111111111111", "location": "l"}',
    b'{"amount": NaN, "merchant": "m", "card_number": "4111111111111111", "location": "l"}',
    b'{"amount": 12, "merchant": "\\ud800", "card_number": "4111111111111111", "location": "l"}',
    b'{"amount": 12, "amount": "13", "merchant": "m", "card_number": "4111111111111111", "location": "l"}',
    b'{"amount": 12, "merchant": "m", "card_number": "4111111111111111", "location": "l"} trailing',
    b'{"amount": ' + b"9" * 5000 + b', "merchant": "m", "card_number": "4111111111111111", "location": "l"}',
    _nested(100), _nested(10_000),
    b'{"merchant": "' + b"A" * (MAX_BODY + 10) + b'"}',
    json.dumps({"amount": 1, "merchant": "m" * 10_000, "card_number": "4111111111111111", "location": "x" * 10_000}).encode(),
]  # fmt: skip
CONTENT_TYPES = [None, "text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                 "application/json; charset=utf-16", "APPLICATION/JSON", "application/problem+json", "*/*", "application/jsonx"]  # fmt: skip


@st.composite
def hostile_body(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """(raw body, headers): bytes no schema describes, under assorted content types."""
    body = draw(st.one_of(
        st.sampled_from(HOSTILE_BYTES),
        st.binary(max_size=512),
        st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
                     lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                     max_leaves=30).map(lambda v: json.dumps(v).encode()),
        valid_transaction().map(lambda b: json.dumps(b).encode("utf-16")),
    ))  # fmt: skip
    content_type = draw(st.one_of(st.just("application/json"), st.sampled_from(CONTENT_TYPES)))
    headers = {} if content_type is None else {"Content-Type": content_type}
    return body, headers


PATH_ID = st.one_of(
    _pattern(DOC["components"]["parameters"]["TransactionId"]["schema"]),
    st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and s not in (".", "..")),
    st.sampled_from(["%00", "..%2f..%2f", "' OR '1'='1", "<script>", "a" * 300, "%ff%fe", "null"]),
)  # fmt: skip
FEEDBACK_BODY = st.one_of(
    st.fixed_dictionaries({"label": st.sampled_from(SCHEMAS["FeedbackRequest"]["properties"]["label"]["enum"])}),
    st.fixed_dictionaries({"label": st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans())}),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
IDEMPOTENCY_KEY = st.one_of(
    _pattern(DOC["components"]["parameters"]["IdempotencyKey"]["schema"]).map(lambda k: (k[:200] + secrets.token_hex(8))),
    st.sampled_from(["", "has space", "x" * 256, "tab\tkey", "ünïcode", "del\x7fchar"]),
)
CARD_DIGITS = re.compile(r"[0-9]{13,19}")
