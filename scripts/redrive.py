#!/usr/bin/env python3
"""Redrive parked messages back into the pipeline once the cause is fixed.

    python scripts/redrive.py alerts [--dry-run] [--max N] [--include-malformed] [--outputs FILE]
    python scripts/redrive.py stream [--dry-run] [--max N] [--refresh-image] [--force] [--outputs FILE]

alerts  suspicious-transactions-dlq -> suspicious-transactions. Each body is checked
        against the alert contract first; a malformed one would only come back to the
        DLQ after three more failures, so it stays put unless --include-malformed.
        Re-sending is safe: the notification handler alerts once per transaction.
stream  fraud-detection-failures -> the fraud-detection function, invoked with a
        DynamoDB-stream event rebuilt from each parked message:
        - detection's own parked records (kind fraud-detection/unparseable-record)
          carry the image; with --refresh-image the current table item is used instead
          (fix the item, then redrive). An image detection would still reject stays put
          unless --force (it would only be parked again).
        - the stream mapping's on-failure records (DDBStreamBatchInfo) carry only the
          batch coordinates; the records are read back from the stream (24 h retention).
        A message is deleted only after detection reported every record processed.

Finds the stack through the outputs file (--outputs, OUTPUTS_FILE, the spec's variables or
./outputs.json; a local `endpoint_url` is honoured). Prints one line per message (ids,
reason, action; never a body) and a JSON summary. Exit 1 when a redelivery failed, 2 on
bad input or configuration.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT, REPO_ROOT / "lib" / "lambda"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import boto3  # noqa: E402
from boto3.dynamodb.types import TypeDeserializer  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from fraud.alerts import validate_message  # noqa: E402  (pure: the same check notification runs)
from fraud.models import Transaction  # noqa: E402

POISON_KIND = "fraud-detection/unparseable-record"  # fraud_detection.POISON_KIND
HOLD_S = 300  # messages under examination stay invisible to other consumers this long
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DESERIALIZE = TypeDeserializer().deserialize


class RedriveError(RuntimeError):
    """Bad input or configuration: reported on stderr, exit status 2."""


@dataclass
class Parked:
    message_id: str
    receipt_handle: str
    kind: str  # alert | malformed-alert | poison-record | stream-batch | unknown
    reason: str
    transaction_ids: list[str] = field(default_factory=list)
    receive_count: int = 0
    event: Optional[dict[str, Any]] = None  # stream: what detection will be invoked with
    movable: bool = True
    outcome: str = ""

    def line(self) -> str:
        ids = ",".join(self.transaction_ids) or "-"
        return f"{self.message_id}  {self.kind:<16} txn={ids}  receives={self.receive_count}  {self.outcome}  ({self.reason})"


def safe_id(value: Any) -> Optional[str]:
    """Only id-shaped values are echoed: a parked body may hold anything."""
    return value if isinstance(value, str) and _SAFE_ID.fullmatch(value) else None


# --- reading a queue -------------------------------------------------------------------


def receive(sqs: Any, queue_url: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` distinct messages, each held invisible for HOLD_S while we decide."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(limit + 10):  # bounded even if another client keeps re-showing messages
        if len(seen) >= limit:
            break
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, limit - len(seen)), WaitTimeSeconds=1,
            VisibilityTimeout=HOLD_S, AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        if not batch:
            break
        for message in batch:
            seen.setdefault(message["MessageId"], message)
    return list(seen.values())[:limit]


def release(sqs: Any, queue_url: str, kept: list[Parked]) -> None:
    """Make messages we leave in place visible again at once (dry runs, skips, failures)."""
    for start in range(0, len(kept), 10):
        entries = [{"Id": str(i), "ReceiptHandle": p.receipt_handle, "VisibilityTimeout": 0}
                   for i, p in enumerate(kept[start : start + 10])]  # fmt: skip
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def _receive_count(message: dict[str, Any]) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))


# --- alerts: DLQ -> alert queue ---------------------------------------------------------


def classify_alert(message: dict[str, Any]) -> Parked:
    parked = Parked(message["MessageId"], message["ReceiptHandle"], "alert", "valid alert",
                    receive_count=_receive_count(message))  # fmt: skip
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = None
    if isinstance(body, dict) and safe_id(body.get("transaction_id")):
        parked.transaction_ids = [body["transaction_id"]]
    try:
        validate_message(body)
    except ValueError as exc:
        parked.kind = "malformed-alert"
        parked.reason = "body is not JSON" if body is None else str(exc)[:300]
    return parked


def _message_attributes(message: dict[str, Any]) -> dict[str, Any]:
    return {name: {k: v for k, v in attr.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, attr in (message.get("MessageAttributes") or {}).items()}  # fmt: skip


# --- stream: failure queue -> detection -------------------------------------------------


def stream_record(
    image: dict[str, Any], keys: dict[str, Any], *, event_id: str, sequence_number: str,
    source_arn: str, region: str, created: Optional[float],
) -> dict[str, Any]:  # fmt: skip
    """An INSERT record in the shape the stream event source mapping delivers."""
    return {
        "eventID": event_id, "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": region, "eventSourceARN": source_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": created if created is not None else datetime.now().timestamp(),
            "Keys": keys, "NewImage": image, "SequenceNumber": sequence_number,
            "SizeBytes": len(json.dumps(image)), "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }  # fmt: skip


def shape_stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record -> the Lambda event shape (epoch seconds, eventSourceARN)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


def records_in_range(streams: Any, info: dict[str, Any], page_limit: int = 50) -> list[dict[str, Any]]:
    """The INSERT records of an on-failure batch, read back from the stream by sequence number."""
    start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"], ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]  # fmt: skip
    found: list[dict[str, Any]] = []
    empty = 0
    for _ in range(page_limit):  # bounded: an open shard hands out empty pages forever
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page.get("Records", []):
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > end:
                return found
            if sequence >= start and record.get("eventName") == "INSERT":  # the mapping's filter
                found.append(shape_stream_record(record, info["streamArn"]))
        # A page can be empty with records further on; a few empty pages in a row is the tip.
        empty = 0 if page.get("Records") else empty + 1
        iterator = page.get("NextShardIterator")
        if empty >= 3 or not iterator:
            break
    return found


def _unparseable(image: dict[str, Any]) -> Optional[str]:
    """Why detection would park this image again, or None if it would score it."""
    try:
        Transaction.from_item({k: _DESERIALIZE(v) for k, v in image.items()})
    except (ValueError, TypeError, ArithmeticError, KeyError, AttributeError) as exc:
        return str(exc)[:300]
    return None


class Redriver:
    def __init__(self, outputs: Any, sqs: Any, dynamodb: Any = None, streams: Any = None, lam: Any = None,
                 *, detection_function: str = "", region: str = "us-east-1", echo: Callable[[str], None] = print) -> None:  # fmt: skip
        self.outputs, self.sqs, self.dynamodb, self.streams, self.lam = outputs, sqs, dynamodb, streams, lam
        self.detection_function = detection_function
        self.region = region
        self.echo = echo

    # -- alerts -----------------------------------------------------------------------
    def alerts(self, *, dry_run: bool, limit: int, include_malformed: bool) -> list[Parked]:
        dlq, target = _need(self.outputs.dlq_url, "alert DLQ"), _need(self.outputs.alert_queue_url, "alert queue")
        parked, kept = [], []
        for message in receive(self.sqs, dlq, limit):
            item = classify_alert(message)
            item.movable = item.kind == "alert" or include_malformed
            if not item.movable:
                item.outcome = "skip: would fail again (--include-malformed to move anyway)"
            elif dry_run:
                item.outcome = "would move"
            else:
                try:
                    self.sqs.send_message(QueueUrl=target, MessageBody=message["Body"],
                                          MessageAttributes=_message_attributes(message))  # fmt: skip
                    # Sent before deleted: a crash in between re-sends, and notification dedupes.
                    self.sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                    item.outcome = "moved"
                except (ClientError, BotoCoreError) as exc:
                    item.outcome = f"failed: {_code(exc)}"
            if item.outcome != "moved":
                kept.append(item)
            self.echo(item.line())
            parked.append(item)
        release(self.sqs, dlq, kept)
        return parked

    # -- stream -----------------------------------------------------------------------
    def classify_parked(self, message: dict[str, Any], *, refresh_image: bool) -> Parked:
        item = Parked(message["MessageId"], message["ReceiptHandle"], "unknown", "not a parked stream record",
                      receive_count=_receive_count(message))  # fmt: skip
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = None
        if not isinstance(body, dict):
            item.movable = False
            return item
        if body.get("kind") == POISON_KIND:
            return self._poison(item, body, refresh_image)
        if isinstance(body.get("DDBStreamBatchInfo"), dict):
            return self._batch(item, body)
        item.movable = False
        return item

    def _poison(self, item: Parked, body: dict[str, Any], refresh_image: bool) -> Parked:
        item.kind, item.reason = "poison-record", str(body.get("reason") or "unparseable")[:300]
        keys = body.get("keys") or {}
        txn = safe_id((keys.get("transaction_id") or {}).get("S"))
        item.transaction_ids = [txn] if txn else []
        image = body.get("new_image") or {}
        if refresh_image:
            if not keys:
                item.movable, item.reason = False, "no keys to re-read the item by"
                return item
            current = _need(self.dynamodb, "DynamoDB client").get_item(
                TableName=self.outputs.table_name, Key=keys, ConsistentRead=True).get("Item")  # fmt: skip
            if current is None:
                item.movable, item.reason = False, "the item is gone from the table"
                return item
            image = current
        still = _unparseable(image)
        if still is not None:
            item.movable, item.reason = False, f"still unparseable: {still}"
        item.event = {"Records": [stream_record(
            image, keys or {"transaction_id": image.get("transaction_id", {"S": ""})},
            event_id=str(body.get("event_id") or item.message_id), sequence_number=str(body.get("sequence_number") or "0"),
            source_arn=str(body.get("event_source_arn") or ""), region=self.region,
            created=body.get("approximate_creation_time"),
        )]}  # fmt: skip
        return item

    def _batch(self, item: Parked, body: dict[str, Any]) -> Parked:
        info = body["DDBStreamBatchInfo"]
        item.kind = "stream-batch"
        item.reason = str((body.get("requestContext") or {}).get("condition") or "on-failure record")
        try:
            records = records_in_range(_need(self.streams, "DynamoDB Streams client"), info)
        except (ClientError, BotoCoreError, KeyError, ValueError) as exc:
            item.movable, item.reason = False, f"records unreadable ({_code(exc)}): older than the stream's 24 h?"
            return item
        if not records:
            item.movable, item.reason = False, f"{item.reason}; no INSERT records left in the stream range"
            return item
        ids = [safe_id(r["dynamodb"].get("Keys", {}).get("transaction_id", {}).get("S")) for r in records]
        item.transaction_ids = [i for i in ids if i]
        item.event = {"Records": records}
        return item

    def stream(self, *, dry_run: bool, limit: int, refresh_image: bool, force: bool) -> list[Parked]:
        queue = _need(self.outputs.failure_queue_url, "stream failure queue")
        parked, kept = [], []
        for message in receive(self.sqs, queue, limit):
            item = self.classify_parked(message, refresh_image=refresh_image)
            if item.event is not None and force:
                item.movable = True
            if not item.movable:
                item.outcome = "skip" + (" (--force to redeliver anyway)" if item.event is not None else "")
            elif dry_run:
                item.outcome = "would redeliver"
            else:
                item.outcome = self._redeliver(item)
                if item.outcome == "redelivered":
                    self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=item.receipt_handle)
            if item.outcome != "redelivered":
                kept.append(item)
            self.echo(item.line())
            parked.append(item)
        release(self.sqs, queue, kept)
        return parked

    def _redeliver(self, item: Parked) -> str:
        try:
            response = _need(self.lam, "Lambda client").invoke(
                FunctionName=self.detection_function, InvocationType="RequestResponse",
                Payload=json.dumps(item.event).encode())  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            return f"failed: invoke {_code(exc)}"
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            return f"failed: function error {response['FunctionError']}"
        try:
            failures = (json.loads(payload or b"{}") or {}).get("batchItemFailures") or []
        except (ValueError, AttributeError):
            return "failed: unexpected detection response"
        return f"failed: detection reported {len(failures)} record(s) failed" if failures else "redelivered"


def _need(value: Any, what: str) -> Any:
    if not value:
        raise RedriveError(f"{what} not found in the outputs (or by its contract name)")
    return value


def _code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def summarize(source: str, dry_run: bool, parked: list[Parked]) -> dict[str, Any]:
    outcomes = Counter(item.outcome.split(":")[0].split(" (")[0] for item in parked)
    kinds = Counter(item.kind for item in parked)
    return {"source": source, "dry_run": dry_run, "examined": len(parked), "outcomes": dict(outcomes), "kinds": dict(kinds)}


def _detection_name(outputs: Any) -> str:
    """The stack's `fraud_detection_function_name` output, else the contract name."""
    stack = outputs.raw.get(f"tap-stack-{outputs.suffix}", {})
    name = stack.get("fraud_detection_function_name") if isinstance(stack, dict) else None
    return str(name or outputs.name("fraud-detection"))


def build(outputs: Any, echo: Callable[[str], None] = print) -> Redriver:
    # One attempt per invoke: a retried timeout would run the batch twice.
    lam = boto3.client("lambda", config=Config(read_timeout=120, retries={"total_max_attempts": 1}),
                                     **outputs.boto3_kwargs())  # fmt: skip
    return Redriver(outputs, outputs.client("sqs"), outputs.client("dynamodb"), outputs.client("dynamodbstreams"),
                    lam, detection_function=_detection_name(outputs), region=outputs.region, echo=echo)  # fmt: skip


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="redrive.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)  # fmt: skip
    parser.add_argument("source", choices=("alerts", "stream"), help="which parked messages to redrive")
    parser.add_argument("--dry-run", action="store_true", help="list what would move, move nothing")
    parser.add_argument("--max", type=int, default=100, dest="limit", help="examine at most N messages (default 100)")
    parser.add_argument("--outputs", type=Path, help="CDKTF outputs file (default: OUTPUTS_FILE or ./outputs.json)")
    parser.add_argument("--include-malformed", action="store_true", help="alerts: move malformed bodies too")
    parser.add_argument("--refresh-image", action="store_true", help="stream: redeliver the current table item")
    parser.add_argument("--force", action="store_true", help="stream: redeliver images detection would reject")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--max must be at least 1")
    if args.outputs is not None and not args.outputs.is_file():
        parser.error(f"--outputs {args.outputs}: no such file")
    if args.source == "alerts" and (args.refresh_image or args.force):
        parser.error("--refresh-image/--force apply to the stream source only")
    if args.source == "stream" and args.include_malformed:
        parser.error("--include-malformed applies to the alerts source only")
    return args


def main(argv: Optional[list[str]] = None, redriver: Optional[Redriver] = None) -> int:
    args = parse_args(argv)
    from lib.local.outputs import OutputsError, load

    try:
        if redriver is None:
            redriver = build(load(args.outputs).resolve_missing())
        if args.source == "alerts":
            parked = redriver.alerts(dry_run=args.dry_run, limit=args.limit, include_malformed=args.include_malformed)
        else:
            parked = redriver.stream(dry_run=args.dry_run, limit=args.limit, refresh_image=args.refresh_image,
                                     force=args.force)  # fmt: skip
    except (RedriveError, OutputsError, ValueError) as exc:
        print(f"redrive: error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"redrive: error: AWS call failed: {_code(exc)}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summarize(args.source, args.dry_run, parked)))
    return 1 if any(p.outcome.startswith("failed") for p in parked) else 0


if __name__ == "__main__":
    sys.exit(main())
