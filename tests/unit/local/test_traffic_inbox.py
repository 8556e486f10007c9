"""Alert envelopes, matching alerts to submissions, percentiles and the run summary."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from lib.local.inbox import Alert, parse_envelope
from lib.local.session import LocalStack
from lib.local.traffic import Submission, _match, percentile, summarize


def _envelope(message: str, subject: str = "Fraud alert: block 85/100 15000.00 USD") -> str:
    return json.dumps({
        "Type": "Notification", "Subject": subject, "Message": message,
        "MessageAttributes": {"severity": {"Type": "String", "Value": "critical"},
                              "risk_score": {"Type": "Number", "Value": "85"}},
    })


def _sub(tid: Optional[str], status: int = 201, latency: float = 0.05, item: Optional[dict[str, Any]] = None,
         alerts: int = 0, sent_at: float = 100.0) -> Submission:
    sub = Submission({}, status, {}, sent_at, latency, tid, item)
    sub.alerts = [Alert("s", "m", {}, sent_at + 1 + i, sent_at + 0.5 + i, {}) for i in range(alerts)]
    return sub


def test_envelope_keeps_subject_attributes_and_message() -> None:
    alert = parse_envelope(_envelope("Transaction: t-123\nCard: **** **** **** 3456"), 200.0, "199500")
    assert alert.subject.startswith("Fraud alert")
    assert alert.attributes == {"severity": "critical", "risk_score": "85"}
    assert alert.sent_at == 199.5 and alert.received_at == 200.0
    assert alert.payload is None and alert.transaction_id is None  # human text, not JSON
    assert alert.mentions("t-123")


def test_json_message_exposes_the_transaction_id() -> None:
    alert = parse_envelope(_envelope(json.dumps({"transaction_id": "abc-123-xyz"})), 1.0)
    assert alert.transaction_id == "abc-123-xyz"


def test_alerts_are_matched_by_the_id_in_their_text() -> None:
    tid = "3f2b1c4e-0000-4000-8000-123456789abc"
    subs = {tid: _sub(tid), "other-id-0001": _sub("other-id-0001")}
    alert = parse_envelope(_envelope(f"Suspicious transaction\n\nTransaction:  {tid}\nTime: x"), 1.0)
    assert _match(alert, subs) is subs[tid]
    stray = parse_envelope(_envelope("Transaction: unknown-id-9999"), 1.0)
    assert _match(stray, subs) is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_summary_counts_each_stage() -> None:
    scored = {"decision": "approve", "scored_at": 100_200}
    flagged = {"decision": "block", "scored_at": 100_300}
    subs = [
        _sub("a" * 8, item=scored),
        _sub("b" * 8, item=flagged, alerts=1),
        _sub("c" * 8, item=flagged, alerts=2),
        _sub("d" * 8),  # accepted, not scored yet
        _sub(None, status=400),
    ]
    summary = summarize(subs, dlq_depth=1)
    assert (summary["submitted"], summary["accepted"], summary["scored"]) == (5, 4, 3)
    assert (summary["flagged"], summary["alerted"], summary["duplicate_alerts"]) == (2, 2, 1)
    assert summary["in_dlq"] == 1
    assert summary["alert_latency_p50_s"] == 0.5  # from the inbox copy's SentTimestamp
    assert summary["scored_latency_p99_s"] == 0.3


def test_down_removes_only_a_local_outputs_file(tmp_path: Path) -> None:
    local = tmp_path / "local.json"
    local.write_text(json.dumps({"tap-stack-zz": {"endpoint_url": "http://127.0.0.1:1", "api_key": "k"}}))
    aws = tmp_path / "aws.json"
    aws.write_text(json.dumps({"tap-stack-zz": {"api_invoke_url": "https://x"}}))
    for path in (local, aws):
        stack = LocalStack("zz", outputs_path=path, root=tmp_path / ".local")
        stack._remove_local_outputs()
    assert not local.exists()
    assert aws.exists()
