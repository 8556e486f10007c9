#!/usr/bin/env python3
"""AWS calls per 1,000 transactions per stage: the real handlers on moto, counted by botocore hooks.

    python -m bench.aws_calls [--sweep 10,50,100,500,1000] [--flagged 0.01]

Tables come from the synthesized stack (key schemas, stream); the state table is
pre-loaded with the documents 45 days of simulated traffic left behind (bench/workload.py),
so items have steady-state sizes. Then, counted per stage (bench/call_counter.py):
  api           1,000 POST /transactions events (every other one with an Idempotency-Key),
                the simulation's latest normal transactions with 1 % replaced by sure alerts;
  detection     the INSERT records moto's stream holds, in batches of the stack's batch size;
  notification  the alert queue's messages, in batches of the queue mapping's batch size;
  seed_detection the seed's per-record design (bench/seed_design.py) on the same records.
`--sweep` re-runs detection at other batch sizes on the same records and the same initial state.
Calls the Lambda service makes for us (stream reads, queue polling) are not the function's
and are not counted here; the cost model adds them.

Prints JSON lines: detection_calls_per_1k and seed_design_detection_calls_per_1k (headline),
per-stage details (calls by operation, DynamoDB request units, SQS requests, own compute
time per invocation, log bytes per transaction) and the batch-size sweep.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from bench import seed_design
from bench.call_counter import CallCounter, StageCalls, item_sizes, price_deferred_writes
from bench.common import emit, load_stack, log, queue_batch_size, resources, stream_mapping
from bench.workload import History, controlled_traffic, history, replay_head

REGION = "us-east-1"
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "FraudDetection",
    "POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_TRACE_DISABLED": "1", "LOG_LEVEL": "INFO",
}  # fmt: skip
FINGERPRINT_LABEL = b"tap/card-fingerprint/v1"


class ByteCounter(io.TextIOBase):
    """A write-only stream that only counts UTF-8 bytes (log and EMF volume)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8"))
        return len(text)


@dataclass
class Context:
    function_name: str = "bench"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class StageRun:
    invocations: int = 0
    wall_s: float = 0.0
    log_bytes: int = 0


class _NoTableSnapshots:
    """Stands in for `copy` inside moto's DynamoDB models during the bench.

    moto's TransactWriteItems deep-copies the whole table once per action (for a rollback),
    which with thousands of steady-state documents makes one call take seconds and gigabytes.
    The bench is single-threaded, so no transaction is ever cancelled (the stage reports
    show every error code; `transact_cancellations` in the headline must stay 0) and
    tables need no snapshot. Everything else is deep-copied as before.
    """

    def __init__(self) -> None:
        import copy

        from moto.dynamodb.models.table import Table

        self._copy, self._table = copy, Table

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self._table) else self._copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._copy, name)


class Harness:
    """Moto resources shaped like the synthesized stack, the handlers wired to them, a counter."""

    def __init__(self, stack: dict[str, Any]) -> None:
        import boto3

        self.boto3 = boto3
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.tables: dict[str, str] = {}
        self.table_specs: dict[str, dict[str, Any]] = {}
        for table in resources(stack, "aws_dynamodb_table"):
            base = table["name"].rsplit("-", 1)[0]
            spec: dict[str, Any] = {"TableName": table["name"], "BillingMode": "PAY_PER_REQUEST",
                                    "KeySchema": [{"AttributeName": table["hash_key"], "KeyType": "HASH"}],
                                    "AttributeDefinitions": [{"AttributeName": table["hash_key"], "AttributeType": "S"}]}  # fmt: skip
            if table.get("stream_enabled"):
                spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table["stream_view_type"]}
            self.ddb.create_table(**spec)
            self.tables[base], self.table_specs[base] = table["name"], spec
        self.seed_table = "seed-results-bench"
        self.ddb.create_table(TableName=self.seed_table, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "transaction_id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "transaction_id", "AttributeType": "S"}])  # fmt: skip
        self.alert_queue = self.sqs.create_queue(QueueName="suspicious-transactions-bench")["QueueUrl"]
        failure_queue = self.sqs.create_queue(QueueName="fraud-detection-failures-bench")["QueueUrl"]
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="fraud-alerts-bench")["TopicArn"]
        kms = boto3.client("kms", region_name=REGION)
        key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        kms.create_alias(AliasName="alias/card-fingerprint-bench", TargetKeyId=key["KeyId"])
        self.fingerprint_key = bytes(kms.generate_mac(KeyId=key["KeyId"], Message=FINGERPRINT_LABEL,
                                                      MacAlgorithm="HMAC_SHA_256")["Mac"])  # fmt: skip
        os.environ.update({
            "TRANSACTIONS_TABLE": self.tables["transactions"], "STATE_TABLE": self.tables["fraud-state"],
            "IDEMPOTENCY_TABLE": self.tables["idempotency"], "ALERT_QUEUE_URL": self.alert_queue,
            "FAILURE_QUEUE_URL": failure_queue, "ALERT_TOPIC_ARN": topic,
            "CARD_FINGERPRINT_KEY_ID": key["Arn"].split(":key/")[0] + ":alias/card-fingerprint-bench",
        })  # fmt: skip
        import api_handler
        import fraud_detection
        import notification_handler
        from store import aws as store_aws

        self.handlers = {"api": api_handler, "detection": fraud_detection, "notification": notification_handler}
        for cached in (store_aws.client, api_handler.container, fraud_detection.container, notification_handler.container):
            cached.cache_clear()
        boto3.setup_default_session()  # the handlers' clients come from here: counted from birth
        self.counter = CallCounter().install(boto3.DEFAULT_SESSION)
        seed_design.install(self.counter)
        self.runs: dict[str, StageRun] = {}

    # -- state ---------------------------------------------------------------------------

    def preload_state(self, hist: History) -> int:
        """The documents the tail's transactions will read, card keys re-fingerprinted with the API's key."""
        from fraud.engine import FraudEngine
        from fraud.state import card_key
        from store.state_codec import to_item_attrs

        engine = hist.engine or FraudEngine()
        wanted = {key for row in hist.tail for key in engine.keys_for(row.txn)}
        rekey = {row.txn.card_fingerprint: hmac.new(self.fingerprint_key, row.pan.encode(), hashlib.sha256).hexdigest()
                 for row in hist.tail}  # fmt: skip
        table = self.tables["fraud-state"]
        requests = []
        for key, doc in hist.store.documents.items():
            if key not in wanted:
                continue
            if key.startswith("CARD#"):
                key = card_key(rekey[key[len("CARD#") :]])
            requests.append({"PutRequest": {"Item": to_item_attrs(key, doc)}})  # as detection stores it
        for start in range(0, len(requests), 25):
            self.ddb.batch_write_item(RequestItems={table: requests[start : start + 25]})
        return len(requests)

    def reset_state(self, hist: History) -> None:
        self.ddb.delete_table(TableName=self.tables["fraud-state"])
        self.ddb.create_table(**self.table_specs["fraud-state"])
        self.preload_state(hist)

    # -- stages --------------------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[StageRun]:
        run = self.runs.setdefault(name, StageRun())
        logs = ByteCounter()
        streams = {id(m.logger.registered_handler): m.logger.registered_handler for m in self.handlers.values()}
        previous = [(h, h.setStream(logs)) for h in streams.values()]
        try:
            with self.counter.stage(name), contextlib.redirect_stdout(logs):  # EMF metrics are printed
                yield run
        finally:
            for handler, stream in previous:
                handler.setStream(stream)
            run.log_bytes += logs.bytes

    def invoke(self, run: StageRun, handler: Any, event: dict[str, Any]) -> Any:
        started = time.perf_counter()
        result = handler(event, Context())
        run.wall_s += time.perf_counter() - started
        run.invocations += 1
        return result

    def api(self, bodies: list[dict[str, Any]]) -> int:
        accepted = 0
        with self.stage("api") as run:
            for index, body in enumerate(bodies):
                headers = {"Content-Type": "application/json"}
                if index % 2 == 0:
                    headers["Idempotency-Key"] = f"bench-{index}-{time.time_ns()}"
                event = {"resource": "/transactions", "path": "/transactions", "httpMethod": "POST",
                         "headers": headers, "body": json.dumps(body), "isBase64Encoded": False,
                         "pathParameters": None, "requestContext": {"stage": "prod", "requestId": f"r{index}"}}  # fmt: skip
                accepted += self.invoke(run, self.handlers["api"].handler, event)["statusCode"] == 201
        return accepted

    def stream_records(self) -> list[dict[str, Any]]:
        streams = self.boto3.client("dynamodbstreams", region_name=REGION)
        arn = self.ddb.describe_table(TableName=self.tables["transactions"])["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                for record in page["Records"]:
                    created = record["dynamodb"]["ApproximateCreationDateTime"]
                    record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
                    records.append({**record, "eventSourceARN": arn})
                iterator = page.get("NextShardIterator") if page["Records"] else None
        return [r for r in records if r["eventName"] == "INSERT"]

    def detection(self, records: list[dict[str, Any]], batch_size: int, stage: str = "detection") -> int:
        failures = 0
        with self.stage(stage) as run:
            for start in range(0, len(records), batch_size):
                result = self.invoke(run, self.handlers["detection"].handler, {"Records": records[start : start + batch_size]})
                failures += len(result["batchItemFailures"])
        return failures

    def seed(self, records: list[dict[str, Any]], batch_size: int) -> None:
        lam, ddb = self.boto3.client("lambda", region_name=REGION), self.boto3.client("dynamodb", region_name=REGION)
        with self.stage("seed_detection") as run:
            for start in range(0, len(records), batch_size):
                event = {"Records": records[start : start + batch_size]}
                self.invoke(run, lambda e, c: seed_design.handle(e, lam, ddb, self.seed_table), event)

    def drain_alerts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.alert_queue, MaxNumberOfMessages=10, VisibilityTimeout=600,
                                             MessageAttributeNames=["All"]).get("Messages", [])  # fmt: skip
            if not batch:
                return out
            out.extend(batch)

    def notification(self, messages: list[dict[str, Any]], batch_size: int) -> int:
        failures = 0
        with self.stage("notification") as run:
            for start in range(0, len(messages), batch_size):
                records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
                            "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
                            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:suspicious-transactions-bench",
                            "awsRegion": REGION} for m in messages[start : start + batch_size]]  # fmt: skip
                result = self.invoke(run, self.handlers["notification"].handler, {"Records": records})
                failures += len(result["batchItemFailures"])
        return failures

    def report(self, name: str, calls: StageCalls, transactions: int, deferred_wru: float) -> dict[str, Any]:
        run = self.runs[name]
        per = 1000 / transactions
        own_s = max(0.0, run.wall_s - calls.call_seconds - calls.counting_seconds)
        return {"bench": "aws_calls_stage", "stage": name, "transactions": transactions,
                "calls_per_1k": round(calls.total * per, 1), "calls": dict(sorted(calls.calls.items())),
                "invocations": run.invocations, "own_ms_per_invocation": round(own_s * 1000 / max(1, run.invocations), 2),
                "wru_per_txn": round((calls.wru + deferred_wru) / transactions, 2),
                "rru_per_txn": round(calls.rru / transactions, 2),
                "sqs_requests_per_1k": round(calls.sqs_requests * per, 1),
                "log_bytes_per_txn": round(run.log_bytes / transactions, 1), "errors": dict(calls.errors)}  # fmt: skip


def average_item_bytes(sizes: dict[tuple[str, str], int], tables: dict[str, str]) -> dict[str, float]:
    """Mean item size per table, and per state document kind (CARD#, CUST#, MERCH#)."""
    groups: dict[str, list[int]] = {}
    names = {name: base for base, name in tables.items()}
    for (table, key), size in sizes.items():
        base = names.get(table, table)
        groups.setdefault(base, []).append(size)
        if base == "fraud-state":
            kind = next((k for k in ("CARD#", "CUST#", "MERCH#") if k in key), None)
            if kind:
                groups.setdefault(f"fraud-state:{kind[:-1]}", []).append(size)
    return {name: round(sum(v) / len(v), 1) for name, v in sorted(groups.items()) if v}


def run(sweep: tuple[int, ...] = (10, 50, 100, 500, 1000), flagged_share: float = 0.01) -> list[dict[str, Any]]:
    from moto import mock_aws

    stack = load_stack()
    mapping, queue_batch = stream_mapping(stack), queue_batch_size(stack)
    hist = history()
    if hist.scored == 0:
        log("replaying the simulated history for steady-state documents")
        replay_head(hist)
    bodies = controlled_traffic(hist, flagged_share=flagged_share)
    saved = dict(os.environ)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(ENVIRONMENT)
    from unittest import mock

    import moto.dynamodb.models as moto_models

    try:
        with mock_aws(), mock.patch.object(moto_models, "copy", _NoTableSnapshots()):
            h = Harness(stack)
            log(f"pre-loaded {h.preload_state(hist)} state documents; {len(bodies)} API requests")
            accepted = h.api(bodies)
            records = h.stream_records()
            log(f"{len(records)} stream records → detection in batches of {mapping['batch_size']}")
            failures = h.detection(records, mapping["batch_size"])
            messages = h.drain_alerts()
            notification_failures = h.notification(messages, queue_batch)
            h.seed(records, mapping["batch_size"])
            sizes = item_sizes(h.ddb, [h.tables["transactions"], h.tables["idempotency"], h.tables["fraud-state"]])
            item_bytes = average_item_bytes(sizes, h.tables)
            n = len(bodies)
            stages = h.counter.stages
            reports = [h.report(name, stages[name], n, price_deferred_writes(stages[name], sizes))
                       for name in ("api", "detection", "notification", "seed_detection")]  # fmt: skip
            sweep_rows = []
            for size in [s for s in sweep if s != mapping["batch_size"]]:
                log(f"detection at batch size {size}")
                h.reset_state(hist)
                name = f"detection@{size}"
                h.detection(records, size, stage=name)
                h.drain_alerts()
                sweep_rows.append(h.report(name, stages[name], n, price_deferred_writes(stages[name], sizes)))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    by_stage = {r["stage"]: r for r in reports}
    headline = {"bench": "aws_calls", "transactions": len(bodies), "accepted": accepted,
                "flagged_share_target": flagged_share, "alerts_queued": len(messages),
                "detection_failures": failures, "notification_failures": notification_failures,
                "stream_batch_size": mapping["batch_size"], "queue_batch_size": queue_batch,
                "api_calls_per_1k": by_stage["api"]["calls_per_1k"],
                "detection_calls_per_1k": by_stage["detection"]["calls_per_1k"],
                "seed_design_detection_calls_per_1k": by_stage["seed_detection"]["calls_per_1k"],
                "notification_calls_per_1k": by_stage["notification"]["calls_per_1k"],
                "item_bytes_avg": item_bytes,
                "transact_cancellations": sum(s.errors.get("TransactionCanceledException", 0) for s in stages.values())}  # fmt: skip
    headline["seed_to_current_ratio"] = round(headline["seed_design_detection_calls_per_1k"]
                                              / max(headline["detection_calls_per_1k"], 1e-9), 1)  # fmt: skip
    out = [emit(headline)] + [emit(r) for r in reports]
    sweep_all = sorted([by_stage["detection"], *sweep_rows], key=lambda r: int(r["stage"].partition("@")[2] or mapping["batch_size"]))
    for row in sweep_all:
        size = int(row["stage"].partition("@")[2] or mapping["batch_size"])
        out.append(emit({"bench": "detection_batch_sweep", "batch_size": size, "calls_per_1k": row["calls_per_1k"],
                         "calls": row["calls"], "wru_per_txn": row["wru_per_txn"], "rru_per_txn": row["rru_per_txn"],
                         "sqs_requests_per_1k": row["sqs_requests_per_1k"], "log_bytes_per_txn": row["log_bytes_per_txn"],
                         "own_ms_per_invocation": row["own_ms_per_invocation"]}))  # fmt: skip
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="10,50,100,500,1000", help="detection batch sizes to compare ('' for none)")
    parser.add_argument("--flagged", type=float, default=0.01, help="share of sure-alert transactions")
    args = parser.parse_args(argv)
    run(tuple(int(s) for s in args.sweep.split(",") if s.strip()), args.flagged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
