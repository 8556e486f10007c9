"""Fault injection on a running stack through ordinary AWS APIs, always undone.

Nothing here needs a hook in the production code: a fault is a configuration
change an operator could make by mistake (an environment variable naming a
resource that does not exist, reserved concurrency 0, a short queue visibility
timeout), applied with the same API on MiniStack and on AWS, and restored in a
`finally`. Every wait is bounded.
"""
from __future__ import annotations

import json
import secrets
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Optional, TypeVar

from boto3.dynamodb.types import TypeDeserializer

from lib.local.outputs import StackOutputs
from lib.local.traffic import Pipeline, Submission
from scripts.redrive import shape_stream_record
from store.state_codec import from_item_attrs

T = TypeVar("T")
UPDATE_BOUND_S = 30.0
_DESERIALIZE = TypeDeserializer().deserialize
MISSING = "does-not-exist-fault-injection"


def wait_for(probe: Callable[[], Optional[T]], timeout_s: float, interval_s: float = 0.25) -> Optional[T]:
    """Poll until probe() returns something truthy or the bound passes; returns the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


def function_name(outputs: StackOutputs, base: str) -> str:
    stack = outputs.raw.get(f"tap-stack-{outputs.suffix}", {})
    key = {"api-handler": "api_handler_function_name", "fraud-detection": "fraud_detection_function_name",
           "notification-handler": "notification_function_name"}[base]  # fmt: skip
    return str((stack.get(key) if isinstance(stack, dict) else None) or outputs.name(base))


def _settled(lam: Any, name: str) -> None:
    def done() -> bool:
        config = lam.get_function_configuration(FunctionName=name)
        return config.get("LastUpdateStatus", "Successful") == "Successful" and config.get("State") == "Active"

    if not wait_for(done, UPDATE_BOUND_S):
        raise AssertionError(f"{name} did not settle within {UPDATE_BOUND_S:.0f}s after a configuration update")


def _set_env(lam: Any, name: str, variables: Mapping[str, str]) -> None:
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": dict(variables)})
    _settled(lam, name)


@contextmanager
def env_fault(lam: Any, name: str, **changes: Optional[str]) -> Iterator[dict[str, str]]:
    """Change (value) or remove (None) environment variables of a function; restored on exit."""
    original = dict(lam.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {}))
    faulty = {k: v for k, v in original.items() if k not in changes or changes[k] is not None}
    faulty.update({k: v for k, v in changes.items() if v is not None})
    _set_env(lam, name, faulty)
    try:
        yield original
    finally:
        _set_env(lam, name, original)


@contextmanager
def concurrency_fault(lam: Any, name: str, reserved: int = 0) -> Iterator[None]:
    """Reserved concurrency `reserved` (0: every invocation is throttled); restored on exit."""
    before = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    try:
        yield
    finally:
        if before is None:
            lam.delete_function_concurrency(FunctionName=name)
        else:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=before)


@contextmanager
def queue_visibility(sqs: Any, queue_url: str, seconds: int) -> Iterator[dict[str, str]]:
    """A short VisibilityTimeout so redelivery happens in seconds, not the stack's 6 minutes."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"])[
        "Attributes"
    ]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(seconds)})
    try:
        yield attrs
    finally:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": attrs["VisibilityTimeout"]})


def take_from(sqs: Any, queue_url: str, match: Callable[[dict[str, Any]], bool], want: int,
              timeout_s: float) -> list[dict[str, Any]]:  # fmt: skip
    """Receive until `want` messages matching `match` were seen (deleted) or the bound passes.

    Non-matching messages are made visible again at once, so other tests' messages stay put.
    """
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < want and time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   VisibilityTimeout=30, AttributeNames=["All"], MessageAttributeNames=["All"])  # fmt: skip
        for message in resp.get("Messages", []):
            if match(message):
                found.setdefault(message["MessageId"], message)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)  # fmt: skip
    return list(found.values())


def stream_inserts(outputs: StackOutputs, transaction_ids: set[str],
                   shards: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:  # fmt: skip
    """The INSERT records of these transactions, read from the table's stream as Lambda gets them.

    `shards`, when given, receives sequence number -> shard id (what an on-failure record names).
    """
    dynamodb, streams = outputs.client("dynamodb"), outputs.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=outputs.table_name)["Table"]["LatestStreamArn"]
    found: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
        for _ in range(200):  # bounded walk of the shard
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page.get("Records", []):
                key = record["dynamodb"].get("Keys", {}).get("transaction_id", {}).get("S")
                if record.get("eventName") == "INSERT" and key in transaction_ids:
                    found.append(shape_stream_record(record, arn))
                    if shards is not None:
                        shards[record["dynamodb"]["SequenceNumber"]] = shard["ShardId"]
            iterator = page.get("NextShardIterator")
            if not page.get("Records") or not iterator:
                break
    return found


def invoke(lam: Any, name: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """Synchronous invoke; the handler's result, or {"FunctionError": ..} when it raised."""
    response = lam.invoke(FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        return {"FunctionError": response["FunctionError"], "payload": payload}
    return payload if isinstance(payload, dict) else {"payload": payload}


def raw_items(outputs: StackOutputs, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items as DynamoDB returns them (attribute values), consistent reads."""
    dynamodb = outputs.client("dynamodb")
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        while request:
            resp = dynamodb.batch_get_item(RequestItems=request)
            found += resp["Responses"].get(table, [])
            request = resp.get("UnprocessedKeys") or {}
    return found


def items(outputs: StackOutputs, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _DESERIALIZE(v) for k, v in raw.items()} for raw in raw_items(outputs, table, keys)]


def times_applied(outputs: StackOutputs, transaction: Mapping[str, Any]) -> int:
    """How often a transaction is in its card's event history (the engine's "applied" marker)."""
    raw = raw_items(outputs, outputs.name("fraud-state"), [{"pk": {"S": f"CARD#{transaction['card_fingerprint']}"}}])
    docs = [from_item_attrs(item) for item in raw]  # the packed form detection stores
    return sum(1 for doc in docs for row in doc.get("events", []) if row[-1] == transaction["transaction_id"])


# --- traffic and the recovery invariants -----------------------------------------------

RECOVERY_BOUND_S = 30.0  # from repair to scored + alerted
SETTLE_S = 3.0  # keep listening after the last expected alert, so a duplicate would be seen
FAULT_CHECK_S = 3.0  # the fault must visibly hold this long (or the test proves nothing)


def card() -> str:
    """A fresh Luhn-valid card, so no test shares per-card history."""
    body = "4" + "".join(str(secrets.randbelow(10)) for _ in range(14))
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(map(int, reversed(body))))
    return body + str((10 - total % 10) % 10)


def flagged() -> dict[str, Any]:
    return {"amount": 15000.00, "merchant": "Unknown Store", "card_number": card(), "location": "Nigeria"}


def normal() -> dict[str, Any]:
    return {"amount": 23.40, "merchant": "Corner Grocery", "card_number": card(), "location": "Chicago, USA"}


def submit_all(pipeline: Pipeline, bodies: list[dict[str, Any]]) -> list[Submission]:
    subs = [pipeline.submit(body) for body in bodies]
    assert all(s.accepted for s in subs), [(s.status, s.response) for s in subs]
    return subs


def assert_recovered(pipeline: Pipeline, outputs: StackOutputs, subs: list[Submission]) -> None:
    """Scored, applied once, and exactly one alert per alertable transaction (none otherwise)."""
    pipeline.follow(subs, RECOVERY_BOUND_S, settle_s=SETTLE_S)
    unscored = [s.transaction_id for s in subs if not s.scored]
    assert not unscored, f"not scored within {RECOVERY_BOUND_S:.0f}s of the repair: {unscored}"
    for sub in subs:
        assert sub.item is not None
        applied = times_applied(outputs, sub.item)
        assert applied == 1, f"{sub.transaction_id} applied to its card {applied} times, not once"
        expected = 1 if Pipeline._alertable(sub) else 0
        assert len(sub.alerts) == expected, (sub.transaction_id, sub.item.get("decision"), len(sub.alerts))
    assert any(Pipeline._alertable(s) for s in subs), "the test traffic must include an alertable transaction"


def redrive_given_up(outputs: StackOutputs) -> list[str]:
    """What an operator does after the repair: redrive batches the stream mapping gave up on.

    On AWS a batch that failed past MaximumRetryAttempts during the fault is in the failure
    queue as a DDBStreamBatchInfo record; MiniStack retries until the record is an hour old,
    so locally there is normally nothing to do. Returns the outcomes.
    """
    from scripts import redrive

    driver = redrive.build(outputs, echo=lambda _line: None)
    return [p.outcome for p in driver.stream(dry_run=False, limit=100, refresh_image=False, force=False)
            if p.kind == "stream-batch"]  # fmt: skip


def still_received(pipeline: Pipeline, subs: list[Submission]) -> bool:
    """True while none of them has been scored."""
    current = pipeline.fetch_items([s.transaction_id for s in subs if s.transaction_id])
    return all(item.get("decision") is None for item in current.values())


def all_inserts(outputs: StackOutputs, subs: list[Submission]) -> list[dict[str, Any]]:
    """The submissions' INSERT records from the stream (bounded wait for them to appear)."""
    ids = {s.transaction_id or "" for s in subs}
    records = wait_for(lambda: [r for r in [stream_inserts(outputs, ids)] if len(r) == len(ids)], 10)
    assert records, "the INSERT records never appeared on the table's stream"
    return records[0]


def no_alert_for(pipeline: Pipeline, subs: list[Submission]) -> bool:
    assert pipeline.inbox is not None
    ids = [s.transaction_id for s in subs if s.transaction_id]
    return not [a for a in pipeline.inbox.receive(0) if any(a.mentions(i) for i in ids)]


def held_for(check: Any, seconds: float) -> bool:
    """check() stays true for the whole period (a bounded observation, not a timing assertion)."""
    return wait_for(lambda: not check(), seconds) is False
