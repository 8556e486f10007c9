"""REST API: routes, validation, API key + usage plan, stage, logging, deployment, permission."""
from __future__ import annotations

import json
from typing import Any

import pytest
from stack_helpers import Stack

ROUTES = [("POST", "transactions"), ("GET", "{transaction_id}"), ("POST", "feedback")]


@pytest.fixture(scope="module")
def api_ref(stack: Stack) -> str:
    return stack.ref("aws_api_gateway_rest_api", "id", name="fraud-detection-api-unittest")


def method(stack: Stack, verb: str, path_part: str) -> dict[str, Any]:
    resource = stack.ref("aws_api_gateway_resource", "id", path_part=path_part)
    return stack.body("aws_api_gateway_method", http_method=verb, resource_id=resource)


def test_resource_tree(stack: Stack) -> None:
    transactions = stack.body("aws_api_gateway_resource", path_part="transactions")
    assert transactions["parent_id"].endswith(".root_resource_id}")
    one = stack.body("aws_api_gateway_resource", path_part="{transaction_id}")
    assert one["parent_id"] == stack.ref("aws_api_gateway_resource", "id", path_part="transactions")
    feedback = stack.body("aws_api_gateway_resource", path_part="feedback")
    assert feedback["parent_id"] == stack.ref("aws_api_gateway_resource", "id", path_part="{transaction_id}")
    assert len(stack.of_type("aws_api_gateway_method")) == len(ROUTES)


@pytest.mark.parametrize(("verb", "path_part"), ROUTES)
def test_every_method_needs_the_api_key_and_proxies_to_the_handler(
    stack: Stack, verb: str, path_part: str
) -> None:
    body = method(stack, verb, path_part)
    assert body["api_key_required"] is True
    assert body["authorization"] == "NONE"
    assert body["request_validator_id"].startswith("${aws_api_gateway_request_validator.")
    # One method per resource, so the resource identifies the integration.
    integration = stack.body("aws_api_gateway_integration", resource_id=body["resource_id"])
    assert integration["type"] == "AWS_PROXY"
    assert integration["integration_http_method"] == "POST"
    assert integration["uri"] == stack.ref(
        "aws_lambda_function", "invoke_arn", function_name="api-handler-unittest"
    )


def test_validator_checks_body_and_parameters(stack: Stack) -> None:
    (validator,) = stack.of_type("aws_api_gateway_request_validator").values()
    assert validator["validate_request_body"] is True
    assert validator["validate_request_parameters"] is True


def test_transaction_model_requires_the_spec_fields(stack: Stack) -> None:
    body = method(stack, "POST", "transactions")
    assert body["request_models"] == {"application/json": stack.ref(
        "aws_api_gateway_model", "name", name="TransactionRequest")}
    schema = json.loads(stack.body("aws_api_gateway_model", name="TransactionRequest")["schema"])
    assert schema["$schema"].startswith("http://json-schema.org/draft-04/")
    assert sorted(schema["required"]) == ["amount", "card_number", "location", "merchant"]
    assert schema["properties"]["card_number"] == {"type": "string"}


def test_feedback_model_allows_two_labels(stack: Stack) -> None:
    body = method(stack, "POST", "feedback")
    assert body["request_parameters"] == {"method.request.path.transaction_id": True}
    schema = json.loads(stack.body("aws_api_gateway_model", name="FeedbackRequest")["schema"])
    assert schema["required"] == ["label"]
    assert schema["properties"]["label"]["enum"] == ["fraud", "legitimate"]


def test_get_requires_the_path_parameter(stack: Stack) -> None:
    body = method(stack, "GET", "{transaction_id}")
    assert body["request_parameters"] == {"method.request.path.transaction_id": True}
    assert "request_models" not in body


def test_api_key_has_no_fixed_value(stack: Stack) -> None:
    (key,) = stack.of_type("aws_api_gateway_api_key").values()
    assert "value" not in key
    assert key["enabled"] is True


def test_usage_plan_throttles_1000_rps_burst_2000_on_the_stage(stack: Stack, api_ref: str) -> None:
    (plan,) = stack.of_type("aws_api_gateway_usage_plan").values()
    assert plan["throttle_settings"] == {"rate_limit": 1000, "burst_limit": 2000}
    stage_name = stack.ref("aws_api_gateway_stage", "stage_name", stage_name="prod")
    assert plan["api_stages"] == [{"api_id": api_ref, "stage": stage_name}]
    (plan_key,) = stack.of_type("aws_api_gateway_usage_plan_key").values()
    assert plan_key["key_type"] == "API_KEY"
    assert plan_key["key_id"].startswith("${aws_api_gateway_api_key.")


def test_stage_prod_traces_and_logs(stack: Stack) -> None:
    stage = stack.body("aws_api_gateway_stage", stage_name="prod")
    assert stage["xray_tracing_enabled"] is True
    access_logs = stack.ref("aws_cloudwatch_log_group", "arn", name="/aws/apigateway/fraud-detection-api-unittest")
    assert stage["access_log_settings"]["destination_arn"] == access_logs
    assert json.loads(stage["access_log_settings"]["format"])["requestId"] == "$context.requestId"
    account_logical, _ = next(iter(stack.of_type("aws_api_gateway_account").items()))
    assert f"aws_api_gateway_account.{account_logical}" in stage["depends_on"]


def test_account_cloudwatch_role(stack: Stack) -> None:
    (account,) = stack.of_type("aws_api_gateway_account").values()
    assert account["cloudwatch_role_arn"] == stack.ref(
        "aws_iam_role", "arn", name="apigateway-cloudwatch-role-unittest"
    )


def test_method_settings_throttle_and_never_log_bodies(stack: Stack) -> None:
    (settings,) = stack.of_type("aws_api_gateway_method_settings").values()
    assert settings["method_path"] == "*/*"
    assert settings["settings"]["data_trace_enabled"] is False  # bodies hold card numbers
    assert settings["settings"]["throttling_rate_limit"] == 1000
    assert settings["settings"]["throttling_burst_limit"] == 2000
    assert settings["settings"]["metrics_enabled"] is True


def test_deployment_redeploys_on_change(stack: Stack) -> None:
    (deployment,) = stack.of_type("aws_api_gateway_deployment").values()
    assert deployment["lifecycle"] == {"create_before_destroy": True}
    triggers = deployment["triggers"]
    assert len(triggers["definition"]) == 64  # sha256 of the static definition
    assert triggers["resources"].startswith("${sha1(jsonencode([")
    for logical in stack.of_type("aws_api_gateway_integration"):
        assert f"aws_api_gateway_integration.{logical}" in deployment["depends_on"]
        assert f"aws_api_gateway_integration.{logical}.id" in triggers["resources"]


def test_definition_hash_tracks_the_models() -> None:
    from lib.constructs import api

    before = api.Api.definition_hash()
    api.FEEDBACK_SCHEMA["properties"]["label"]["enum"].append("unknown")
    try:
        assert api.Api.definition_hash() != before
    finally:
        api.FEEDBACK_SCHEMA["properties"]["label"]["enum"].pop()
    assert api.Api.definition_hash() == before


def test_lambda_permission_scoped_to_this_api(stack: Stack) -> None:
    (permission,) = stack.of_type("aws_lambda_permission").values()
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["function_name"] == stack.ref(
        "aws_lambda_function", "function_name", function_name="api-handler-unittest"
    )
    execution_arn = stack.ref("aws_api_gateway_rest_api", "execution_arn", name="fraud-detection-api-unittest")
    assert permission["source_arn"] == f"{execution_arn}/prod/*/transactions*"


def test_gateway_errors_use_the_handlers_json_shape(stack: Stack) -> None:
    responses = {b["response_type"]: b for b in stack.of_type("aws_api_gateway_gateway_response").values()}
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX", "BAD_REQUEST_BODY"}
    for body in responses.values():
        template = body["response_templates"]["application/json"]
        assert '"message": $context.error.messageString' in template
        assert '"errors"' in template
