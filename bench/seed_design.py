"""The seed's per-record detection design, as a baseline for the call counts.

The seed handled each stream record on its own: one asynchronous Lambda invoke
(`InvocationType="Event"`) of the scoring function with the record, plus one put of
the result. That is the whole model — its calls are counted by the same `CallCounter`
as the real handler. The invokes are answered locally (202, as Lambda answers an async
invoke) because no function runs behind them; the puts go to a real (moto) table.
Per-record alert sends are left out, so the baseline is a lower bound on the seed's calls.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from bench.call_counter import CallCounter

SCORING_FUNCTION = "fraud-scoring-seed"


def install(counter: CallCounter) -> None:
    counter.short_circuit["lambda.Invoke"] = lambda params: {"StatusCode": 202, "Payload": b""}


def handle(event: Mapping[str, Any], lambda_client: Any, dynamodb: Any, results_table: str) -> int:
    """The seed's handler shape: per INSERT record, invoke the scorer, put the result."""
    handled = 0
    for record in event.get("Records", []):
        if record.get("eventName") != "INSERT":
            continue
        image = record["dynamodb"]["NewImage"]
        lambda_client.invoke(FunctionName=SCORING_FUNCTION, InvocationType="Event",
                             Payload=json.dumps(record, default=str).encode())  # fmt: skip
        dynamodb.put_item(TableName=results_table, Item={"transaction_id": image["transaction_id"],
                                                         "status": {"S": "SUBMITTED"}})  # fmt: skip
        handled += 1
    return handled
