"""Nobody let in, nothing leaked: API keys on every route; known card numbers found nowhere.

The PAN test submits a handful of known card numbers in every shape the API takes
(plain, spaced, dashed; keyed and unkeyed; flagged and normal; in rejected requests),
holds the alerts in the queue for a moment to read them there, lets the pipeline finish,
then searches for the digits in: every response and error body, every item of every
table, every SQS message left on the alert queue / DLQ / failure queue, every SNS
notification (the alert inbox), every CloudWatch log event of the stack's log groups
(Lambda output included), and the emulator's own log when the stack is local.
X-Ray annotations cannot be read back locally; tests/unit/security/test_pan_traces.py
checks them at the source.
"""
from __future__ import annotations

import importlib.util
import json
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest
import requests

from faults_support import concurrency_fault, function_name, wait_for
from store.state_codec import from_item_attrs
from lib.local.outputs import StackOutputs
from lib.local.traffic import Pipeline, Submission

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
_RUNS = re.compile(r"[0-9](?:[ -]?[0-9]){11,}")  # digit runs, separators allowed, >= 12 digits


def _scanner() -> Any:
    spec = importlib.util.spec_from_file_location("_secret_scan", REPO_ROOT / "tests/unit/security/secret_scan.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def luhn(prefix: str) -> str:
    body = prefix + "".join(str(secrets.randbelow(10)) for _ in range(15 - len(prefix)))
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(map(int, reversed(body))))
    return body + str((10 - total % 10) % 10)


def leaks(text: str, pans: Iterable[str]) -> list[str]:
    """Which PANs show up in text: whole, or more than BIN + last four (any 12 of their digits in a row)."""
    runs = ["".join(ch for ch in run if ch.isdigit()) for run in _RUNS.findall(text)]
    found = []
    for pan in pans:
        windows = {pan[i : i + 12] for i in range(len(pan) - 11)}
        if pan in text or any(w in run for run in runs for w in windows):
            found.append(pan)
    return found


def _routes(outputs: StackOutputs, merchant: str) -> list[tuple[str, str, Any]]:
    known = "00000000-0000-4000-8000-000000000000"
    body = {"amount": 10.0, "merchant": merchant, "card_number": luhn("4"), "location": "Austin, USA"}
    return [("POST", outputs.api_url, body), ("GET", outputs.transaction_url(known), None),
            ("POST", f"{outputs.transaction_url(known)}/feedback", {"label": "fraud"})]  # fmt: skip


@pytest.mark.parametrize("key", ["missing", "wrong", "empty", "near-miss", "truncated", "query-string", "other-header"])
def test_every_route_refuses_a_missing_or_wrong_key(outputs: StackOutputs, key: str) -> None:
    real = outputs.api_key or ""
    headers = {"missing": {}, "wrong": {"x-api-key": secrets.token_urlsafe(30)}, "empty": {"x-api-key": ""},
               "near-miss": {"x-api-key": f"{real}x"}, "truncated": {"x-api-key": real[:-1]}, "query-string": {},
               "other-header": {"Authorization": f"Bearer {real}"}}[key]  # fmt: skip
    merchant = f"Key Check {secrets.token_hex(4)}"
    for method, url, body in _routes(outputs, merchant):
        target = f"{url}?api_key={real}&x-api-key={real}" if key == "query-string" else url
        resp = requests.request(method, target, json=body, headers=headers, timeout=30)
        assert resp.status_code == 403, (key, method, url, resp.status_code, resp.text[:200])
        assert isinstance(resp.json().get("message"), str)
    # The refused POST stored nothing.
    scan = outputs.client("dynamodb").scan(TableName=outputs.table_name, FilterExpression="merchant = :m",
                                           ExpressionAttributeValues={":m": {"S": merchant}})  # fmt: skip
    assert scan["Count"] == 0


def test_the_right_key_opens_every_route(outputs: StackOutputs) -> None:
    """Control for the test above: the same requests with the key are not refused."""
    for method, url, body in _routes(outputs, f"Key Check {secrets.token_hex(4)}"):
        resp = requests.request(method, url, json=body, headers={"x-api-key": outputs.api_key or ""}, timeout=30)
        assert resp.status_code in (201, 404), (method, url, resp.status_code, resp.text[:200])


def _peek(sqs: Any, queue_url: str | None, rounds: int = 5) -> list[str]:
    """Bodies currently on a queue, left in place (visible again at once).

    Every receive counts towards a queue's maxReceiveCount: on the alert queue, peek once.
    """
    if not queue_url:
        return []
    bodies: dict[str, str] = {}
    for _ in range(rounds):
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                     MessageAttributeNames=["All"]).get("Messages", []):  # fmt: skip
            bodies[m["MessageId"]] = m["Body"] + json.dumps(m.get("MessageAttributes", {}))
    return list(bodies.values())


def _depth(sqs: Any, queue_url: str | None) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def _tables(outputs: StackOutputs) -> Iterator[tuple[str, str]]:
    dynamodb = outputs.client("dynamodb")
    for base in ("transactions", "fraud-state", "idempotency"):
        for page in dynamodb.get_paginator("scan").paginate(TableName=outputs.name(base)):
            for item in page["Items"]:
                if base == "fraud-state":  # look inside the packed document too
                    item = {**item, "doc": from_item_attrs(item)}
                yield base, json.dumps(item, default=repr)


def _log_events(outputs: StackOutputs, since_ms: int) -> Iterator[tuple[str, str]]:
    logs = outputs.client("logs")
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            name = group["logGroupName"]
            if not (name.endswith(f"-{outputs.suffix}") or "API-Gateway-Execution-Logs_" in name):
                continue
            for events in logs.get_paginator("filter_log_events").paginate(logGroupName=name, startTime=since_ms):
                for event in events["events"]:
                    yield name, event["message"]


def test_known_card_numbers_appear_nowhere(pipeline: Pipeline, outputs: StackOutputs) -> None:
    started_ms = int(time.time() * 1000) - 1000
    spec = "1234567890123456"  # the spec's own example card (fails Luhn: a risk reason)
    pans = [spec, luhn("4"), luhn("5"), luhn("37")[:15], luhn("6011")]
    shapes = [pans[1], " ".join(pans[2][i : i + 4] for i in range(0, 16, 4)), "-".join([pans[4][:8], pans[4][8:]])]
    seen: list[str] = []  # every response body
    lam, sqs = outputs.client("lambda"), outputs.client("sqs")
    with concurrency_fault(lam, function_name(outputs, "notification-handler"), 0):  # alerts wait on the queue
        subs: list[Submission] = [pipeline.submit({"amount": 15000.00, "merchant": "Unknown Store", "card_number": spec,
                                                   "location": "Nigeria"}, headers={"Idempotency-Key": secrets.token_hex(8)})]  # fmt: skip
        for index, card in enumerate([*shapes, pans[3]]):
            subs.append(pipeline.submit({"amount": 12500.00 if index % 2 else 18.20, "merchant": "Harbor Books",
                                         "card_number": card, "location": "Lagos, Nigeria" if index % 2 else "Boston, USA",
                                         "customer_id": f"CUSTPAN{index}"}))  # fmt: skip
        for card in pans:  # rejected requests that carry a card number
            for bad in ({"amount": -1, "merchant": "M", "card_number": card, "location": "L"},
                        {"amount": 10, "merchant": "M", "card_number": card, "location": "L", "cvv": "123"},
                        {"amount": 10, "merchant": "M", "card_number": card + "00000", "location": "L"}):  # fmt: skip
                rejected = pipeline.submit(bad)
                assert 400 <= rejected.status < 500, rejected.response
                seen.append(json.dumps(rejected.response))
        again = pipeline.submit(subs[0].body, headers={"Idempotency-Key": "reused-with-another-body-0001"})
        clash = pipeline.submit({**subs[0].body, "amount": 1.00}, headers={"Idempotency-Key": "reused-with-another-body-0001"})
        seen += [json.dumps(again.response), json.dumps(clash.response)]
        assert all(s.accepted for s in subs), [(s.status, s.response) for s in subs]
        assert wait_for(lambda: _depth(sqs, outputs.alert_queue_url) >= 3, 20), "the alerts never reached the queue"
        queued = _peek(sqs, outputs.alert_queue_url, rounds=1)
        assert any("Harbor Books" in b for b in queued), "our alert messages were not on the alert queue"
    pipeline.follow(subs, 30, settle_s=2)
    assert all(s.scored for s in subs) and any(s.alerts for s in subs)
    for sub in subs:
        seen.append(json.dumps(sub.response))
        view = pipeline.get(sub.transaction_id or "")
        assert view.status_code == 200
        seen.append(view.text)
        seen += [json.dumps(alert.body) for alert in sub.alerts]  # the SNS notifications, as delivered
    feedback = requests.post(f"{outputs.transaction_url(subs[0].transaction_id or '')}/feedback", json={"label": "fraud"},
                             headers={"x-api-key": outputs.api_key or ""}, timeout=30)  # fmt: skip
    seen.append(feedback.text)

    places: dict[str, list[str]] = {
        "responses and error bodies": seen,
        "alert queue (held)": queued,
        "queues now": [b for url in (outputs.dlq_url, outputs.failure_queue_url, outputs.alert_inbox_queue_url)
                       for b in _peek(sqs, url)] + _peek(sqs, outputs.alert_queue_url, rounds=1),  # fmt: skip
        "tables": [text for _, text in _tables(outputs)],
        "log events": [text for _, text in _log_events(outputs, started_ms)],
    }
    emulator_log = REPO_ROOT / ".local" / outputs.suffix / "emulator" / "ministack.log"
    if outputs.is_local and emulator_log.exists():
        places["emulator log"] = [emulator_log.read_text(errors="replace")]
    assert len(places["tables"]) >= len(subs) and places["log events"], {k: len(v) for k, v in places.items()}
    assert any("transaction scored" in e for e in places["log events"]), "detection's log lines were not found"
    found = {where: sorted({pan for text in texts for pan in leaks(text, pans)}) for where, texts in places.items()}
    assert not any(found.values()), f"card numbers found: {found}"


def test_the_leak_detector_would_see_a_leak() -> None:
    pan = "4111111111111111"
    assert leaks(f"card {pan}", [pan]) == [pan]
    assert leaks("card 4111 1111 1111 1111", [pan]) == [pan]
    assert leaks("411111-111111", [pan]) == [pan]  # 12 digits in a row is more than BIN + last 4
    assert leaks("bin 411111 last 1111, **** **** **** 1111", [pan]) == []


def test_deployed_function_environments_hold_no_secret(outputs: StackOutputs) -> None:
    scan = _scanner()
    lam = outputs.client("lambda")
    for base in ("api-handler", "fraud-detection", "notification-handler"):
        variables = lam.get_function_configuration(FunctionName=function_name(outputs, base))["Environment"]["Variables"]
        assert variables, base
        for name, value in variables.items():
            assert scan.find_secrets(value) == [], f"{base}: {name}"
            assert not scan.SECRETISH_NAME.search(name), f"{base}: {name} looks like it carries a secret"
