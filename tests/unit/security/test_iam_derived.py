"""Least privilege, derived from what the code does: each role grants exactly what its function calls.

The handlers run their unit paths under moto (every route, a scored batch with a poison
record, alerts published, duplicated and failing) while every botocore call is recorded;
paths that depend on the service's answer (a failed conditional put with or without the
old item) are run both ways.
Each call becomes IAM actions on the resource its parameters name; the resource is traced
back to the environment variable that supplied it and, through the synthesized function's
environment, to the Terraform resource — so a call on a resource the deployed function is
not told about (a missing variable) fails here too. To the code's calls are added what AWS
does with the function's role on its behalf, read from the synthesized configuration:
event source mappings (stream reads, queue consumption, on-failure destination), KMS for
encrypted queues and topics, VPC network interfaces, X-Ray and the function's log group.
DynamoDB needs nothing in the role for its CMK: the table's key use is authorised by the
key policy's `kms:ViaService` statement. The result must equal the synthesized role policy.
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from itertools import product
from typing import Any, Iterator, Mapping

import boto3
import botocore.client
import pytest

PANS = ("4111111111111111", "1234567890123456")
FUNCTIONS = {"api_handler": "api-handler", "fraud_detection": "fraud-detection",
             "notification_handler": "notification-handler"}  # fmt: skip
RESOURCE_VARS = ("TRANSACTIONS_TABLE", "STATE_TABLE", "IDEMPOTENCY_TABLE", "ALERT_QUEUE_URL", "FAILURE_QUEUE_URL",
                 "ALERT_TOPIC_ARN", "CARD_FINGERPRINT_KEY_ID")  # fmt: skip
_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
          "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}  # fmt: skip
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
_REF = re.compile(r"^\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}$")
Grants = set[tuple[str, str]]


def iam_actions(service: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, the resource value the call names) for one API call."""
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            return [(f"dynamodb:{_TRANSACT[kind]}", body["TableName"])
                    for entry in params["TransactItems"] for kind, body in entry.items()]  # fmt: skip
        if operation == "BatchWriteItem":
            return [(f"dynamodb:{'PutItem' if 'PutRequest' in r else 'DeleteItem'}", table)
                    for table, requests in params["RequestItems"].items() for r in requests]  # fmt: skip
        if operation in ("BatchGetItem", "TransactGetItems"):
            tables = params["RequestItems"] if operation == "BatchGetItem" else [i["Get"]["TableName"] for i in params["TransactItems"]]
            return [("dynamodb:BatchGetItem" if operation == "BatchGetItem" else "dynamodb:GetItem", t) for t in tables]
        return [(f"dynamodb:{operation}", params["TableName"])]
    if service == "sqs":
        return [(f"sqs:{_BATCH.get(operation, operation)}", params["QueueUrl"])]
    if service == "sns":
        return [(f"sns:{operation}", params["TopicArn"])]
    if service == "kms":
        return [(f"kms:{operation}", params["KeyId"])]
    raise AssertionError(f"a handler calls {service}:{operation}; teach this test its IAM mapping")


class Recorder:
    """botocore calls made while `current` names a function (the harness's own calls are not)."""

    def __init__(self) -> None:
        self.current: str = ""
        self.calls: set[tuple[str, str, str]] = set()  # (function, action, resource value)
        # A DynamoDB that does not return the old item on a failed condition (older APIs,
        # some emulators): the code then reads it with GetItem, a path moto never takes.
        self.without_old_items = False

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.current = function
        try:
            yield
        finally:
            self.current = ""


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    found = Recorder()
    original = botocore.client.BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if found.current:
            for action, resource in iam_actions(client.meta.service_model.endpoint_prefix, operation, params):
                found.calls.add((found.current, action, resource))
            if found.without_old_items:
                params = {k: v for k, v in params.items() if k != "ReturnValuesOnConditionCheckFailure"}
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return found


def exercise(aws: Any, recorder: Recorder, api_event: Any, sqs_event: Any, context: Any, make_stream_record: Any) -> None:
    """Every path of the three handlers that touches AWS, each under its function's name."""
    import api_handler
    import fraud_detection
    import notification_handler

    def api(*args: Any, **kwargs: Any) -> dict[str, Any]:
        with recorder.running("api-handler"):
            return api_handler.handler(api_event(*args, **kwargs), context)

    body = {"amount": 15000, "merchant": "Unknown Store", "card_number": PANS[0], "location": "Nigeria"}
    assert api("POST", "/transactions", body, headers={"Idempotency-Key": "key-1"})["statusCode"] == 201
    assert api("POST", "/transactions", body, headers={"Idempotency-Key": "key-1"})["statusCode"] == 201  # replay
    mine = {**body, "card_number": PANS[1], "transaction_id": "client-id-0001"}
    assert api("POST", "/transactions", mine)["statusCode"] == 201
    clash = {**mine, "amount": 12}  # same id, other content, inside the idempotent call: its record is deleted
    assert api("POST", "/transactions", clash, headers={"Idempotency-Key": "key-2"})["statusCode"] == 409
    inserts = [r for r in aws.stream_records() if r["eventName"] == "INSERT"]
    with recorder.running("fraud-detection"):
        for part in (fraud_detection.container().alerts, fraud_detection.container().failures):
            part._sleep = lambda _s: None
        poison = make_stream_record({"transaction_id": "poison-0001"})
        fraud_detection.handler({"Records": [*inserts, poison]}, context)
    path = {"transaction_id": "client-id-0001"}
    assert api("GET", "/transactions/{transaction_id}", path_params=path)["statusCode"] == 200
    feedback = api("POST", "/transactions/{transaction_id}/feedback", {"label": "fraud"}, path_params=path)
    assert feedback["statusCode"] == 200, feedback
    messages = aws.drain(aws.alert_queue)
    assert len(messages) == 2
    with recorder.running("notification-handler"):
        notification_handler.handler(sqs_event(messages), context)
        notification_handler.handler(sqs_event(messages[:1]), context)  # duplicate delivery
    recorder.without_old_items = True  # the duplicates again, answered the other way
    assert api("POST", "/transactions", body, headers={"Idempotency-Key": "key-1"})["statusCode"] == 201
    with recorder.running("notification-handler"):
        notification_handler.handler(sqs_event(messages[:1]), context)
    recorder.without_old_items = False
    with recorder.running("notification-handler"):

        def unavailable(**_: Any) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "Publish")

        publisher = notification_handler.container().publisher
        publisher._sns = type("Down", (), {"publish": staticmethod(unavailable)})()
        fresh = {**json.loads(messages[0]["Body"]), "transaction_id": "client-id-0002"}
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        with pytest.raises(BatchProcessingError):  # the whole batch failed: retried by SQS
            notification_handler.handler(sqs_event([{**messages[0], "MessageId": "m-3", "Body": json.dumps(fresh)}]), context)


# --- the synthesized side ---------------------------------------------------------------


def resources(synth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return synth["resource"]


def ref(resource_type: str, logical: str, attribute: str) -> str:
    return f"${{{resource_type}.{logical}.{attribute}}}"


def arn_of(synth: dict[str, Any], reference: str) -> str:
    """The ARN reference for what an environment value names (a KMS alias: its key)."""
    match = _REF.match(reference)
    assert match, f"not a resource reference: {reference}"
    kind, logical, _ = match.groups()
    if kind == "aws_kms_alias":
        target = _REF.match(resources(synth)[kind][logical]["target_key_id"])
        assert target, "alias without a key reference"
        return ref(target.group(1), target.group(2), "arn")
    return ref(kind, logical, "arn")


def kms_key_of(synth: dict[str, Any], arn_ref: str) -> str | None:
    match = _REF.match(arn_ref)
    assert match
    body = resources(synth)[match.group(1)].get(match.group(2), {})
    return body.get("kms_master_key_id")


def function(synth: dict[str, Any], base: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v) for k, v in resources(synth)["aws_lambda_function"].items() if v["function_name"].startswith(f"{base}-")]
    return found


def platform_needs(synth: dict[str, Any], base: str) -> Grants:
    """What AWS does with the role for this function, from the synthesized configuration."""
    logical, body = function(synth, base)
    needs: Grants = set()
    for mapping in resources(synth)["aws_lambda_event_source_mapping"].values():
        if mapping["function_name"] != ref("aws_lambda_function", logical, "arn"):
            continue
        source = mapping["event_source_arn"]
        if source.endswith(".stream_arn}"):
            needs |= set(product(["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], [source]))
            needs.add(("dynamodb:ListStreams", "*"))
        else:
            needs |= set(product(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                  "sqs:ChangeMessageVisibility"], [source]))  # fmt: skip
        destination = (mapping.get("destination_config") or {}).get("on_failure", {}).get("destination_arn")
        if destination:
            needs.add(("sqs:SendMessage", destination))
    if body.get("vpc_config"):
        needs |= {(a, "*") for a in ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                     "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                                     "ec2:UnassignPrivateIpAddresses")}  # fmt: skip
    if (body.get("tracing_config") or {}).get("mode") == "Active":
        needs |= {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    (group,) = [k for k, v in resources(synth)["aws_cloudwatch_log_group"].items() if v["name"] == f"/aws/lambda/{body['function_name']}"]
    group_arn = ref("aws_cloudwatch_log_group", group, "arn")
    needs |= set(product(["logs:CreateLogStream", "logs:PutLogEvents"], [group_arn, f"{group_arn}:*"]))
    return needs


def with_message_keys(synth: dict[str, Any], grants: Grants) -> Grants:
    """SQS/SNS encrypted with a CMK: producers need GenerateDataKey + Decrypt, consumers Decrypt."""
    extra: Grants = set()
    for action, resource in grants:
        key = kms_key_of(synth, resource) if resource.startswith("${aws_sqs_queue.") or resource.startswith("${aws_sns_topic.") else None
        if key and action in ("sqs:SendMessage", "sns:Publish"):
            extra |= {("kms:GenerateDataKey", key), ("kms:Decrypt", key)}
        elif key and action == "sqs:ReceiveMessage":
            extra.add(("kms:Decrypt", key))
    return grants | extra


def granted(synth: dict[str, Any], base: str) -> Grants:
    _, body = function(synth, base)
    role = _REF.match(body["role"])
    assert role
    (policy,) = [p for p in resources(synth)["aws_iam_role_policy"].values() if p["role"] == ref(role.group(1), role.group(2), "id")]
    out: Grants = set()
    for statement in json.loads(policy["policy"])["Statement"]:
        if statement["Effect"] == "Allow":
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            out |= set(product(actions, targets))
    return out


# --- the comparison ---------------------------------------------------------------------


@pytest.fixture
def derived(aws: Any, recorder: Recorder, api_event: Any, sqs_event: Any, context: Any, make_stream_record: Any,
            synth_json: dict[str, Any]) -> dict[str, Grants]:  # fmt: skip
    import os

    exercise(aws, recorder, api_event, sqs_event, context, make_stream_record)
    by_value = {os.environ[name]: name for name in RESOURCE_VARS}
    needs: dict[str, Grants] = {base: set() for base in FUNCTIONS.values()}
    problems = []
    for base, action, value in sorted(recorder.calls):
        variable = by_value.get(value)
        environment = function(synth_json, base)[1]["environment"]["variables"]
        if variable is None or variable not in environment:
            problems.append(f"{base} calls {action} on the resource named by {variable or value!r}, "
                            f"which its synthesized environment does not set")  # fmt: skip
            continue
        needs[base].add((action, arn_of(synth_json, environment[variable])))
    assert not problems, "\n".join(problems)
    return {base: with_message_keys(synth_json, grants | platform_needs(synth_json, base)) for base, grants in needs.items()}


@pytest.mark.parametrize("base", sorted(FUNCTIONS.values()))
def test_role_grants_exactly_what_the_function_does(derived: dict[str, Grants], synth_json: dict[str, Any], base: str) -> None:
    have = granted(synth_json, base)
    missing, extra = derived[base] - have, have - derived[base]
    assert not missing, f"{base}: the code needs grants its role lacks: {sorted(missing)}"
    assert not extra, f"{base}: its role grants what the code never does: {sorted(extra)}"


def test_every_resource_variable_of_a_function_is_used(derived: dict[str, Grants], recorder: Recorder,
                                                       synth_json: dict[str, Any]) -> None:  # fmt: skip
    """A variable naming a resource the code never touches is a leftover grant waiting to happen."""
    import os

    by_value = {os.environ[name]: name for name in RESOURCE_VARS}
    for base in FUNCTIONS.values():
        used = {by_value[value] for fn, _, value in recorder.calls if fn == base and value in by_value}
        declared = {k for k, v in function(synth_json, base)[1]["environment"]["variables"].items() if _REF.match(str(v))}
        assert declared == used, f"{base}: set but unused {sorted(declared - used)}, used but unset {sorted(used - declared)}"


def test_the_recorder_sees_handler_calls_only(recorder: Recorder, aws: Any) -> None:
    """The harness's own calls (outside `running`) are not attributed to any function."""
    boto3.client("sqs").send_message(QueueUrl=aws.alert_queue, MessageBody="harness")
    assert recorder.calls == set()
    with recorder.running("api-handler"):
        boto3.client("sqs").send_message(QueueUrl=aws.alert_queue, MessageBody="attributed")
    assert recorder.calls == {("api-handler", "sqs:SendMessage", aws.alert_queue)}
