"""Drive a running pipeline: submit transactions, watch them get scored and alerted.

Shared by the demo, the integration tests and the benches. Works against any
`StackOutputs` (local emulator or real AWS): POSTs go through API Gateway with
the API key, scores are read from the transactions table, alerts from an
`AlertInbox` subscribed to the topic.
"""
from __future__ import annotations

import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import requests
from boto3.dynamodb.types import TypeDeserializer

from lib.local.inbox import Alert, AlertInbox
from lib.local.outputs import StackOutputs

_DESERIALIZE = TypeDeserializer().deserialize
_RULES = Path(__file__).resolve().parents[1] / "lambda" / "fraud" / "rules.json"


def _alert_threshold() -> float:
    """The deployed rules' alert threshold (the same file ships in the function zip)."""
    try:
        return float(json.loads(_RULES.read_text())["thresholds"]["alert"])
    except (OSError, ValueError, KeyError):
        return 0.0  # unknown rules: expect an alert for every flagged transaction


ALERT_THRESHOLD = _alert_threshold()
_ID_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")  # transaction ids (api: [A-Za-z0-9_-]{8,64} or UUIDs)


def luhn_card(prefix: str = "4") -> str:
    """A fresh, Luhn-valid 16-digit card number, so runs never share per-card history."""
    body = prefix + "".join(str(secrets.randbelow(10)) for _ in range(15 - len(prefix)))
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile (q in 0..100); None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Submission:
    body: Mapping[str, Any]
    status: int
    response: Any
    sent_at: float  # epoch seconds, just before the request left
    latency_s: float  # request round trip seen by the client
    transaction_id: Optional[str] = None
    item: Optional[dict[str, Any]] = None  # the stored item once scored
    alerts: list[Alert] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status == 201 and self.transaction_id is not None

    @property
    def scored(self) -> bool:
        return self.item is not None and self.item.get("decision") is not None

    @property
    def flagged(self) -> bool:
        return self.scored and self.item is not None and self.item.get("decision") != "approve"

    @property
    def scored_latency_s(self) -> Optional[float]:
        if self.item is None or self.item.get("scored_at") is None:
            return None
        return float(self.item["scored_at"]) / 1000 - self.sent_at

    @property
    def alert_latency_s(self) -> Optional[float]:
        if not self.alerts:
            return None
        first = self.alerts[0]
        return (first.sent_at or first.received_at) - self.sent_at


class Pipeline:
    def __init__(self, outputs: StackOutputs, inbox: Optional[AlertInbox] = None, timeout_s: float = 30) -> None:
        self.outputs = outputs
        self.inbox = inbox
        self.http = requests.Session()
        self.timeout_s = timeout_s
        self.dynamodb = outputs.client("dynamodb")

    def submit(
        self,
        body: Any,
        *,
        api_key: Optional[str] = "",
        headers: Optional[Mapping[str, str]] = None,
        raw: Optional[bytes] = None,
    ) -> Submission:
        """POST one transaction. api_key "" means the deployment's key, None means no key."""
        sent_headers = {"Content-Type": "application/json"}
        key = self.outputs.api_key if api_key == "" else api_key
        if key is not None:
            sent_headers["x-api-key"] = key
        sent_headers.update(headers or {})
        sent_at = time.time()
        started = time.perf_counter()
        try:
            if raw is not None:
                resp = self.http.post(self.outputs.api_url, data=raw, headers=sent_headers, timeout=self.timeout_s)
            else:
                resp = self.http.post(self.outputs.api_url, json=body, headers=sent_headers, timeout=self.timeout_s)
        except (requests.Timeout, requests.ConnectionError) as exc:
            # Under load a request can fail outright; that is a result (status 0), not a crash.
            return Submission(body, 0, {"error": type(exc).__name__}, sent_at, time.perf_counter() - started)
        latency = time.perf_counter() - started
        try:
            payload: Any = resp.json()
        except ValueError:
            payload = resp.text
        tid = payload.get("transaction_id") if isinstance(payload, dict) else None
        return Submission(body, resp.status_code, payload, sent_at, latency, tid)

    def get(self, transaction_id: str, api_key: Optional[str] = "") -> requests.Response:
        key = self.outputs.api_key if api_key == "" else api_key
        headers = {"x-api-key": key} if key is not None else {}
        return self.http.get(self.outputs.transaction_url(transaction_id), headers=headers, timeout=self.timeout_s)

    def fetch_items(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Current items for these transaction ids (BatchGetItem, 100 at a time)."""
        found: dict[str, dict[str, Any]] = {}
        pending = list(dict.fromkeys(ids))
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request: dict[str, Any] = {
                self.outputs.table_name: {"Keys": [{"transaction_id": {"S": tid}} for tid in chunk]}
            }
            while request:
                resp = self.dynamodb.batch_get_item(RequestItems=request)
                for raw in resp.get("Responses", {}).get(self.outputs.table_name, []):
                    item = {k: _DESERIALIZE(v) for k, v in raw.items()}
                    found[item["transaction_id"]] = item
                request = resp.get("UnprocessedKeys") or {}
        return found

    def follow(
        self,
        submissions: Sequence[Submission],
        timeout_s: float,
        *,
        expect_alerts: bool = True,
        on_scored: Optional[Callable[[Submission], None]] = None,
        on_alert: Optional[Callable[[Alert, Optional[Submission]], None]] = None,
        settle_s: float = 0.0,
    ) -> list[Alert]:
        """Poll until every accepted submission is scored and every flagged one alerted.

        Returns alerts that matched none of the submissions. timeout_s bounds the
        wait for what is expected; once everything has arrived, it keeps listening
        settle_s more seconds so a duplicate alert would still be caught.
        """
        by_id = {s.transaction_id: s for s in submissions if s.accepted}
        strays: list[Alert] = []
        deadline = time.monotonic() + timeout_s
        settled_at: Optional[float] = None
        while True:  # at least one pass, so timeout_s=0 is a non-blocking poll
            unscored = [tid for tid, s in by_id.items() if not s.scored]
            if unscored:
                for tid, item in self.fetch_items(unscored).items():
                    sub = by_id[tid]
                    sub.item = item
                    if sub.scored and on_scored:
                        on_scored(sub)
            if self.inbox is not None and expect_alerts:
                # Long-poll only when nothing else needs polling (and never in a one-shot pass).
                wait = 0 if unscored or timeout_s <= 0 else 1
                for alert in self.inbox.receive(wait_s=wait):
                    sub = _match(alert, by_id)
                    (sub.alerts if sub else strays).append(alert)
                    if on_alert:
                        on_alert(alert, sub)
            waiting = any(not s.scored for s in by_id.values()) or (
                expect_alerts and self.inbox is not None
                and any(s.flagged and not s.alerts and self._alertable(s) for s in by_id.values())
            )
            if not waiting:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle_s:
                    break
            if settled_at is None and time.monotonic() >= deadline:
                break  # the bound applies to what is expected; settling runs its own course
            if unscored:
                time.sleep(0.2)
        return strays

    @staticmethod
    def _alertable(sub: Submission) -> bool:
        """Flagged and at or above the rules' alert threshold (what detection queues)."""
        score = (sub.item or {}).get("risk_score")
        return sub.flagged and score is not None and float(score) >= ALERT_THRESHOLD


def _match(alert: Alert, by_id: Mapping[Optional[str], Submission]) -> Optional[Submission]:
    """The submission an alert is about: its JSON transaction_id, else an id in its text."""
    if alert.transaction_id in by_id:
        return by_id[alert.transaction_id]
    for token in _ID_TOKEN.findall(alert.message + " " + alert.subject):
        if token in by_id:
            return by_id[token]
    return None


def summarize(submissions: Sequence[Submission], dlq_depth: Optional[int] = None) -> dict[str, Any]:
    accepted = [s for s in submissions if s.accepted]
    scored = [s for s in accepted if s.scored]
    flagged = [s for s in scored if s.flagged]
    alerted = [s for s in accepted if s.alerts]
    api = [s.latency_s * 1000 for s in submissions]
    e2e = [v for v in (s.scored_latency_s for s in scored) if v is not None]
    alert = [v for v in (s.alert_latency_s for s in alerted) if v is not None]

    def rounded(value: Optional[float], digits: int) -> Optional[float]:
        return None if value is None else round(value, digits)

    return {
        "submitted": len(submissions),
        "accepted": len(accepted),
        "scored": len(scored),
        "flagged": len(flagged),
        "alerted": len(alerted),
        "duplicate_alerts": sum(max(0, len(s.alerts) - 1) for s in accepted),
        "in_dlq": dlq_depth,
        "api_latency_p50_ms": rounded(percentile(api, 50), 1),
        "api_latency_p99_ms": rounded(percentile(api, 99), 1),
        "scored_latency_p50_s": rounded(percentile(e2e, 50), 3),
        "scored_latency_p99_s": rounded(percentile(e2e, 99), 3),
        "alert_latency_p50_s": rounded(percentile(alert, 50), 3),
        "alert_latency_p99_s": rounded(percentile(alert, 99), 3),
    }


def queue_depth(sqs: Any, queue_url: Optional[str]) -> Optional[int]:
    if not queue_url:
        return None
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
