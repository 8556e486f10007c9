"""The engine's StateStore on DynamoDB: one BatchGet to load, TransactWrite to commit.

Item shape: `pk`, `version` (optimistic concurrency), `expires_at` (the table's TTL
attribute) and the rest of the engine's document packed in `doc` (store/state_codec.py).

Commit atomicity: DynamoDB allows 100 actions per TransactWriteItems. Writes are
grouped so that everything one transaction touches (its card, customer and
merchant documents and its score write-back) lands in the same call whenever the
connected group fits; groups are then packed into as few calls as possible. A
group larger than one call (one merchant shared by ~100 new cards in a batch) is
split, and only then can a failure leave part of the batch committed — the
engine's replay markers then skip what was applied.
"""
from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from botocore.exceptions import ClientError

from fraud.engine import StateConflict, StateWrite
from fraud.models import Assessment, Transaction
from fraud.state import card_key, customer_key, merchant_key
from store.aws import client, error_code
from store.codec import to_value
from store.state_codec import from_item_attrs, to_item_attrs

MAX_GET_KEYS = 100
MAX_ACTIONS = 100
MAX_REQUEST_BYTES = 3_500_000  # TransactWriteItems limit is 4 MB; leave room for framing
_TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


class TransientStoreError(RuntimeError):
    """DynamoDB kept refusing (throttling, conflicting transactions): retry the records later."""


class DynamoDBStateStore:
    def __init__(
        self,
        state_table: str,
        transactions_table: Optional[str] = None,
        dynamodb: Optional[Any] = None,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.state_table = state_table
        self.transactions_table = transactions_table
        self._dynamodb = dynamodb
        self._attempts = attempts
        self._sleep = sleep
        self._clock_ms = clock_ms

    @property
    def _db(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def _backoff(self, attempt: int) -> None:
        self._sleep(random.uniform(0, 0.05 * 2**attempt))

    # --- load -------------------------------------------------------------------------

    def load(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), MAX_GET_KEYS):
            chunk = wanted[start : start + MAX_GET_KEYS]
            request: dict[str, Any] = {
                self.state_table: {"Keys": [{"pk": {"S": k}} for k in chunk], "ConsistentRead": True}
            }
            for attempt in range(self._attempts + 1):
                response = self._db.batch_get_item(RequestItems=request)
                for attrs in response.get("Responses", {}).get(self.state_table, []):
                    found[attrs["pk"]["S"]] = from_item_attrs(attrs)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == self._attempts:
                    raise TransientStoreError("BatchGetItem left keys unprocessed after retries")
                self._backoff(attempt)
        return found

    # --- commit -----------------------------------------------------------------------

    def commit(
        self,
        writes: Sequence[StateWrite],
        assessments: Sequence[tuple[Transaction, Assessment]] = (),
    ) -> None:
        scored_at = self._clock_ms()
        state_actions = {w.key: self._put_state(w) for w in writes}
        score_actions = {t.transaction_id: self._score_update(t, a, scored_at) for t, a in assessments}
        for chunk in _pack(_groups(state_actions, score_actions, assessments)):
            self._write(chunk)

    def _put_state(self, write: StateWrite) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.state_table, "Item": to_item_attrs(write.key, write.document)}
        if write.expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = {":expected": to_value(Decimal(write.expected_version))}
        return {"Put": put}

    def _score_update(self, txn: Transaction, assessment: Assessment, scored_at: int) -> dict[str, Any]:
        if not self.transactions_table:
            raise ValueError("commit with assessments needs the transactions table")
        values = {f":{k}": v for k, v in assessment.to_item().items()}
        values.update({":scored_at": Decimal(scored_at), ":scored": "SCORED"})
        return {
            "Update": {
                "TableName": self.transactions_table,
                "Key": {"transaction_id": {"S": txn.transaction_id}},
                "UpdateExpression": (
                    "SET risk_score = :risk_score, decision = :decision, reasons = :reasons, "
                    "model_version = :model_version, scored_at = :scored_at, #status = :scored"
                ),
                # Never create a half item for a transaction that is gone.
                "ConditionExpression": "attribute_exists(transaction_id)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {k: to_value(v) for k, v in values.items()},
            }
        }

    def _write(self, actions: list[dict[str, Any]]) -> None:
        for attempt in range(self._attempts + 1):
            try:
                self._db.transact_write_items(TransactItems=actions)
                return
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            conflicts = [_state_key(a) for a, code in zip(actions, reasons) if code == "ConditionalCheckFailed" and "Put" in a]
            if conflicts:
                raise StateConflict(conflicts)
            # A score write-back for a deleted transaction: drop it, keep the rest.
            gone = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
            actions = [a for i, a in enumerate(actions) if i not in gone]
            if not actions:
                return
            if not gone and not any(code in _TRANSIENT_REASONS for code in reasons):
                raise TransientStoreError(f"TransactWriteItems cancelled: {sorted(set(reasons))}")
            if attempt == self._attempts:
                raise TransientStoreError("TransactWriteItems kept being cancelled after retries")
            self._backoff(attempt)


def _state_key(action: Mapping[str, Any]) -> str:
    return str(action["Put"]["Item"]["pk"]["S"])


def _related_keys(txn: Transaction) -> list[str]:
    keys = [card_key(txn.card_fingerprint), merchant_key(txn.merchant)]
    if txn.customer_id:
        keys.append(customer_key(txn.customer_id))
    return keys


def _groups(
    state_actions: Mapping[str, dict[str, Any]],
    score_actions: Mapping[str, dict[str, Any]],
    assessments: Sequence[tuple[Transaction, Assessment]],
) -> list[list[dict[str, Any]]]:
    """Connected groups of actions: a transaction's score and the documents it touched."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for key in state_actions:
        find("s:" + key)
    for txn, _ in assessments:
        for key in _related_keys(txn):
            if key in state_actions:
                parent[find("s:" + key)] = find("t:" + txn.transaction_id)
        find("t:" + txn.transaction_id)
    members: dict[str, list[dict[str, Any]]] = {}
    # State writes first inside a group: a split group then commits documents before scores.
    for key, action in state_actions.items():
        members.setdefault(find("s:" + key), []).append(action)
    for txn_id, action in score_actions.items():
        members.setdefault(find("t:" + txn_id), []).append(action)
    return list(members.values())


def _request_bytes(actions: list[dict[str, Any]]) -> int:
    """Size of the actions on the wire: JSON, with binary attributes base64-encoded."""
    return len(json.dumps(actions, separators=(",", ":"), default=lambda b: "=" * (4 * len(b) // 3 + 4)))


def _pack(groups: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """First-fit decreasing into calls of at most MAX_ACTIONS actions and MAX_REQUEST_BYTES."""
    sized = sorted(((_request_bytes(g), g) for g in groups), key=lambda p: (-len(p[1]), -p[0]))
    chunks: list[tuple[int, list[dict[str, Any]]]] = []
    for size, group in sized:
        pieces = [group[i : i + MAX_ACTIONS] for i in range(0, len(group), MAX_ACTIONS)] if len(group) > MAX_ACTIONS else [group]
        for piece in pieces:
            piece_size = size * len(piece) // max(len(group), 1)
            for index, (used, chunk) in enumerate(chunks):
                if len(chunk) + len(piece) <= MAX_ACTIONS and used + piece_size <= MAX_REQUEST_BYTES:
                    chunks[index] = (used + piece_size, chunk + piece)
                    break
            else:
                chunks.append((piece_size, list(piece)))
    return [chunk for _, chunk in chunks]
