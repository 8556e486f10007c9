"""scripts/redrive.py against moto: what moves, what stays, what the CLI refuses.

Lambda invocations go to a fake (moto would need Docker to run the function); the
integration suite (tests/integration/test_redrive.py) runs the real detection function.
"""
from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Optional

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws

from lib.local.outputs import StackOutputs
from scripts import redrive

REGION = "us-east-1"
SUFFIX = "unit"
PAN = "4111111111111111"


def alert(transaction_id: str) -> dict[str, Any]:
    return {"version": 1, "transaction_id": transaction_id, "event_time": 1_700_000_000_000, "amount": "15000.00",
            "currency": "USD", "merchant": "Unknown Store", "location": "Nigeria", "customer_id": None,
            "card_last4": "1111", "card_bin": "411111", "risk_score": 90, "decision": "block",
            "reasons": [{"code": "HIGH_AMOUNT", "description": "amount over 10,000", "contribution": 40}],
            "model_version": "rules-v1"}  # fmt: skip


def item(transaction_id: str, **overrides: Any) -> dict[str, Any]:
    """A transactions-table item in raw attribute values (CONTRACTS.md shape)."""
    values = {"transaction_id": transaction_id, "status": "RECEIVED", "received_at": 1, "event_time": 1,
              "amount": Decimal("15000.00"), "currency": "USD", "merchant": "Unknown Store", "location": "Nigeria",
              "country": "NG", "card_fingerprint": "ab" * 32, "card_last4": "1111", "card_bin": "411111",
              "card_luhn_valid": True, **overrides}  # fmt: skip
    return {k: TypeSerializer().serialize(v) for k, v in values.items() if v is not None}


class FakeLambda:
    """Records invocations; answers with `result` (a handler result) or a function error."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.result: dict[str, Any] = {"batchItemFailures": []}
        self.function_error: Optional[str] = None

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        assert FunctionName == f"fraud-detection-{SUFFIX}" and InvocationType == "RequestResponse"
        self.events.append(json.loads(Payload))
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.result).encode())}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


class Env:
    def __init__(self, tmp: Path) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.streams = boto3.client("dynamodbstreams", region_name=REGION)
        self.urls = {base: self.sqs.create_queue(QueueName=f"{base}-{SUFFIX}")["QueueUrl"]
                     for base in ("suspicious-transactions", "suspicious-transactions-dlq", "fraud-detection-failures")}  # fmt: skip
        self.table = f"transactions-{SUFFIX}"
        self.ddb.create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "transaction_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "transaction_id", "AttributeType": "S"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )  # fmt: skip
        self.lam = FakeLambda()
        self.lines: list[str] = []
        self.outputs_file = tmp / "outputs.json"
        self.outputs_file.write_text(json.dumps({f"tap-stack-{SUFFIX}": {
            "api_invoke_url": "https://abc123.execute-api.us-east-1.amazonaws.com/prod/transactions",
            "transactions_table_name": self.table, "alert_queue_url": self.urls["suspicious-transactions"],
            "alert_dlq_url": self.urls["suspicious-transactions-dlq"],
            "stream_failure_queue_url": self.urls["fraud-detection-failures"],
            "fraud_detection_function_name": f"fraud-detection-{SUFFIX}",
        }}))  # fmt: skip
        self.outputs = StackOutputs.from_file(self.outputs_file)

    @property
    def dlq(self) -> str:
        return self.urls["suspicious-transactions-dlq"]

    @property
    def failures(self) -> str:
        return self.urls["fraud-detection-failures"]

    def driver(self) -> redrive.Redriver:
        return redrive.Redriver(self.outputs, self.sqs, self.ddb, self.streams, self.lam,
                                detection_function=redrive._detection_name(self.outputs), echo=self.lines.append)  # fmt: skip

    def send(self, queue: str, body: Any, **attributes: str) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        attrs = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        self.sqs.send_message(QueueUrl=queue, MessageBody=text, MessageAttributes=attrs)

    def bodies(self, queue: str) -> list[str]:
        """Every visible message body (left visible: read with a zero visibility timeout)."""
        found = {}
        for _ in range(5):
            for m in self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                              MessageAttributeNames=["All"]).get("Messages", []):  # fmt: skip
                found[m["MessageId"]] = m
        return [m["Body"] for m in found.values()]

    def main(self, *argv: str) -> int:
        return redrive.main([*argv, "--outputs", str(self.outputs_file)], redriver=self.driver())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "OUTPUTS_FILE", "API_ENDPOINT", "DYNAMODB_TABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield Env(tmp_path)


# --- alerts -----------------------------------------------------------------------------


def test_alert_dry_run_lists_reasons_and_moves_nothing(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.send(env.dlq, alert("txn-good-0001"))
    env.send(env.dlq, {"version": 1, "transaction_id": "txn-bad-0001", "merchant": PAN})
    env.send(env.dlq, f"not json {PAN}")
    assert env.main("alerts", "--dry-run") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"source": "alerts", "dry_run": True, "examined": 3,
                       "outcomes": {"would move": 1, "skip": 2}, "kinds": {"alert": 1, "malformed-alert": 2}}  # fmt: skip
    good = next(line for line in env.lines if "txn-good-0001" in line)
    assert "would move" in good and "valid alert" in good
    assert any("body is not JSON" in line for line in env.lines)
    assert not any(PAN in line for line in env.lines), "a parked body leaked into the report"
    assert len(env.bodies(env.dlq)) == 3 and env.bodies(env.urls["suspicious-transactions"]) == []


def test_alerts_move_with_attributes_and_malformed_ones_stay(env: Env) -> None:
    env.send(env.dlq, alert("txn-good-0001"), decision="block")
    env.send(env.dlq, alert("txn-good-0002"))
    env.send(env.dlq, {"version": 1, "transaction_id": "txn-bad-0001"})
    assert env.main("alerts") == 0
    moved = env.sqs.receive_message(QueueUrl=env.urls["suspicious-transactions"], MaxNumberOfMessages=10,
                                    MessageAttributeNames=["All"])["Messages"]  # fmt: skip
    assert sorted(json.loads(m["Body"])["transaction_id"] for m in moved) == ["txn-good-0001", "txn-good-0002"]
    with_attr = next(m for m in moved if "txn-good-0001" in m["Body"])
    assert with_attr["MessageAttributes"]["decision"]["StringValue"] == "block"
    assert [json.loads(b)["transaction_id"] for b in env.bodies(env.dlq)] == ["txn-bad-0001"]


def test_include_malformed_and_max_limit(env: Env) -> None:
    for i in range(5):
        env.send(env.dlq, {"version": 1, "transaction_id": f"txn-bad-000{i}"})
    assert env.main("alerts", "--include-malformed", "--max", "3") == 0
    assert len(env.bodies(env.dlq)) == 2
    assert len(env.bodies(env.urls["suspicious-transactions"])) == 3


# --- stream -----------------------------------------------------------------------------


def poison(transaction_id: str, image: dict[str, Any]) -> dict[str, Any]:
    return {"kind": redrive.POISON_KIND, "reason": "transaction item lacks attribute 'card_last4'",
            "event_id": "evt-1", "event_name": "INSERT", "sequence_number": "000000000000000000042",
            "event_source_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/transactions-unit/stream/x",
            "approximate_creation_time": 1_700_000_000, "new_image": image,
            "keys": {"transaction_id": {"S": transaction_id}}}  # fmt: skip


def test_unparseable_image_stays_unless_forced(env: Env) -> None:
    broken = item("txn-p-0001", card_last4=None)
    env.send(env.failures, poison("txn-p-0001", broken))
    assert env.main("stream") == 0
    assert env.lam.events == [] and len(env.bodies(env.failures)) == 1
    assert "still unparseable" in env.lines[0] and "--force" in env.lines[0]
    assert env.main("stream", "--force") == 0
    (event,) = env.lam.events
    (record,) = event["Records"]
    assert record["eventName"] == "INSERT" and record["dynamodb"]["NewImage"] == broken
    assert record["dynamodb"]["SequenceNumber"] == "000000000000000000042"
    assert env.bodies(env.failures) == []


def test_refresh_image_redelivers_the_fixed_item(env: Env) -> None:
    env.send(env.failures, poison("txn-p-0002", item("txn-p-0002", amount="lots")))
    env.send(env.failures, poison("txn-p-0003", item("txn-p-0003", amount="lots")))
    env.ddb.put_item(TableName=env.table, Item=item("txn-p-0002"))  # fixed; txn-p-0003 is gone
    assert env.main("stream", "--refresh-image", "--dry-run") == 0
    assert env.lam.events == [] and len(env.bodies(env.failures)) == 2
    assert env.main("stream", "--refresh-image") == 0
    (event,) = env.lam.events
    assert event["Records"][0]["dynamodb"]["NewImage"] == item("txn-p-0002")
    (left,) = env.bodies(env.failures)
    assert "txn-p-0003" in left
    assert any("txn-p-0003" in line and "gone from the table" in line for line in env.lines)


@pytest.mark.parametrize("failure", ["reported", "raised"])
def test_a_redelivery_detection_did_not_complete_keeps_the_message(env: Env, failure: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    env.send(env.failures, poison("txn-p-0004", item("txn-p-0004")))
    if failure == "reported":
        env.lam.result = {"batchItemFailures": [{"itemIdentifier": "000000000000000000042"}]}
    else:
        env.lam.function_error, env.lam.result = "Unhandled", {"errorMessage": "boom"}
    assert env.main("stream") == 1
    assert len(env.bodies(env.failures)) == 1 and "failed" in env.lines[0]
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["outcomes"] == {"failed": 1}


def test_on_failure_batch_is_read_back_from_the_stream(env: Env) -> None:
    for i in range(4):
        env.ddb.put_item(TableName=env.table, Item=item(f"txn-s-000{i}"))
    env.ddb.update_item(TableName=env.table, Key={"transaction_id": {"S": "txn-s-0001"}},
                        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": "SCORED"}})  # fmt: skip
    arn = env.ddb.describe_table(TableName=env.table)["Table"]["LatestStreamArn"]
    (shard,) = env.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = env.streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    sequence = [r["dynamodb"]["SequenceNumber"] for r in env.streams.get_records(ShardIterator=iterator)["Records"]]
    assert len(sequence) == 5  # 4 INSERTs and the MODIFY
    info = {"shardId": shard["ShardId"], "startSequenceNumber": sequence[1], "endSequenceNumber": sequence[4],
            "batchSize": 4, "streamArn": arn}  # fmt: skip
    env.send(env.failures, {"requestContext": {"condition": "RetryAttemptsExhausted"}, "DDBStreamBatchInfo": info})
    env.send(env.failures, {"something": "else"})
    assert env.main("stream") == 0
    (event,) = env.lam.events
    keys = [r["dynamodb"]["Keys"]["transaction_id"]["S"] for r in event["Records"]]
    assert keys == ["txn-s-0001", "txn-s-0002", "txn-s-0003"]  # the range's INSERTs only
    assert all(r["eventSourceARN"] == arn and isinstance(r["dynamodb"]["ApproximateCreationDateTime"], int)
               for r in event["Records"])  # fmt: skip
    assert [json.loads(b) for b in env.bodies(env.failures)] == [{"something": "else"}]
    assert any("RetryAttemptsExhausted" in line and "redelivered" in line for line in env.lines)


# --- command line -----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["alerts", "--max", "0"], ["alerts", "--refresh-image"], ["stream", "--include-malformed"], ["sideways"],
    ["alerts", "--outputs", "/nonexistent/outputs.json"],
])  # fmt: skip
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        redrive.main(argv)
    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


def test_missing_queue_is_a_clear_error(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.sqs.delete_queue(QueueUrl=env.dlq)
    data = json.loads(env.outputs_file.read_text())
    del data[f"tap-stack-{SUFFIX}"]["alert_dlq_url"]
    env.outputs_file.write_text(json.dumps(data))
    assert redrive.main(["alerts", "--outputs", str(env.outputs_file)]) == 2
    assert "alert DLQ not found" in capsys.readouterr().err


def test_outputs_without_a_stack_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"tap-stack-a": {}, "tap-stack-b": {}}))
    assert redrive.main(["stream", "--dry-run", "--outputs", str(path)]) == 2
    assert "expected one stack" in capsys.readouterr().err
