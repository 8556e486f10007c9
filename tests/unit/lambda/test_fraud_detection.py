"""fraud_detection against moto, fed with the records moto's DynamoDB stream really produced."""
from __future__ import annotations

import json
from typing import Any, Callable

import boto3
import pytest
from botocore.exceptions import ClientError

import fraud_detection

PANS = ("1234567890123456", "4111111111111111", "5500005555555559")
APPROVE = {"amount": 125.50, "merchant": "Store Name", "card_number": PANS[1], "location": "New York, USA",
           "customer_id": "CUST12345"}  # fmt: skip
BLOCK = {"amount": 15000.00, "merchant": "Unknown Store", "card_number": PANS[0], "location": "Nigeria"}
BLACKLISTED = {"amount": 20.00, "merchant": "Scam Store", "card_number": PANS[2], "location": "Lagos"}


def throttled(operation: str) -> Callable[..., Any]:
    def fail(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation)

    return fail


def inserts(aws) -> list[dict[str, Any]]:
    return [r for r in aws.stream_records() if r["eventName"] == "INSERT"]


def run(records: list[dict[str, Any]], context) -> list[str]:
    deps = fraud_detection.container()
    for part in (deps.alerts, deps.failures, deps.state):
        if part is not None:
            part._sleep = lambda _s: None
    result = fraud_detection.handler({"Records": records}, context)
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def alert_bodies(aws) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in aws.drain(aws.alert_queue)]


def test_batch_is_scored_written_back_and_flagged_ones_queued(aws, submit, context, output):
    ids = [submit(p) for p in (APPROVE, BLOCK, BLACKLISTED)]
    assert run(inserts(aws), context) == []
    items = {i["transaction_id"]: i for i in aws.scan("transactions")}
    for txn_id in ids:
        item = items[txn_id]
        assert item["status"] == "SCORED" and 0 <= item["risk_score"] <= 100
        assert item["model_version"] and item["scored_at"] > 0
        assert sum(r["contribution"] for r in item["reasons"]) == item["risk_score"]
    assert items[ids[0]]["decision"] == "approve"
    assert items[ids[1]]["decision"] == "block"
    assert {r["code"] for r in items[ids[1]]["reasons"]} >= {"HIGH_AMOUNT", "HIGH_RISK_LOCATION", "CARD_CHECKSUM_FAILED"}
    alerts = alert_bodies(aws)
    assert sorted(a["transaction_id"] for a in alerts) == sorted(ids[1:])
    assert all(a["version"] == 1 and a["card_last4"] for a in alerts)
    # State documents exist per card, customer and merchant.
    keys = {d["pk"].split("#")[0] for d in aws.scan("fraud-state")}
    assert keys == {"CARD", "CUST", "MERCH"}
    logged = output()
    assert '"TransactionsScored":[3.0]' in logged and '"RiskScore":[' in logged
    assert '"decision":"block"' in logged and '"TransactionsFlagged":[' in logged
    for pan in PANS:
        assert pan not in logged
        for base in ("transactions", "fraud-state"):
            assert pan not in aws.raw_items(base)
        assert pan not in json.dumps(alerts)


def test_own_write_backs_and_other_modifies_are_ignored(aws, submit, context):
    submit(BLOCK)
    run(inserts(aws), context)
    alert_bodies(aws)
    before = aws.scan("transactions") + aws.scan("fraud-state")
    modifies = [r for r in aws.stream_records() if r["eventName"] != "INSERT"]
    assert modifies, "the score write-back must appear on the stream"
    assert run(modifies, context) == []
    assert alert_bodies(aws) == []
    assert aws.scan("transactions") + aws.scan("fraud-state") == before


def test_replayed_batch_adds_no_state_and_an_identical_score(aws, submit, context):
    submit(APPROVE)
    submit(BLOCK)
    records = inserts(aws)
    run(records, context)
    first_state = aws.scan("fraud-state")
    first_scores = {i["transaction_id"]: (i["risk_score"], i["decision"], i["reasons"]) for i in aws.scan("transactions")}
    first_alerts = alert_bodies(aws)
    assert run(records, context) == []
    assert aws.scan("fraud-state") == first_state  # nothing applied twice
    assert {i["transaction_id"]: (i["risk_score"], i["decision"], i["reasons"]) for i in aws.scan("transactions")} == first_scores
    # The replay re-queues the same alert body; the notification side dedupes on transaction_id.
    assert alert_bodies(aws) == first_alerts


def test_poison_record_is_parked_and_never_blocks_its_batch(aws, submit, context, make_stream_record):
    good = [submit(APPROVE), submit(BLOCK)]
    records = inserts(aws)
    broken = make_stream_record({"transaction_id": "poison-0001", "amount": "12.00", "status": "RECEIVED"})
    no_image = make_stream_record(None, raw_image={})
    failures = run([records[0], broken, records[1], no_image], context)
    assert failures == []
    assert {i["transaction_id"] for i in aws.scan("transactions") if i.get("status") == "SCORED"} == set(good)
    parked = [json.loads(m["Body"]) for m in aws.drain(aws.failure_queue)]
    assert len(parked) == 2
    by_event = {p["event_id"]: p for p in parked}
    first = by_event[broken["eventID"]]
    assert first["kind"] == fraud_detection.POISON_KIND
    assert first["sequence_number"] == broken["dynamodb"]["SequenceNumber"]
    assert first["new_image"] == broken["dynamodb"]["NewImage"] and "lacks attribute" in first["reason"]
    assert by_event[no_image["eventID"]]["reason"] == "record has no new image"


def test_poison_that_cannot_be_parked_is_reported(aws, context, make_stream_record, scripted):
    fraud_detection.container().failures._sqs = scripted(boto3.client("sqs"), send_message_batch=throttled("SendMessageBatch"))
    broken = make_stream_record({"transaction_id": "poison-0002"})
    assert run([broken], context) == [broken["dynamodb"]["SequenceNumber"]]


def test_without_a_failure_queue_poison_is_reported_for_lambda_to_retry(aws, context, make_stream_record, monkeypatch):
    monkeypatch.delenv("FAILURE_QUEUE_URL")
    fraud_detection.container.cache_clear()
    broken = make_stream_record({"transaction_id": "poison-0004"})
    assert run([broken], context) == [broken["dynamodb"]["SequenceNumber"]]


def test_alert_queue_failure_reports_only_flagged_records_in_stream_order(aws, submit, context, scripted):
    submit(BLOCK)
    submit(APPROVE)
    submit(BLACKLISTED)
    records = inserts(aws)
    sqs = boto3.client("sqs")
    fraud_detection.container().alerts._sqs = scripted(sqs, send_message_batch=throttled("SendMessageBatch"))
    failures = run(records, context)
    assert failures == [records[0]["dynamodb"]["SequenceNumber"], records[2]["dynamodb"]["SequenceNumber"]]
    state = aws.scan("fraud-state")
    # Lambda retries from the lowest failed record: the replay sends the alerts, state stays as it is.
    fraud_detection.container().alerts._sqs = sqs
    assert run(records, context) == []
    assert aws.scan("fraud-state") == state
    assert len(alert_bodies(aws)) == 2


def test_partial_sqs_failures_are_retried_per_entry(aws, submit, context, scripted):
    submit(BLOCK)
    submit(BLACKLISTED)
    sqs = boto3.client("sqs")
    calls: list[int] = []

    def flaky_batch(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Entries"]))
        if len(calls) == 1:  # the service fails the first entry once
            first, *rest = kwargs["Entries"]
            sent = sqs.send_message_batch(QueueUrl=kwargs["QueueUrl"], Entries=rest)
            return {**sent, "Failed": [{"Id": first["Id"], "SenderFault": False, "Code": "InternalError"}]}
        return sqs.send_message_batch(**kwargs)

    fraud_detection.container().alerts._sqs = scripted(sqs, send_message_batch=flaky_batch)
    assert run(inserts(aws), context) == []
    assert calls == [2, 1]
    assert len(alert_bodies(aws)) == 2


def test_throttled_state_reads_fail_every_parsed_record(aws, submit, context, make_stream_record, scripted):
    submit(APPROVE)
    submit(BLOCK)
    records = inserts(aws)
    broken = make_stream_record({"transaction_id": "poison-0003"})
    state = fraud_detection.container().state
    state._dynamodb = scripted(boto3.client("dynamodb"), batch_get_item=throttled("BatchGetItem"))
    failures = run([broken, *records], context)
    assert failures == [r["dynamodb"]["SequenceNumber"] for r in records]
    assert len(aws.drain(aws.failure_queue)) == 1  # the poison is parked regardless
    assert all(i["status"] == "RECEIVED" for i in aws.scan("transactions"))


def test_state_conflict_on_commit_is_retried_and_applied_once(aws, submit, context, scripted):
    txn_id = submit(BLOCK)
    ddb = boto3.client("dynamodb")
    calls: list[int] = []

    def racing_commit(**kwargs: Any) -> Any:
        calls.append(len(kwargs["TransactItems"]))
        if len(calls) == 1:
            # Another writer creates the card document between our load and our commit.
            put = next(a["Put"] for a in kwargs["TransactItems"] if "Put" in a and a["Put"]["Item"]["pk"]["S"].startswith("CARD#"))
            from store.state_codec import to_item_attrs

            empty = {"version": 1, "expires_at": int(put["Item"]["expires_at"]["N"]), "events": [], "labels": []}
            ddb.put_item(TableName=put["TableName"], Item=to_item_attrs(put["Item"]["pk"]["S"], empty))
        return ddb.transact_write_items(**kwargs)

    fraud_detection.container().state._dynamodb = scripted(ddb, transact_write_items=racing_commit)
    assert run(inserts(aws), context) == []
    assert len(calls) == 2
    card = next(d for d in aws.scan("fraud-state") if d["pk"].startswith("CARD#"))
    assert card["version"] == 2 and [row[4] for row in card["events"]] == [txn_id]
    assert next(i for i in aws.scan("transactions"))["status"] == "SCORED"


def test_persistent_conflicts_become_batch_item_failures(aws, submit, context, scripted):
    submit(APPROVE)
    records = inserts(aws)

    def always_conflict(**kwargs: Any) -> Any:
        reasons = [{"Code": "ConditionalCheckFailed" if "Put" in a else "None"} for a in kwargs["TransactItems"]]
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"},
                           "CancellationReasons": reasons}, "TransactWriteItems")  # fmt: skip

    fraud_detection.container().state._dynamodb = scripted(boto3.client("dynamodb"), transact_write_items=always_conflict)
    assert run(records, context) == [records[0]["dynamodb"]["SequenceNumber"]]


def test_an_unexpected_error_raises_so_lambda_bisects(aws, submit, context, monkeypatch):
    submit(APPROVE)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(fraud_detection.container().engine, "assess_batch", broken)
    with pytest.raises(RuntimeError):
        run(inserts(aws), context)


def test_the_deployed_engine_combines_the_rules_with_the_configured_model():
    from fraud.rules_config import RulesConfig

    config = RulesConfig.load()
    engine = fraud_detection._engine()  # the real factory, not the fixture's rules-only stand-in
    assert engine.rules.version == config.version
    if config.model_artifact:
        assert engine.model is not None and engine.model.version
    else:
        assert engine.model is None
