"""Faults injected into the running pipeline, then recovery: nothing lost, nothing doubled.

Each test breaks one stage with an ordinary configuration change (faults_support.py),
sends traffic through it, repairs the stage and checks the invariants:
  - every accepted transaction is scored, and applied to its card's history exactly once;
  - every alertable transaction produces exactly one alert (flagged = one, normal = none);
  - poison is parked with enough context to act on.

MiniStack's stream mapping ignores `batchItemFailures` (docs/LOCAL.md), so where detection
*reports* records as failed (instead of raising), the test checks the report itself by
invoking the deployed function with the records read back from the stream, then performs the
retry Lambda would make on AWS. What the emulator does enforce (function errors and throttles
retried on the stream, SQS partial batch responses and visibility, reserved concurrency) is
left to it.
"""
from __future__ import annotations

import json
import secrets
from typing import Any, Optional

import pytest
import requests

from faults_support import (
    FAULT_CHECK_S,
    MISSING,
    all_inserts,
    assert_recovered,
    concurrency_fault,
    env_fault,
    flagged,
    function_name,
    held_for,
    invoke,
    items,
    no_alert_for,
    normal,
    queue_visibility,
    redrive_given_up,
    still_received,
    submit_all,
    take_from,
    wait_for,
)
from lib.local.outputs import StackOutputs
from lib.local.traffic import Pipeline, Submission

pytestmark = pytest.mark.integration

# --- detection --------------------------------------------------------------------------


def test_throttled_detection_catches_up_without_loss_or_duplicates(pipeline: Pipeline, outputs: StackOutputs) -> None:
    lam = outputs.client("lambda")
    with concurrency_fault(lam, function_name(outputs, "fraud-detection"), 0):
        subs = submit_all(pipeline, [flagged(), normal(), flagged()])
        assert held_for(lambda: still_received(pipeline, subs), FAULT_CHECK_S), "scored while throttled"
    assert all(outcome == "redelivered" for outcome in redrive_given_up(outputs))
    assert_recovered(pipeline, outputs, subs)


def test_detection_failing_every_invocation_is_retried_until_repaired(pipeline: Pipeline, outputs: StackOutputs) -> None:
    """A function error (missing STATE_TABLE: the container cannot start) blocks the shard; no record is skipped."""
    lam = outputs.client("lambda")
    with env_fault(lam, function_name(outputs, "fraud-detection"), STATE_TABLE=None):
        subs = submit_all(pipeline, [normal(), flagged(), normal()])
        assert held_for(lambda: still_received(pipeline, subs), FAULT_CHECK_S), "scored without its state table"
    assert all(outcome == "redelivered" for outcome in redrive_given_up(outputs))
    assert_recovered(pipeline, outputs, subs)


@pytest.mark.parametrize("variable", ["ALERT_QUEUE_URL", "STATE_TABLE"])
def test_detection_reports_failed_records_and_their_retry_completes_them(
    pipeline: Pipeline, outputs: StackOutputs, variable: str
) -> None:
    """SQS sends / DynamoDB reads failing: the affected records come back as batchItemFailures."""
    lam = outputs.client("lambda")
    name = function_name(outputs, "fraud-detection")
    original = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"][variable]
    with env_fault(lam, name, **{variable: f"{original}-{MISSING}"}):
        subs = submit_all(pipeline, [flagged(), normal()])
        records = all_inserts(outputs, subs)
        reported = invoke(lam, name, {"Records": records})
        assert "FunctionError" not in reported, reported
        failed = {f["itemIdentifier"] for f in reported["batchItemFailures"]}
        sequence = {r["dynamodb"]["Keys"]["transaction_id"]["S"]: r["dynamodb"]["SequenceNumber"] for r in records}
        # Queue down: only the flagged record (its alert is unsent); state down: every record.
        affected = subs[:1] if variable == "ALERT_QUEUE_URL" else subs
        assert failed == {sequence[s.transaction_id or ""] for s in affected}
    # The retry Lambda makes on AWS after a partial failure (MiniStack drops it: docs/LOCAL.md).
    assert invoke(lam, name, {"Records": records}) == {"batchItemFailures": []}
    assert_recovered(pipeline, outputs, subs)


def test_stream_poison_is_parked_with_context_and_spares_its_neighbours(
    pipeline: Pipeline, outputs: StackOutputs
) -> None:
    assert outputs.failure_queue_url, "no fraud-detection-failures queue in the outputs"
    before = pipeline.submit(flagged())
    poison_id = f"poison-{secrets.token_hex(8)}"
    bad_image = {"transaction_id": {"S": poison_id}, "status": {"S": "RECEIVED"}, "amount": {"S": "lots"}}
    outputs.client("dynamodb").put_item(TableName=outputs.table_name, Item=bad_image)
    after = pipeline.submit(normal())
    assert_recovered(pipeline, outputs, [before, after])
    sqs = outputs.client("sqs")
    parked = take_from(sqs, outputs.failure_queue_url, lambda m: poison_id in m["Body"], 1, 20)
    assert len(parked) == 1, "the malformed stream record was not parked on the failure queue"
    body = json.loads(parked[0]["Body"])
    assert body["kind"] == "fraud-detection/unparseable-record"
    assert body["keys"] == {"transaction_id": {"S": poison_id}}
    assert body["new_image"] == bad_image  # the exact image: enough to fix and redrive
    assert body["event_name"] == "INSERT" and body["event_id"] and body["sequence_number"]
    assert body["event_source_arn"].startswith("arn:aws:dynamodb:") and "lacks attribute" in body["reason"]
    (item,) = items(outputs, outputs.table_name, [{"transaction_id": {"S": poison_id}}])
    assert item.get("decision") is None  # parked, not half-scored


# --- api --------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["TRANSACTIONS_TABLE", "IDEMPOTENCY_TABLE", "CARD_FINGERPRINT_KEY_ID"])
def test_api_dependency_failure_is_a_json_500_and_a_keyed_retry_records_once(
    pipeline: Pipeline, outputs: StackOutputs, variable: str
) -> None:
    lam = outputs.client("lambda")
    name = function_name(outputs, "api-handler")
    original = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"][variable]
    body, key = flagged(), f"fault-{secrets.token_hex(8)}"
    with env_fault(lam, name, **{variable: f"{original}-{MISSING}"}):
        failed = pipeline.submit(body, headers={"Idempotency-Key": key})
        assert failed.status == 500, (failed.status, failed.response)
        assert isinstance(failed.response, dict) and "retry" in failed.response["message"].lower()
        assert body["card_number"] not in json.dumps(failed.response)
    first = pipeline.submit(body, headers={"Idempotency-Key": key})
    again = pipeline.submit(body, headers={"Idempotency-Key": key})
    assert first.status == again.status == 201, (first.response, again.response)
    assert first.transaction_id == again.transaction_id
    assert_recovered(pipeline, outputs, [first])


# --- notification -----------------------------------------------------------------------


def _in_flight(sqs: Any, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"])


def _waiting(sqs: Any, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def _scored(pipeline: Pipeline, subs: list[Submission]) -> bool:
    pipeline.follow(subs, 0, expect_alerts=False)
    return all(s.scored for s in subs)


def test_sns_outage_shorter_than_the_redrive_count_loses_and_doubles_nothing(
    pipeline: Pipeline, outputs: StackOutputs
) -> None:
    assert outputs.alert_queue_url and outputs.dlq_url
    lam, sqs = outputs.client("lambda"), outputs.client("sqs")
    name = function_name(outputs, "notification-handler")
    topic = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]["ALERT_TOPIC_ARN"]
    # 6 s visibility: the 3 receives before the DLQ take >= 12 s, the repair takes ~1 s.
    with queue_visibility(sqs, outputs.alert_queue_url, 6):
        with env_fault(lam, name, ALERT_TOPIC_ARN=f"{topic}-{MISSING}"):
            subs = submit_all(pipeline, [flagged(), flagged(), normal()])
            assert wait_for(lambda: _scored(pipeline, subs), 20), "not scored"
            # A receive under the fault happened (and failed): the alerts are now in flight.
            assert wait_for(lambda: _in_flight(sqs, outputs.alert_queue_url) >= 2, 10), "alerts never received"
        assert_recovered(pipeline, outputs, subs)
    ids = {s.transaction_id or "" for s in subs}
    assert take_from(sqs, outputs.dlq_url, lambda m: any(i in m["Body"] for i in ids), 1, 3) == []


def test_throttled_notification_holds_alerts_until_capacity_returns(pipeline: Pipeline, outputs: StackOutputs) -> None:
    assert outputs.alert_queue_url
    lam, sqs = outputs.client("lambda"), outputs.client("sqs")
    with concurrency_fault(lam, function_name(outputs, "notification-handler"), 0):
        subs = submit_all(pipeline, [flagged(), normal(), flagged()])
        assert wait_for(lambda: _scored(pipeline, subs), 20), "not scored"
        assert wait_for(lambda: _waiting(sqs, outputs.alert_queue_url) >= 2, 10), "alerts not queued"
        assert held_for(lambda: no_alert_for(pipeline, subs), FAULT_CHECK_S), "alerted without capacity"
    assert_recovered(pipeline, outputs, subs)


def test_api_stays_json_when_its_function_is_throttled(outputs: StackOutputs) -> None:
    """The API handler throttled: the client sees a retryable status with a body, never a hang."""
    lam = outputs.client("lambda")
    with concurrency_fault(lam, function_name(outputs, "api-handler"), 0):
        resp = requests.post(outputs.api_url, json=flagged(), timeout=30,
                             headers={"x-api-key": outputs.api_key or "", "Idempotency-Key": secrets.token_hex(8)})  # fmt: skip
    assert resp.status_code in (429, 500, 502, 503), resp.status_code
    payload: Optional[Any]
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    assert isinstance(payload, dict) and payload.get("message"), resp.text[:300]
