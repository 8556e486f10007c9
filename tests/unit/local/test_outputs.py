"""The outputs file: CDKTF shape, local invoke URLs, and the typed view clients use."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lib.local.deploy import cdktf_outputs
from lib.local.outputs import OutputsError, StackOutputs, load, local_invoke_url, localize

EP = "http://127.0.0.1:45999"
AWS_URL = "https://abc123def4.execute-api.us-east-1.amazonaws.com/prod/transactions"


def _local_file(suffix: str = "dev") -> dict[str, Any]:
    return {f"tap-stack-{suffix}": {
        "api_invoke_url": f"{EP}/_aws/execute-api/abc123def4/prod/transactions",
        "api_key_value": "k" * 40,
        "transactions_table_name": f"transactions-{suffix}",
        "alert_queue_url": f"{EP}/000000000000/suspicious-transactions-{suffix}",
        "alert_dlq_url": f"{EP}/000000000000/suspicious-transactions-dlq-{suffix}",
        "stream_failure_queue_url": f"{EP}/000000000000/fraud-detection-failures-{suffix}",
        "alert_topic_arn": f"arn:aws:sns:us-east-1:000000000000:fraud-alerts-{suffix}",
        "state_table_name": f"fraud-state-{suffix}",
        "endpoint_url": EP,
        "api_key": "k" * 40,
        "alert_inbox_queue_url": f"{EP}/000000000000/alert-inbox-{suffix}",
    }}


def test_cdktf_outputs_follow_the_construct_mapping() -> None:
    stack = {"//": {"outputs": {"tap-stack-dev": {
        "api_invoke_url": "api_invoke_url",
        "api_key_value": "api_key_value",
        "inner": {"nested": "inner_nested_ABCD1234"},
        "empty": {"gone": "not_in_state"},
    }}}}
    tf = {"api_invoke_url": {"value": AWS_URL, "sensitive": False},
          "api_key_value": {"value": "secret", "sensitive": True},
          "inner_nested_ABCD1234": {"value": 3}}
    assert cdktf_outputs(stack, tf) == {"tap-stack-dev": {
        "api_invoke_url": AWS_URL, "api_key_value": "secret", "inner": {"nested": 3}}}


def test_cdktf_outputs_without_mapping_use_the_stack_name() -> None:
    stack = {"//": {"metadata": {"stackName": "tap-stack-x"}}}
    assert cdktf_outputs(stack, {"a": {"value": 1}}) == {"tap-stack-x": {"a": 1}}


def test_invoke_url_is_rewritten_to_the_emulator_path_form() -> None:
    assert local_invoke_url(AWS_URL, EP) == f"{EP}/_aws/execute-api/abc123def4/prod/transactions"
    stage_only = "https://abc123def4.execute-api.eu-west-1.amazonaws.com/prod"
    assert local_invoke_url(stage_only, EP) == f"{EP}/_aws/execute-api/abc123def4/prod"
    assert local_invoke_url("transactions-dev", EP) == "transactions-dev"


def test_localize_rewrites_nested_values_only_where_they_are_invoke_urls() -> None:
    data = {"s": {"url": AWS_URL, "n": 3, "inner": {"url": AWS_URL}, "other": "https://example.com/x"}}
    out = localize(data, EP)
    assert out["s"]["url"].startswith(EP) and out["s"]["inner"]["url"].startswith(EP)
    assert out["s"]["n"] == 3 and out["s"]["other"] == "https://example.com/x"


def test_view_finds_resources_by_contract_names() -> None:
    view = StackOutputs.from_outputs(_local_file("itest"))
    assert view.suffix == "itest"
    assert view.table_name == "transactions-itest"  # not fraud-state-itest
    assert view.alert_queue_url and view.alert_queue_url.endswith("/suspicious-transactions-itest")
    assert view.dlq_url and view.dlq_url.endswith("/suspicious-transactions-dlq-itest")
    assert view.failure_queue_url and view.failure_queue_url.endswith("/fraud-detection-failures-itest")
    assert view.topic_arn and view.topic_arn.endswith(":fraud-alerts-itest")
    assert view.is_local and view.boto3_kwargs()["endpoint_url"] == EP
    assert view.transaction_url("t1") == f"{EP}/_aws/execute-api/abc123def4/prod/transactions/t1"


def test_real_aws_file_has_no_endpoint_and_uses_the_default_credential_chain() -> None:
    data = {"tap-stack-prod": {"api_invoke_url": AWS_URL.replace("us-east-1", "eu-west-1"),
                               "transactions_table_name": "transactions-prod", "api_key_value": "x" * 30}}
    view = StackOutputs.from_outputs(data)
    assert not view.is_local
    assert view.region == "eu-west-1"
    assert view.boto3_kwargs() == {"region_name": "eu-west-1"}


def test_missing_api_url_is_an_error() -> None:
    with pytest.raises(OutputsError, match="invoke URL"):
        StackOutputs.from_outputs({"tap-stack-dev": {"transactions_table_name": "transactions-dev"}})


def test_spec_variables_are_understood() -> None:
    env = {"API_ENDPOINT": AWS_URL, "DYNAMODB_TABLE": "transactions-dev", "API_KEY": "key-" + "z" * 30,
           "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/suspicious-transactions-dev"}
    view = StackOutputs.from_env(env)
    assert view is not None
    assert (view.api_url, view.table_name, view.api_key) == (AWS_URL, "transactions-dev", env["API_KEY"])
    assert view.alert_queue_url == env["SQS_QUEUE_URL"]
    assert StackOutputs.from_env({"API_ENDPOINT": AWS_URL}) is None


def test_load_prefers_outputs_file_then_spec_variables(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(_local_file("a")))
    spec_env = {"API_ENDPOINT": AWS_URL, "DYNAMODB_TABLE": "transactions-b"}
    assert load(environ={"OUTPUTS_FILE": str(path), **spec_env}).suffix == "a"
    assert load(environ=spec_env).suffix == "b"
    with pytest.raises(OutputsError, match="does not exist"):
        load(tmp_path / "missing.json", environ={})
