"""Alert message (detection -> SQS -> notification) and its human rendering.

`alert_message` builds the SQS body of docs/CONTRACTS.md from a stored
transaction (no PAN exists there to leak); `format_alert` validates a body
and renders the SNS subject, plain-text e-mail and message attributes. A
malformed body raises ValueError, which the notification handler treats as
poison (it lands in the DLQ instead of being retried forever).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping

from .cards import mask
from .models import DECISIONS, Assessment, Transaction

MESSAGE_VERSION = 1
SEVERITY = {"block": "critical", "review": "high", "approve": "low"}
_SUBJECT_MAX = 100
_AMOUNT = re.compile(r"[0-9]{1,16}\.[0-9]{2}")
_DIGITS4 = re.compile(r"[0-9]{4}")
_BIN = re.compile(r"[0-9]{6}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_LONG_DIGITS = re.compile(r"[0-9]{13,19}")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def alert_message(txn: Transaction, assessment: Assessment) -> dict[str, Any]:
    if assessment.transaction_id != txn.transaction_id:
        raise ValueError("assessment belongs to another transaction")
    return {
        "version": MESSAGE_VERSION,
        "transaction_id": txn.transaction_id,
        "event_time": txn.event_time,
        "amount": f"{txn.amount:.2f}",
        "currency": txn.currency,
        "merchant": txn.merchant,
        "location": txn.location,
        "customer_id": txn.customer_id,
        "card_last4": txn.card_last4,
        "card_bin": txn.card_bin,
        "risk_score": assessment.risk_score,
        "decision": assessment.decision,
        "reasons": [r.to_dict() for r in assessment.reasons],
        "model_version": assessment.model_version,
    }


def _require(message: Mapping[str, Any], name: str, kind: type, problems: list[str]) -> Any:
    value = message.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        problems.append(f"{name}: expected {kind.__name__}")
        return None
    return value


def validate_message(message: Any) -> None:
    """Raise ValueError naming every problem of a malformed alert body."""
    if not isinstance(message, Mapping):
        raise ValueError("alert message must be a JSON object")
    problems: list[str] = []
    if message.get("version") != MESSAGE_VERSION:
        problems.append(f"version: expected {MESSAGE_VERSION}")
    for name in ("transaction_id", "merchant", "location", "model_version"):
        _require(message, name, str, problems)
    if not message.get("transaction_id"):
        problems.append("transaction_id: must not be empty")
    event_time = _require(message, "event_time", int, problems)
    if event_time is not None and not 0 <= event_time < 10**14:
        problems.append("event_time: out of range")
    for name, pattern in (("amount", _AMOUNT), ("currency", _CURRENCY), ("card_last4", _DIGITS4)):
        value = message.get(name)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            problems.append(f"{name}: malformed")
    card_bin = message.get("card_bin")
    if card_bin not in (None, "") and not (isinstance(card_bin, str) and _BIN.fullmatch(card_bin)):
        problems.append("card_bin: malformed")
    customer = message.get("customer_id")
    if customer is not None and not isinstance(customer, str):
        problems.append("customer_id: expected string or null")
    score = _require(message, "risk_score", int, problems)
    if score is not None and not 0 <= score <= 100:
        problems.append("risk_score: must be within 0..100")
    if message.get("decision") not in DECISIONS:
        problems.append(f"decision: must be one of {DECISIONS}")
    reasons = message.get("reasons")
    if not isinstance(reasons, list) or not all(
        isinstance(r, Mapping) and isinstance(r.get("code"), str) and isinstance(r.get("description"), str)
        and isinstance(r.get("contribution"), int) and not isinstance(r.get("contribution"), bool)
        for r in reasons
    ):
        problems.append("reasons: expected a list of {code, description, contribution}")
    for name in ("merchant", "location", "transaction_id", "customer_id"):
        if isinstance(message.get(name), str) and _LONG_DIGITS.search(message[name]):
            problems.append(f"{name}: contains a card-number-like digit run")  # never relay a PAN
    if problems:
        raise ValueError("malformed alert message: " + "; ".join(problems))


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_alert(message: Mapping[str, Any]) -> tuple[str, str, dict[str, dict[str, str]]]:
    """(subject, plain-text body, SNS MessageAttributes) for a validated alert body."""
    validate_message(message)
    decision, score = message["decision"], message["risk_score"]
    amount = f"{message['amount']} {message['currency']}"
    # SNS subjects: ASCII printable, no newlines, <= 100 characters.
    subject = _PRINTABLE.sub("?", f"Fraud alert: {decision} {score}/100 {amount}")[:_SUBJECT_MAX]
    reasons = message["reasons"] or [{"code": "NONE", "description": "no reason recorded", "contribution": 0}]
    lines = [
        f"Suspicious transaction: {decision.upper()} (risk score {score}/100)",
        "",
        f"Transaction:  {message['transaction_id']}",
        f"Time:         {_utc(message['event_time'])}",
        f"Amount:       {amount}",
        f"Merchant:     {message['merchant']}",
        f"Location:     {message['location'] or 'unknown'}",
        f"Card:         {mask(message['card_last4'])}",
        f"Customer:     {message.get('customer_id') or '-'}",
        f"Model:        {message['model_version']}",
        "",
        "Reasons:",
    ]
    lines += [f"  - {r['code']} (+{r['contribution']}): {r['description']}" for r in reasons]
    attributes = {
        "severity": {"DataType": "String", "StringValue": SEVERITY[decision]},
        "decision": {"DataType": "String", "StringValue": decision},
        "risk_score": {"DataType": "Number", "StringValue": str(score)},
    }
    return subject, "\n".join(lines) + "\n", attributes
