"""Provider, backend, naming and tagging of the synthesized stack."""
from __future__ import annotations

import re
from typing import Any

from stack_helpers import CONFIG, SUFFIX, Stack

from lib.config import StackConfig

# Attributes that carry a resource's own name, by resource type.
NAME_ATTRIBUTES = {
    "aws_api_gateway_api_key": "name",
    "aws_api_gateway_request_validator": "name",
    "aws_api_gateway_rest_api": "name",
    "aws_api_gateway_usage_plan": "name",
    "aws_cloudwatch_dashboard": "dashboard_name",
    "aws_cloudwatch_log_group": "name",
    "aws_cloudwatch_metric_alarm": "alarm_name",
    "aws_dynamodb_table": "name",
    "aws_iam_role": "name",
    "aws_iam_role_policy": "name",
    "aws_kms_alias": "name",
    "aws_lambda_function": "function_name",
    "aws_lambda_layer_version": "layer_name",
    "aws_security_group": "name",
    "aws_sns_topic": "name",
    "aws_sqs_queue": "name",
}
# Named by AWS or scoped inside the API (alphanumeric only), so they carry a Name tag instead.
NAMED_BY_TAG = {"aws_vpc", "aws_subnet", "aws_route_table", "aws_vpc_endpoint", "aws_kms_key"}
_TOKEN = re.compile(r"\$\{[^}]+\}")


def test_provider_pins_aws_5_100_and_region(synth_json: dict[str, Any]) -> None:
    assert synth_json["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    (provider,) = synth_json["provider"]["aws"]
    assert provider["region"] == CONFIG.region


def test_default_tags_cover_every_resource(synth_json: dict[str, Any], stack: Stack) -> None:
    (provider,) = synth_json["provider"]["aws"]
    (default_tags,) = provider["default_tags"]
    assert default_tags["tags"] == {
        "Environment": SUFFIX,
        "Project": "fraud-detection",
        "ManagedBy": "cdktf",
    }
    # No resource overrides a default tag with a different value.
    for resource_type, logical, body in stack.all_resources():
        for key, value in (body.get("tags") or {}).items():
            if key in default_tags["tags"]:
                assert value == default_tags["tags"][key], f"{resource_type}.{logical}"


def test_every_named_resource_carries_the_suffix(stack: Stack) -> None:
    checked = 0
    for resource_type, logical, body in stack.all_resources():
        attribute = NAME_ATTRIBUTES.get(resource_type)
        if attribute is None:
            continue
        name = body[attribute]
        if name.startswith("API-Gateway-Execution-Logs_"):
            # AWS fixes this log group's name from the API id; it is tagged with our name.
            assert body["tags"]["Name"] == CONFIG.name("fraud-detection-api-execution-logs")
            continue
        static = _TOKEN.sub("", name)
        assert static.endswith(f"-{SUFFIX}"), f"{resource_type}.{logical}: {name!r}"
        checked += 1
    assert checked >= 40


def test_resources_named_by_tag_carry_the_suffix(stack: Stack) -> None:
    for resource_type in NAMED_BY_TAG:
        items = stack.of_type(resource_type)
        assert items, resource_type
        for logical, body in items.items():
            assert body["tags"]["Name"].endswith(f"-{SUFFIX}"), f"{resource_type}.{logical}"


def test_local_backend_without_state_bucket(synth_json: dict[str, Any]) -> None:
    assert synth_json["terraform"]["backend"] == {
        "local": {"path": f"terraform.tap-stack-{SUFFIX}.tfstate"}
    }


def test_s3_backend_encrypted_and_locked_with_state_bucket(
    alt_stack: Stack, alt_config: StackConfig
) -> None:
    backend = alt_stack.doc["terraform"]["backend"]
    assert list(backend) == ["s3"]
    s3 = backend["s3"]
    assert s3["bucket"] == "example-tf-state"
    assert s3["key"] == "tap-stack-alt/terraform.tfstate"
    assert s3["region"] == alt_config.region
    assert s3["encrypt"] is True
    assert s3["use_lockfile"] is True


def test_alt_environment_is_fully_renamed(alt_stack: Stack) -> None:
    names = [body["name"] for body in alt_stack.of_type("aws_dynamodb_table").values()]
    assert sorted(names) == ["fraud-state-alt", "idempotency-alt", "transactions-alt"]
    (provider,) = alt_stack.doc["provider"]["aws"]
    assert provider["region"] == "eu-west-1"
