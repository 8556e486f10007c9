"""The call-counting harness: botocore hooks count real client calls by stage and price them."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from bench import seed_design
from bench.call_counter import (
    CallCounter,
    dynamodb_item_size,
    item_sizes,
    price_deferred_writes,
    read_units,
    sqs_requests,
    write_units,
)


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def _table(ddb: Any, name: str = "t", key: str = "pk") -> str:
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])  # fmt: skip
    return name


def test_item_sizes_follow_dynamodbs_rules() -> None:
    assert dynamodb_item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert dynamodb_item_size({"n": {"N": "12345"}}) == 1 + 4  # 5 significant digits: ceil(5/2) + 1
    assert dynamodb_item_size({"n": {"N": "-0.00120"}}) == 1 + 3  # sign, point and leading zeros are free
    assert dynamodb_item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert dynamodb_item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert dynamodb_item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1


def test_request_units_round_up() -> None:
    assert [write_units(s) for s in (0, 1, 1024, 1025, 4096)] == [1, 1, 1, 2, 4]
    assert read_units(4096, consistent=True) == 1 and read_units(4097, consistent=True) == 2
    assert read_units(100, consistent=False) == 0.5
    assert sqs_requests([{"MessageBody": "x" * 65536}, {"MessageBody": "y"}]) == 2
    assert sqs_requests([]) == 1


def test_counts_only_inside_a_stage_and_per_operation(session: Any) -> None:
    counter = CallCounter().install(session)
    ddb = session.client("dynamodb")
    table = _table(ddb)  # outside any stage: not counted
    with counter.stage("writes"):
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "data": {"S": "x" * 2000}})
        ddb.put_item(TableName=table, Item={"pk": {"S": "b"}})
        ddb.update_item(TableName=table, Key={"pk": {"S": "a"}}, UpdateExpression="SET y = :y",
                        ExpressionAttributeValues={":y": {"S": "z"}})  # fmt: skip
    with counter.stage("reads"):
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "missing"}}],
                                                 "ConsistentRead": True}})  # fmt: skip
    ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})  # outside again
    writes, reads = counter.stages["writes"], counter.stages["reads"]
    assert dict(writes.calls) == {"dynamodb.PutItem": 2, "dynamodb.UpdateItem": 1}
    assert dict(reads.calls) == {"dynamodb.BatchGetItem": 1}
    assert writes.wru == 2 + 1  # a ~2 KB item and a tiny one
    assert reads.rru == 1 + 1  # one item under 4 KB, and the miss still costs a unit
    sizes = item_sizes(ddb, [table])
    assert price_deferred_writes(writes, sizes) == 2  # the update is billed on the ~2 KB item
    assert writes.call_seconds > 0 and reads.errors == {}


def test_transactions_cost_double_and_errors_are_recorded(session: Any) -> None:
    counter = CallCounter().install(session)
    ddb = session.client("dynamodb")
    table = _table(ddb)
    with counter.stage("commit") as stage:
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "a"}}}},
                                                {"Put": {"TableName": table, "Item": {"pk": {"S": "b"}}}}])  # fmt: skip
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(TableName=table, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    assert stage.wru == 2 * 2 + 1
    assert stage.errors == {"ConditionalCheckFailedException": 1}


def test_seed_design_makes_one_invoke_and_one_put_per_insert(session: Any) -> None:
    counter = CallCounter().install(session)
    seed_design.install(counter)
    ddb, lam = session.client("dynamodb"), session.client("lambda")
    table = _table(ddb, "seed", key="transaction_id")
    records = [{"eventName": "INSERT", "dynamodb": {"NewImage": {"transaction_id": {"S": f"t{i}"}}}} for i in range(7)]
    records.append({"eventName": "MODIFY", "dynamodb": {"NewImage": {"transaction_id": {"S": "t0"}}}})
    with counter.stage("seed"):
        assert seed_design.handle({"Records": records}, lam, ddb, table) == 7
    assert dict(counter.stages["seed"].calls) == {"lambda.Invoke": 7, "dynamodb.PutItem": 7}
    assert ddb.scan(TableName=table)["Count"] == 7
