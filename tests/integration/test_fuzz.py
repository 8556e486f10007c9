"""Property-based fuzzing of the deployed API from docs/openapi.yaml: >= 1,000 requests, no 5xx.

Every request goes through API Gateway with the API key. The invariants:
  - a body the OpenAPI document calls valid is accepted (201): the document does not promise
    more than the API takes;
  - a body breaking one documented rule is a 4xx naming the field: nor less;
  - nothing a client sends — junk bytes, wrong content types, deep nesting, huge numbers,
    broken encodings, odd path ids and headers — gets a 5xx; every rejection is a 4xx with a
    JSON `{"message", "errors"}` body that never echoes a card number;
  - every transaction the fuzzing got accepted is scored by the pipeline afterwards.
The request count and status mix are printed at the end of the module.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, Iterator, Mapping, Optional
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_strategies import (
    CARD_DIGITS,
    FEEDBACK_BODY,
    IDEMPOTENCY_KEY,
    JSON_TYPE,
    PATH_ID,
    hostile_body,
    invalid_transaction,
    valid_transaction,
)
from lib.local.outputs import StackOutputs
from lib.local.traffic import Pipeline, Submission

pytestmark = pytest.mark.integration

STATUSES: Counter[int] = Counter()
ACCEPTED: list[str] = []
EXAMPLES = {"valid": 300, "invalid": 350, "hostile": 250, "get": 100, "feedback": 100, "header": 80}
SCORE_BOUND_S = 120.0


def fuzz_settings(name: str) -> Any:
    return settings(max_examples=EXAMPLES[name], deadline=None, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    total = sum(STATUSES.values())
    line = (f"fuzz: {total} requests in {time.monotonic() - started:.0f}s; statuses {dict(sorted(STATUSES.items()))}; "
            f"5xx: {sum(n for s, n in STATUSES.items() if s >= 500)}; accepted transactions {len(ACCEPTED)}")  # fmt: skip
    # Past the output capture, so the figure shows in a passing run too.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        (reporter.write_line if reporter is not None else print)(f"\n{line}")


@pytest.fixture(scope="module")
def http(outputs: StackOutputs) -> requests.Session:
    session = requests.Session()
    session.headers["x-api-key"] = outputs.api_key or ""
    return session


def card_in(body: Any) -> Optional[str]:
    """The digits of the card number the request carried, if it carried a plausible one."""
    value = body.get("card_number") if isinstance(body, Mapping) else None
    digits = "".join(ch for ch in value if ch.isdigit() and ch.isascii()) if isinstance(value, str) else ""
    return digits if 13 <= len(digits) <= 19 else None


def send(http: requests.Session, method: str, url: str, *, body: Any = None, raw: Optional[bytes] = None,
         headers: Optional[Mapping[str, str]] = None) -> tuple[int, Any]:  # fmt: skip
    """One request; checks the invariants every response must meet, returns (status, JSON or None)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    resp = http.request(method, url, data=data, headers=dict(headers if headers is not None else JSON_TYPE), timeout=30)
    STATUSES[resp.status_code] += 1
    assert resp.status_code < 500, f"{resp.status_code} for {method} {url} body={data[:200] if data else data!r}: {resp.text[:300]}"
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    if resp.status_code >= 400:
        assert isinstance(payload, dict) and isinstance(payload.get("message"), str), f"{resp.status_code}: {resp.text[:300]}"
        errors = payload.get("errors")
        assert isinstance(errors, list) and all(isinstance(e, dict) and {"field", "reason"} <= set(e) for e in errors), payload
    card = card_in(body) or next(iter(CARD_DIGITS.findall((raw or b"").decode("latin-1"))), None)
    if card and resp.status_code != 201:
        assert card not in resp.text, "the response echoes the card number"
    return resp.status_code, payload


def accepted(status: int, payload: Any) -> None:
    if status == 201:
        ACCEPTED.append(payload["transaction_id"])


@given(body=valid_transaction())
@fuzz_settings("valid")
def test_documented_valid_transactions_are_accepted(http: requests.Session, outputs: StackOutputs,
                                                    body: dict[str, Any]) -> None:  # fmt: skip
    status, payload = send(http, "POST", outputs.api_url, body=body)
    assert status == 201, (body, payload)
    assert set(payload) == {"message", "transaction_id", "timestamp"}
    if "transaction_id" in body:
        assert payload["transaction_id"] == body["transaction_id"]
    accepted(status, payload)


@given(case=invalid_transaction())
@fuzz_settings("invalid")
def test_each_broken_rule_is_a_4xx_naming_the_field(http: requests.Session, outputs: StackOutputs,
                                                    case: tuple[str, Any]) -> None:  # fmt: skip
    how, body = case
    status, payload = send(http, "POST", outputs.api_url, body=body)
    assert 400 <= status < 500, (how, body, payload)
    fields = {e["field"] for e in payload["errors"]}
    if how in ("missing", "unknown-field", "not-an-object") or not payload["errors"]:
        return  # named by the handler in its own terms, or refused by the gateway's model
    assert how in fields or "body" in fields, (how, payload)


@given(case=hostile_body())
@fuzz_settings("hostile")
def test_hostile_bodies_never_get_a_5xx(http: requests.Session, outputs: StackOutputs,
                                        case: tuple[bytes, dict[str, str]]) -> None:  # fmt: skip
    raw, headers = case
    status, payload = send(http, "POST", outputs.api_url, raw=raw, headers=headers)
    accepted(status, payload)


@given(transaction_id=PATH_ID)
@fuzz_settings("get")
def test_path_ids_get_a_json_answer(http: requests.Session, outputs: StackOutputs, transaction_id: str) -> None:
    status, _ = send(http, "GET", outputs.transaction_url(quote(transaction_id, safe="")), headers={})
    assert status in (200, 400, 403, 404), status


@given(data=st.data(), body=FEEDBACK_BODY)
@fuzz_settings("feedback")
def test_feedback_bodies_and_ids(http: requests.Session, outputs: StackOutputs, data: st.DataObject,
                                 body: dict[str, Any]) -> None:  # fmt: skip
    real = ACCEPTED and data.draw(st.booleans(), label="existing transaction")
    target = data.draw(st.sampled_from(ACCEPTED)) if real else data.draw(PATH_ID, label="id")
    url = f"{outputs.transaction_url(quote(target, safe=''))}/feedback"
    status, payload = send(http, "POST", url, body=body)
    if status == 200:
        assert real and payload["transaction_id"] == target and payload["label"] == body["label"]


@given(body=valid_transaction(), key=IDEMPOTENCY_KEY)
@fuzz_settings("header")
def test_idempotency_keys(http: requests.Session, outputs: StackOutputs, body: dict[str, Any], key: str) -> None:
    import re

    from fuzz_strategies import DOC

    valid = re.fullmatch(DOC["components"]["parameters"]["IdempotencyKey"]["schema"]["pattern"], key)
    try:
        status, payload = send(http, "POST", outputs.api_url, body=body, headers={**JSON_TYPE, "Idempotency-Key": key})
    except (UnicodeEncodeError, requests.exceptions.InvalidHeader):
        return  # not expressible as an HTTP header value (the client refuses to send it)
    if valid:
        assert status == 201, (key, payload)
    else:
        # An empty or whitespace value may be dropped on the way (then the request is simply unkeyed).
        assert status == 400 or (status == 201 and not key.strip()), (key, status, payload)
    accepted(status, payload)


def test_every_fuzzed_transaction_is_scored(pipeline: Pipeline) -> None:
    if not ACCEPTED:
        pytest.skip("no fuzzed transaction was accepted in this run (run the whole module)")
    subs = [Submission({}, 201, {}, time.time(), 0.0, tid) for tid in dict.fromkeys(ACCEPTED)]
    pipeline.follow(subs, SCORE_BOUND_S, expect_alerts=False)
    unscored = [s.transaction_id for s in subs if not s.scored]
    assert not unscored, f"{len(unscored)} of {len(subs)} fuzzed transactions not scored: {unscored[:10]}"
    assert sum(STATUSES.values()) >= 1000, f"only {sum(STATUSES.values())} requests fuzzed"
