"""The stream contract MiniStack does not enforce, proven against AWS's documented semantics.

MiniStack's stream poller ignores `batchItemFailures`, never bisects and has no retry
limit (docs/LOCAL.md). `StreamMapping` below plays AWS's part as documented for a
DynamoDB-stream event source mapping with ReportBatchItemFailures, BisectBatchOnFunctionError
and MaximumRetryAttempts: a reported failure moves the checkpoint to the lowest failed
sequence number and the rest of the batch is retried from there; a function error splits
the batch in halves; a batch out of retries goes to the on-failure destination as a
DDBStreamBatchInfo record. The real detection handler runs under it with faults in every
dependency, and then the whole way to SNS with duplicated deliveries; the stack's own
settings (batch size, retries, bisect) come from the synthesized mapping.
"""
from __future__ import annotations

import json
from collections import deque
from typing import Any, Callable

import boto3
import pytest
from botocore.exceptions import ClientError

from scripts import redrive

PANS = ("4111111111111111", "5500005555555559", "1234567890123456", "4012888888881881")


class StreamMapping:
    def __init__(self, handler: Callable[[dict[str, Any]], dict[str, Any]], *, batch_size: int, retries: int,
                 bisect: bool, on_failure: Callable[[list[dict[str, Any]]], None]) -> None:  # fmt: skip
        self.handler, self.batch_size, self.retries, self.bisect = handler, batch_size, retries, bisect
        self.on_failure = on_failure
        self.invocations = 0

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[bool, list[str]]:
        self.invocations += 1
        try:
            result = self.handler({"Records": records})
        except Exception:
            return False, []
        return True, [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]

    def run(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), self.batch_size):
            attempts = 0
            work = deque([records[start : start + self.batch_size]])
            while work and self.invocations < 500:
                batch = work.popleft()
                ok, failed = self._invoke(batch)
                if ok and not failed:
                    continue
                attempts += 1
                if ok:  # checkpoint at the lowest reported record; retry from there
                    sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
                    batch = batch[min(sequence.index(f) for f in failed):]
                if attempts > self.retries:
                    self.on_failure(batch)
                elif not ok and self.bisect and len(batch) > 1:
                    middle = len(batch) // 2
                    work.extendleft([batch[middle:], batch[:middle]])
                else:
                    work.appendleft(batch)
            assert not work, "the simulated mapping did not finish"


def failing(times: int, operation: str, code: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """The first `times` calls fail with `code`, the rest go through."""
    calls = {"n": 0}

    def call(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise ClientError({"Error": {"Code": code, "Message": code}}, operation)
        return real(**kwargs)

    return call


@pytest.fixture
def mapping_settings(synth_json: dict[str, Any]) -> dict[str, Any]:
    (mapping,) = [m for m in synth_json["resource"]["aws_lambda_event_source_mapping"].values()
                  if m["event_source_arn"].endswith(".stream_arn}")]  # fmt: skip
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    return {"batch_size": 4, "retries": int(mapping["maximum_retry_attempts"]),  # small batches: bisect matters
            "bisect": bool(mapping["bisect_batch_on_function_error"])}  # fmt: skip


def test_faults_everywhere_converge_to_once_each(aws: Any, submit: Any, context: Any, scripted: Any, sqs_event: Any,
                                                 monkeypatch: pytest.MonkeyPatch, mapping_settings: dict[str, Any]) -> None:  # fmt: skip
    import fraud_detection
    import notification_handler

    bodies = [{"amount": 15000.00 if i % 3 == 0 else 20.00 + i, "merchant": "Unknown Store" if i % 3 == 0 else f"Shop {i}",
               "card_number": PANS[i % 4], "location": "Nigeria" if i % 3 == 0 else "Boston, USA"} for i in range(11)]  # fmt: skip
    ids = [submit(b) for b in bodies[:5]]
    aws.ddb.put_item(TableName=aws.tables["transactions"], Item={"transaction_id": {"S": "poison-0001"}, "amount": {"S": "x"}})
    ids += [submit(b) for b in bodies[5:]]
    records = [r for r in aws.stream_records() if r["eventName"] == "INSERT"]
    culprit = ids[7]  # a record that crashes the function (a bug) until the code is fixed

    deps = fraud_detection.container()
    ddb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    for part in (deps.alerts, deps.failures, deps.state):
        part._sleep = lambda _s: None  # type: ignore[union-attr]
    # Transient faults worth three failed invocations of the first batch: within MaximumRetryAttempts.
    deps.state._dynamodb = scripted(ddb, batch_get_item=failing(1, "BatchGetItem", "ProvisionedThroughputExceededException", ddb.batch_get_item),
                                    transact_write_items=failing(1, "TransactWriteItems", "InternalServerError", ddb.transact_write_items))  # fmt: skip
    deps.alerts._sqs = scripted(sqs, send_message_batch=failing(3, "SendMessageBatch", "ServiceUnavailable", sqs.send_message_batch))
    original = deps.engine.assess_batch
    bug = {"on": True}

    def assess(txns: Any, store: Any) -> Any:
        if bug["on"] and any(t.transaction_id == culprit for t in txns):
            raise RuntimeError("a bug this transaction triggers")
        return original(txns, store)

    monkeypatch.setattr(deps.engine, "assess_batch", assess)

    def give_up(batch: list[dict[str, Any]]) -> None:
        sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
        info = {"shardId": shard_of(aws), "streamArn": batch[0]["eventSourceARN"],
                "startSequenceNumber": sequence[0], "endSequenceNumber": sequence[-1], "batchSize": len(batch)}  # fmt: skip
        sqs.send_message(QueueUrl=aws.failure_queue, MessageBody=json.dumps(
            {"requestContext": {"condition": "RetryAttemptsExhausted"}, "DDBStreamBatchInfo": info}))  # fmt: skip

    mapping = StreamMapping(lambda event: fraud_detection.handler(event, context), on_failure=give_up, **mapping_settings)
    mapping.run(records)

    parked = [json.loads(m["Body"]) for m in aws.drain(aws.failure_queue)]
    batches = [p["DDBStreamBatchInfo"] for p in parked if "DDBStreamBatchInfo" in p]
    poison = [p for p in parked if p.get("kind") == fraud_detection.POISON_KIND]
    assert [p["keys"]["transaction_id"]["S"] for p in poison] == ["poison-0001"]  # parked by the handler, once
    culprit_seq = next(r["dynamodb"]["SequenceNumber"] for r in records if r["dynamodb"]["Keys"]["transaction_id"]["S"] == culprit)
    # Bisecting isolated the crashing record: only it was given up, its batch-mates went through.
    assert [(b["startSequenceNumber"], b["endSequenceNumber"]) for b in batches] == [(culprit_seq, culprit_seq)]
    scored = {i["transaction_id"] for i in aws.scan("transactions") if i.get("status") == "SCORED"}
    assert scored == set(ids) - {culprit}

    # The fix ships; the on-failure record is redriven (records read back from the stream).
    bug["on"] = False
    for message in parked:
        sqs.send_message(QueueUrl=aws.failure_queue, MessageBody=json.dumps(message))
    driver = redrive.Redriver(_Outputs(aws), sqs, ddb, boto3.client("dynamodbstreams"), _InProcess(context),
                              detection_function="fraud-detection", echo=lambda _l: None)  # fmt: skip
    outcomes = sorted(p.outcome.split(" (")[0] for p in driver.stream(dry_run=False, limit=10, refresh_image=False, force=False))
    assert outcomes == ["redelivered", "skip"]  # the batch; the poison stays (still unparseable)
    assert {i["transaction_id"] for i in aws.scan("transactions") if i.get("status") == "SCORED"} == set(ids)
    cards = {d["pk"]: d for d in aws.scan("fraud-state") if d["pk"].startswith("CARD#")}
    applied = [row[-1] for doc in cards.values() for row in doc["events"]]
    assert sorted(applied) == sorted(ids)  # every transaction applied exactly once, despite every replay

    # Every queued alert (replays re-queue some) delivered twice: SNS still sees one per transaction.
    messages = aws.drain(aws.alert_queue)
    flagged = {i["transaction_id"] for i in aws.scan("transactions") if i.get("decision") not in (None, "approve")}
    assert {json.loads(m["Body"])["transaction_id"] for m in messages} == flagged
    for delivery in (messages, [{**m, "MessageId": m["MessageId"] + "-again"} for m in messages]):
        assert notification_handler.handler(sqs_event(delivery), context) == {"batchItemFailures": []}
    published = [n["Message"] for n in aws.published()]
    assert sorted(t for t in flagged for text in published if t in text) == sorted(flagged)
    assert mapping.invocations > len(records) // mapping_settings["batch_size"]  # the faults really forced retries


def shard_of(aws: Any) -> str:
    streams = boto3.client("dynamodbstreams")
    arn = aws.ddb.describe_table(TableName=aws.tables["transactions"])["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    return str(shard["ShardId"])


class _Outputs:
    """The little of StackOutputs the redriver reads."""

    def __init__(self, aws: Any) -> None:
        self.failure_queue_url, self.table_name = aws.failure_queue, aws.tables["transactions"]


class _InProcess:
    """A Lambda client whose invoke runs the detection handler in this process."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        import io

        import fraud_detection

        result = fraud_detection.handler(json.loads(Payload), self.context)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}
