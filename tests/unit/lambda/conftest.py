"""Moto-backed AWS for the handler tests; table key schemas come from the synthesized stack.

`aws` starts `mock_aws`, creates the three tables exactly as `synth_json` declares them
(hash key, attribute types, stream), the queues, the topic (with a capture queue
subscribed, so tests can read what was published) and the HMAC KMS key, points the
handlers' environment at them and resets every per-container cache.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from moto import mock_aws

# Read by Powertools when the handler modules are first imported (Powertools-only names).
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FraudDetection")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "fraud-test")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

REGION = "us-east-1"
TABLE_BASES = ("transactions", "fraud-state", "idempotency")
# Luhn-valid test PANs plus the spec's own (Luhn-invalid) example card.
PANS = ("4111111111111111", "5500005555555559", "1234567890123456", "4012888888881881")


def table_definitions(synth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """CreateTable arguments per base name, from the synthesized aws_dynamodb_table resources."""
    found: dict[str, dict[str, Any]] = {}
    for resource in synth.get("resource", {}).get("aws_dynamodb_table", {}).values():
        name = resource["name"]
        base = next((b for b in TABLE_BASES if name.startswith(b + "-")), None)
        if base is None:
            continue
        types = {a["name"]: a["type"] for a in resource.get("attribute", [])}
        schema = [{"AttributeName": resource["hash_key"], "KeyType": "HASH"}]
        if resource.get("range_key"):
            schema.append({"AttributeName": resource["range_key"], "KeyType": "RANGE"})
        spec: dict[str, Any] = {
            "TableName": name,
            "KeySchema": schema,
            # Only key attributes belong in AttributeDefinitions (GSIs are not used here).
            "AttributeDefinitions": [{"AttributeName": k["AttributeName"], "AttributeType": types[k["AttributeName"]]}
                                     for k in schema],  # fmt: skip
            "BillingMode": "PAY_PER_REQUEST",
        }
        if resource.get("stream_enabled"):
            spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": resource["stream_view_type"]}
        found[base] = spec
    missing = set(TABLE_BASES) - set(found)
    if missing:
        raise AssertionError(f"synthesized stack lacks tables {sorted(missing)}")
    return found


@pytest.fixture(scope="session")
def table_specs(synth_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return table_definitions(synth_json)


class Scripted:
    """A boto3 client whose named operations are replaced; every other call goes through."""

    def __init__(self, inner: Any, **operations: Callable[..., Any]) -> None:
        self._inner = inner
        self._operations = operations

    def __getattr__(self, name: str) -> Any:
        return self._operations.get(name) or getattr(self._inner, name)


def client_error(code: str, operation: str, **extra: Any) -> Any:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}, **extra}, operation)


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted


@dataclass
class FakeContext:
    function_name: str = "handler-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:handler-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Aws:
    tables: dict[str, str]
    alert_queue: str
    failure_queue: str
    capture_queue: str
    topic_arn: str
    key_arn: str
    ddb: Any = field(repr=False)
    sqs: Any = field(repr=False)

    def scan(self, base: str) -> list[dict[str, Any]]:
        """Every item, deserialised; state documents unpacked from their stored form (with `pk`)."""
        des = TypeDeserializer()
        pages = self.ddb.get_paginator("scan").paginate(TableName=self.tables[base], ConsistentRead=True)
        items = [item for page in pages for item in page["Items"]]
        from store.state_codec import from_item_attrs

        if base == "fraud-state":
            return [{"pk": item["pk"]["S"], **from_item_attrs(item)} for item in items]
        return [{k: des.deserialize(v) for k, v in item.items()} for item in items]

    def raw_items(self, base: str) -> str:
        """Every stored item as JSON text (for "no PAN anywhere" checks); packed state documents unpacked."""
        pages = self.ddb.get_paginator("scan").paginate(TableName=self.tables[base])
        items = [item for page in pages for item in page["Items"]]
        from store.state_codec import from_item_attrs

        if base == "fraud-state":
            items = [{**item, "doc": from_item_attrs(item)} for item in items]
        return json.dumps(items, default=repr)

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Receive (and hide) every message currently on the queue."""
        out: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                             MessageAttributeNames=["All"], AttributeNames=["All"]).get("Messages", [])  # fmt: skip
            if not batch:
                return out
            out.extend(batch)

    def stream_records(self) -> list[dict[str, Any]]:
        """Every record on the transactions table's stream so far, shaped as Lambda delivers them."""
        streams = boto3.client("dynamodbstreams", region_name=REGION)
        arn = self.ddb.describe_table(TableName=self.tables["transactions"])["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
            for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
                created = record["dynamodb"]["ApproximateCreationDateTime"]
                record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
                records.append({**record, "eventSourceARN": arn})
        return records

    def published(self) -> list[dict[str, Any]]:
        """SNS notifications delivered to the capture subscription (envelopes, parsed)."""
        return [json.loads(m["Body"]) for m in self.drain(self.capture_queue)]


def _reset_caches() -> None:
    import api_handler
    import fraud_detection
    import notification_handler
    from store import aws as store_aws

    for fn in (store_aws.client, api_handler.container, fraud_detection.container, notification_handler.container):
        fn.cache_clear()


@pytest.fixture
def aws(table_specs: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, log_buffer: Any) -> Iterator[Aws]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "handler-test")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        for spec in table_specs.values():
            ddb.create_table(**spec)
        sqs = boto3.client("sqs", region_name=REGION)
        alert_q = sqs.create_queue(QueueName="suspicious-transactions-test")["QueueUrl"]
        failure_q = sqs.create_queue(QueueName="fraud-detection-failures-test")["QueueUrl"]
        capture_q = sqs.create_queue(QueueName="sns-capture-test")["QueueUrl"]
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="fraud-alerts-test")["TopicArn"]
        capture_arn = sqs.get_queue_attributes(QueueUrl=capture_q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=capture_arn)
        kms = boto3.client("kms", region_name=REGION)
        key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        kms.create_alias(AliasName="alias/card-fingerprint-test", TargetKeyId=key["KeyId"])
        alias_arn = key["Arn"].split(":key/")[0] + ":alias/card-fingerprint-test"

        tables = {base: spec["TableName"] for base, spec in table_specs.items()}
        env = {
            "TRANSACTIONS_TABLE": tables["transactions"],
            "STATE_TABLE": tables["fraud-state"],
            "IDEMPOTENCY_TABLE": tables["idempotency"],
            "CARD_FINGERPRINT_KEY_ID": alias_arn,
            "ALERT_QUEUE_URL": alert_q,
            "FAILURE_QUEUE_URL": failure_q,
            "ALERT_TOPIC_ARN": topic,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        import fraud_detection

        # Handler mechanics are tested on the rules alone, so expected decisions do not move
        # when a retrained model ships; the bundled model has its own test.
        monkeypatch.setattr(fraud_detection, "_engine", fraud_detection.FraudEngine)
        _reset_caches()
        yield Aws(tables, alert_q, failure_q, capture_q, topic, alias_arn, ddb, sqs)
        _reset_caches()


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


# --- event builders ---------------------------------------------------------------------


@pytest.fixture
def api_event() -> Callable[..., dict[str, Any]]:
    def build(
        method: str,
        resource: str,
        body: Any = None,
        *,
        path_params: Optional[dict[str, str]] = None,
        headers: Optional[dict[str, str]] = None,
        content_type: Optional[str] = "application/json",
        raw: bool = False,
        base64: bool = False,
    ) -> dict[str, Any]:
        text = body if raw or body is None else json.dumps(body)
        if base64 and text is not None:
            import base64 as b64

            text = b64.b64encode(text.encode() if isinstance(text, str) else text).decode()
        path = resource
        for name, value in (path_params or {}).items():
            path = path.replace("{" + name + "}", value)
        return {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": {**({"Content-Type": content_type} if content_type else {}), **(headers or {})},
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "pathParameters": path_params,
            "stageVariables": None,
            "requestContext": {"stage": "prod", "requestId": "req", "httpMethod": method, "resourcePath": resource},
            "body": text,
            "isBase64Encoded": base64,
        }

    return build


_SEQUENCE = itertools.count(1)


def stream_record(image: Optional[dict[str, Any]], event_name: str = "INSERT", *, raw_image: Optional[dict] = None) -> dict[str, Any]:
    """A DynamoDB stream record for a python-valued item image (or a raw attribute map)."""
    serializer = TypeSerializer()
    new_image = raw_image if raw_image is not None else {k: serializer.serialize(v) for k, v in (image or {}).items()}
    seq = next(_SEQUENCE)
    txn_id = (image or {}).get("transaction_id", f"poison-{seq}")
    return {
        "eventID": f"evt-{seq}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000,
            "Keys": {"transaction_id": {"S": str(txn_id)}},
            "NewImage": new_image,
            "SequenceNumber": f"{seq:021d}",
            "SizeBytes": 512,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/transactions-test/stream/2024-01-01T00:00:00.000",
    }


@pytest.fixture
def make_stream_record() -> Callable[..., dict[str, Any]]:
    return stream_record


@pytest.fixture
def sqs_event() -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """A Lambda SQS event from messages as returned by ReceiveMessage."""

    def build(messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m.get("ReceiptHandle", "rh"),
                    "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                                   "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1700000000000"},  # fmt: skip
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:suspicious-transactions-test",
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    return build


@pytest.fixture
def log_buffer() -> Iterator[Any]:
    """The handlers' JSON log lines for this test only.

    Powertools binds its log stream when the logger is created, before pytest's per-test
    capture exists, so the handler streams are pointed at a fresh buffer for every test.
    """
    import io

    import api_handler
    import fraud_detection
    import notification_handler

    buffer = io.StringIO()
    modules = (api_handler, fraud_detection, notification_handler)
    handlers = {id(h): h for h in (m.logger.registered_handler for m in modules)}
    previous = [(h, h.setStream(buffer)) for h in handlers.values()]
    yield buffer
    for handler, stream in previous:
        handler.setStream(stream)


@pytest.fixture
def output(log_buffer: Any, capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything the handlers wrote so far: JSON logs plus EMF metrics (printed to stdout)."""
    printed: list[str] = []

    def read() -> str:
        captured = capsys.readouterr()
        printed.append(captured.out + captured.err)
        return log_buffer.getvalue() + "".join(printed)

    return read


@pytest.fixture
def submit(aws: Aws, api_event: Callable[..., dict[str, Any]], context: FakeContext) -> Callable[[dict[str, Any]], str]:
    """POST a transaction through the real api handler; returns its transaction id."""
    import api_handler

    def post(payload: dict[str, Any]) -> str:
        response = api_handler.handler(api_event("POST", "/transactions", payload), context)
        assert response["statusCode"] == 201, response["body"]
        return str(json.loads(response["body"])["transaction_id"])

    return post
