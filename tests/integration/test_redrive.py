"""scripts/redrive.py on the running stack: parked messages go back once the cause is fixed.

Three ways a message gets parked, each redriven through the script's CLI with the
deployment's outputs file:
  - an SNS outage outlasting the alert queue's maxReceiveCount puts alerts in the DLQ;
  - a malformed item in the table is parked by detection on the failure queue;
  - a batch the stream mapping gave up on becomes an on-failure record (DDBStreamBatchInfo)
    naming only stream positions. MiniStack never writes one for a partial failure (it
    ignores batchItemFailures), so that test writes the record AWS would write, with the
    real shard and sequence number of a record detection failed.
"""
from __future__ import annotations

import json
import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import pytest

from faults_support import (
    MISSING,
    all_inserts,
    assert_recovered,
    env_fault,
    flagged,
    function_name,
    queue_visibility,
    stream_inserts,
    submit_all,
    take_from,
    times_applied,
    wait_for,
)
from lib.local.outputs import StackOutputs, write_outputs_file
from lib.local.traffic import Pipeline, Submission
from scripts import redrive

pytestmark = pytest.mark.integration

PARK_BOUND_S = 60.0  # 3 receives x 2 s visibility + the emulator's poll gaps, with slack


@pytest.fixture
def outputs_file(outputs: StackOutputs, tmp_path: Path) -> Path:
    """The deployment's outputs as a file, whatever they came from (the script's only input)."""
    return write_outputs_file(tmp_path / "outputs.json", outputs.raw)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], dict[str, Any]]:
    code = redrive.main(list(argv))
    lines = capsys.readouterr().out.strip().splitlines()
    return code, lines[:-1], json.loads(lines[-1])


def listing(outputs: StackOutputs, source: str, **options: Any) -> list[redrive.Parked]:
    driver = redrive.build(outputs, echo=lambda _line: None)
    if source == "alerts":
        return driver.alerts(dry_run=True, limit=100, include_malformed=False)
    return driver.stream(dry_run=True, limit=100, refresh_image=options.get("refresh", False), force=False)


def about(parked: list[redrive.Parked], transaction_id: str) -> Optional[redrive.Parked]:
    return next((p for p in parked if transaction_id in p.transaction_ids), None)


def accepted(transaction_id: str) -> Submission:
    """A Submission for an item written directly to the table (so Pipeline.follow can track it)."""
    return Submission(body={}, status=201, response={}, sent_at=time.time(), latency_s=0.0,
                      transaction_id=transaction_id)  # fmt: skip


def test_alerts_parked_by_an_sns_outage_are_redriven_once_each(
    pipeline: Pipeline, outputs: StackOutputs, outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert outputs.alert_queue_url and outputs.dlq_url
    lam, sqs = outputs.client("lambda"), outputs.client("sqs")
    name = function_name(outputs, "notification-handler")
    topic = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]["ALERT_TOPIC_ARN"]
    malformed = f"malformed-{secrets.token_hex(6)}"
    with queue_visibility(sqs, outputs.alert_queue_url, 2) as original:
        with env_fault(lam, name, ALERT_TOPIC_ARN=f"{topic}-{MISSING}"):
            subs = submit_all(pipeline, [flagged(), flagged()])
            sqs.send_message(QueueUrl=outputs.alert_queue_url,
                             MessageBody=json.dumps({"version": 1, "transaction_id": malformed}))  # fmt: skip
            wanted = [s.transaction_id or "" for s in subs] + [malformed]
            parked = wait_for(lambda: [p for p in [listing(outputs, "alerts")] if all(about(p, i) for i in wanted)],
                              PARK_BOUND_S)  # fmt: skip
            assert parked, f"not all of {wanted} reached the DLQ within {PARK_BOUND_S:.0f}s"
    max_receives = int(json.loads(original["RedrivePolicy"])["maxReceiveCount"])
    for sub in subs:
        item = about(parked[0], sub.transaction_id or "")
        assert item and item.kind == "alert" and item.receive_count >= max_receives
        assert item.outcome == "would move"
    bad = about(parked[0], malformed)
    assert bad and bad.kind == "malformed-alert" and "merchant" in bad.reason and bad.outcome.startswith("skip")

    code, lines, summary = run(capsys, "alerts", "--outputs", str(outputs_file))
    assert code == 0, lines
    assert summary["outcomes"].get("moved", 0) >= 2 and summary["dry_run"] is False
    assert_recovered(pipeline, outputs, subs)  # exactly one alert each, after the redrive
    # The malformed message stays where a human can see it (and is cleaned up here).
    assert len(take_from(sqs, outputs.dlq_url, lambda m: malformed in m["Body"], 1, 10)) == 1
    code, _, summary = run(capsys, "alerts", "--dry-run", "--outputs", str(outputs_file))
    assert code == 0 and summary["outcomes"].get("would move", 0) == 0


def _valid_item(transaction_id: str) -> dict[str, Any]:
    """What the api handler would have stored: a flagged amount from a high-risk country."""
    now = int(time.time() * 1000)
    item = {
        "transaction_id": transaction_id, "status": "RECEIVED", "received_at": now, "event_time": now,
        "amount": Decimal("15000.00"), "currency": "USD", "merchant": "Unknown Store", "location": "Nigeria",
        "country": "NG", "card_fingerprint": secrets.token_hex(32), "card_last4": "4242", "card_bin": "424242",
        "card_luhn_valid": True,
    }  # fmt: skip
    from boto3.dynamodb.types import TypeSerializer

    return {k: TypeSerializer().serialize(v) for k, v in item.items()}


def test_parked_stream_record_is_scored_once_after_its_item_is_fixed(
    pipeline: Pipeline, outputs: StackOutputs, outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert outputs.failure_queue_url
    dynamodb = outputs.client("dynamodb")
    poison = f"poison-{secrets.token_hex(8)}"
    dynamodb.put_item(TableName=outputs.table_name, Item={"transaction_id": {"S": poison}, "amount": {"S": "?"}})
    parked = wait_for(lambda: about(listing(outputs, "stream"), poison), 20)
    assert parked, "detection did not park the malformed record on the failure queue"
    assert parked.kind == "poison-record" and parked.reason.startswith("still unparseable")
    assert parked.outcome.startswith("skip")  # as it is, it would only be parked again

    # The fix: the item as it should have been. A MODIFY, which detection never scores by itself.
    dynamodb.put_item(TableName=outputs.table_name, Item=_valid_item(poison))
    code, lines, summary = run(capsys, "stream", "--refresh-image", "--dry-run", "--outputs", str(outputs_file))
    assert code == 0 and any(poison in line and "would redeliver" in line for line in lines), lines
    code, lines, summary = run(capsys, "stream", "--refresh-image", "--outputs", str(outputs_file))
    assert code == 0 and any(poison in line and "redelivered" in line for line in lines), lines

    sub = accepted(poison)
    assert_recovered(pipeline, outputs, [sub])
    assert sub.item and sub.item["decision"] != "approve"
    assert about(listing(outputs, "stream"), poison) is None  # gone from the failure queue


def test_stream_batch_given_up_by_the_mapping_is_replayed_from_the_stream(
    pipeline: Pipeline, outputs: StackOutputs, outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert outputs.failure_queue_url
    lam, sqs = outputs.client("lambda"), outputs.client("sqs")
    name = function_name(outputs, "fraud-detection")
    queue = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]["ALERT_QUEUE_URL"]
    with env_fault(lam, name, ALERT_QUEUE_URL=f"{queue}-{MISSING}"):
        (sub,) = submit_all(pipeline, [flagged()])
        (record,) = all_inserts(outputs, [sub])
        assert wait_for(lambda: pipeline.follow([sub], 0, expect_alerts=False) == [] and sub.scored, 20)
    shards: dict[str, str] = {}
    stream_inserts(outputs, {sub.transaction_id or ""}, shards)
    sequence = record["dynamodb"]["SequenceNumber"]
    given_up = {
        "requestContext": {"requestId": secrets.token_hex(8), "functionArn": name, "condition": "RetryAttemptsExhausted",
                           "approximateInvokeCount": 3},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": ""},
        "version": "1.0", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "DDBStreamBatchInfo": {"shardId": shards[sequence], "startSequenceNumber": sequence, "endSequenceNumber": sequence,
                               "batchSize": 1, "streamArn": record["eventSourceARN"]},
    }  # fmt: skip
    sqs.send_message(QueueUrl=outputs.failure_queue_url, MessageBody=json.dumps(given_up))

    code, lines, summary = run(capsys, "stream", "--outputs", str(outputs_file))
    assert code == 0 and any("stream-batch" in line and "redelivered" in line for line in lines), lines
    assert_recovered(pipeline, outputs, [sub])
    assert sub.item and times_applied(outputs, sub.item) == 1
    assert take_from(sqs, outputs.failure_queue_url, lambda m: sequence in m["Body"], 1, 3) == []
