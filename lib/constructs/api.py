"""API: the REST API in front of the api handler (routes from CONTRACTS.md).

Every method needs an API key (usage plan: 1000 rps, burst 2000) and proxies to the handler. Bodies
are checked against JSON-schema models for shape and types only; the handler does the detailed
validation. Stage `prod` has X-Ray, access logs and error-level execution logs, both in CMK-encrypted
log groups this stack owns (so `destroy` leaves nothing behind).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from cdktf import Fn, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.api_gateway_api_key import ApiGatewayApiKey
from cdktf_cdktf_provider_aws.api_gateway_deployment import ApiGatewayDeployment
from cdktf_cdktf_provider_aws.api_gateway_gateway_response import ApiGatewayGatewayResponse
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_method_settings import (
    ApiGatewayMethodSettings,
    ApiGatewayMethodSettingsSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_model import ApiGatewayModel
from cdktf_cdktf_provider_aws.api_gateway_request_validator import ApiGatewayRequestValidator
from cdktf_cdktf_provider_aws.api_gateway_resource import ApiGatewayResource
from cdktf_cdktf_provider_aws.api_gateway_rest_api import (
    ApiGatewayRestApi,
    ApiGatewayRestApiEndpointConfiguration,
)
from cdktf_cdktf_provider_aws.api_gateway_stage import (
    ApiGatewayStage,
    ApiGatewayStageAccessLogSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_usage_plan import (
    ApiGatewayUsagePlan,
    ApiGatewayUsagePlanApiStages,
    ApiGatewayUsagePlanThrottleSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_usage_plan_key import ApiGatewayUsagePlanKey
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from lib.config import StackConfig
from lib.constructs.functions import PythonFunction
from lib.constructs.iam import AwsContext, assume_role_policy, document, resource_star, statement

JSON_SCHEMA = "http://json-schema.org/draft-04/schema#"
TRANSACTION_SCHEMA: dict[str, Any] = {
    "$schema": JSON_SCHEMA,
    "title": "TransactionRequest",
    "type": "object",
    "required": ["amount", "merchant", "card_number", "location"],
    "properties": {
        # A string amount keeps exact decimals; the handler parses and bounds both forms.
        "amount": {"type": ["number", "string"]},
        "merchant": {"type": "string"},
        "card_number": {"type": "string"},
        "location": {"type": "string"},
        # Optional fields: the handler treats null as absent, so the gateway must let null through.
        "customer_id": {"type": ["string", "null"]},
        "currency": {"type": ["string", "null"]},
    },
}
FEEDBACK_SCHEMA: dict[str, Any] = {
    "$schema": JSON_SCHEMA,
    "title": "FeedbackRequest",
    "type": "object",
    "required": ["label"],
    "properties": {"label": {"type": "string", "enum": ["fraud", "legitimate"]}},
}
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integration.latency",
        "apiKeyId": "$context.identity.apiKeyId",
        "sourceIp": "$context.identity.sourceIp",
        "errorMessage": "$context.error.message",
        "xrayTraceId": "$context.xrayTraceId",
    }
)
# Gateway-generated errors use the handlers' error shape instead of API Gateway's default.
ERROR_TEMPLATE = '{"message": $context.error.messageString, "errors": []}'
BAD_BODY_TEMPLATE = (
    '{"message": $context.error.messageString, '
    '"errors": [{"field": "body", "reason": "does not match the request model"}]}'
)


def access_log_group_name(config: StackConfig) -> str:
    return f"/aws/apigateway/{config.name('fraud-detection-api')}"


def execution_log_group_pattern(config: StackConfig) -> str:
    """Execution log groups are named after the API id, unknown before the API exists."""
    return f"API-Gateway-Execution-Logs_*/{config.api_stage_name}"


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: StackConfig,
        aws: AwsContext,
        handler: PythonFunction,
        log_key: KmsKey,
    ) -> None:
        super().__init__(scope, id_)
        stage_name = config.api_stage_name
        self.rest_api = ApiGatewayRestApi(
            self,
            "rest-api",
            name=config.name("fraud-detection-api"),
            description="Card transactions in, fraud decisions out",
            endpoint_configuration=ApiGatewayRestApiEndpointConfiguration(types=["REGIONAL"]),
            tags={"Name": config.name("fraud-detection-api")},
            # A replaced API is up before the old one goes (names need not be unique).
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        api_id = self.rest_api.id
        account = self._account_logging(config, aws)

        validator = ApiGatewayRequestValidator(
            self,
            "validator",
            rest_api_id=api_id,
            name=config.name("fraud-detection-validator"),
            validate_request_body=True,
            validate_request_parameters=True,
        )
        models = {
            title: ApiGatewayModel(
                self,
                f"model-{title}",
                rest_api_id=api_id,
                name=title,
                content_type="application/json",
                schema=json.dumps(schema),
            )
            for title, schema in (
                ("TransactionRequest", TRANSACTION_SCHEMA),
                ("FeedbackRequest", FEEDBACK_SCHEMA),
            )
        }
        transactions = ApiGatewayResource(
            self, "transactions", rest_api_id=api_id,
            parent_id=self.rest_api.root_resource_id, path_part="transactions",
        )
        transaction = ApiGatewayResource(
            self, "transaction", rest_api_id=api_id,
            parent_id=transactions.id, path_part="{transaction_id}",
        )
        feedback = ApiGatewayResource(
            self, "feedback", rest_api_id=api_id, parent_id=transaction.id, path_part="feedback",
        )

        path_id = {"method.request.path.transaction_id": True}
        routes = [
            ("post-transactions", transactions, "POST", models["TransactionRequest"], None),
            ("get-transaction", transaction, "GET", None, path_id),
            ("post-feedback", feedback, "POST", models["FeedbackRequest"], path_id),
        ]
        parts: list[Any] = [transactions, transaction, feedback, validator, *models.values()]
        for route_id, resource, verb, model, parameters in routes:
            method = ApiGatewayMethod(
                self,
                route_id,
                rest_api_id=api_id,
                resource_id=resource.id,
                http_method=verb,
                authorization="NONE",  # callers authenticate with the API key
                api_key_required=True,
                request_validator_id=validator.id,
                request_models={"application/json": model.name} if model else None,
                request_parameters=parameters,
            )
            integration = ApiGatewayIntegration(
                self,
                f"{route_id}-integration",
                rest_api_id=api_id,
                resource_id=resource.id,
                http_method=method.http_method,
                type="AWS_PROXY",
                integration_http_method="POST",  # Lambda is always invoked with POST
                uri=handler.function.invoke_arn,
            )
            parts += [method, integration]

        for response_type, template in (
            ("DEFAULT_4XX", ERROR_TEMPLATE),
            ("DEFAULT_5XX", ERROR_TEMPLATE),
            ("BAD_REQUEST_BODY", BAD_BODY_TEMPLATE),
        ):
            parts.append(
                ApiGatewayGatewayResponse(
                    self,
                    f"response-{response_type.lower()}",
                    rest_api_id=api_id,
                    response_type=response_type,
                    response_templates={"application/json": template},
                )
            )

        # Redeploy when anything in the definition changes: the static parts by value, the
        # resources by id (a replaced method or integration gets a new id).
        self.deployment = ApiGatewayDeployment(
            self,
            "deployment",
            rest_api_id=api_id,
            triggers={
                "definition": self.definition_hash(),
                "resources": Fn.sha1(Fn.jsonencode([part.id for part in parts])),
            },
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=parts,
        )

        self.access_logs = CloudwatchLogGroup(
            self,
            "access-logs",
            name=access_log_group_name(config),
            retention_in_days=config.log_retention_days,
            kms_key_id=log_key.arn,
            tags={"Name": access_log_group_name(config)},
        )
        execution_logs = CloudwatchLogGroup(
            self,
            "execution-logs",
            name=f"API-Gateway-Execution-Logs_{api_id}/{stage_name}",
            retention_in_days=config.log_retention_days,
            kms_key_id=log_key.arn,
            tags={"Name": config.name("fraud-detection-api-execution-logs")},
        )
        self.stage = ApiGatewayStage(
            self,
            "stage",
            rest_api_id=api_id,
            deployment_id=self.deployment.id,
            stage_name=stage_name,
            xray_tracing_enabled=True,
            access_log_settings=ApiGatewayStageAccessLogSettings(
                destination_arn=self.access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            tags={"Name": config.name(f"fraud-detection-api-{stage_name}")},
            depends_on=[account, execution_logs],
        )
        ApiGatewayMethodSettings(
            self,
            "method-settings",
            rest_api_id=api_id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=ApiGatewayMethodSettingsSettings(
                metrics_enabled=True,
                logging_level="ERROR",
                data_trace_enabled=False,  # full request logs would contain card numbers
                throttling_rate_limit=config.api_rate_limit_rps,
                throttling_burst_limit=config.api_burst_limit,
            ),
        )

        self.api_key = ApiGatewayApiKey(
            self,
            "api-key",
            name=config.name("fraud-detection-api-key"),
            description="Client key for the fraud pipeline API",
            enabled=True,  # no value: AWS generates it (the local deploy sets its own)
        )
        usage_plan = ApiGatewayUsagePlan(
            self,
            "usage-plan",
            name=config.name("fraud-detection-usage-plan"),
            api_stages=[ApiGatewayUsagePlanApiStages(api_id=api_id, stage=self.stage.stage_name)],
            throttle_settings=ApiGatewayUsagePlanThrottleSettings(
                rate_limit=config.api_rate_limit_rps, burst_limit=config.api_burst_limit
            ),
        )
        ApiGatewayUsagePlanKey(
            self,
            "usage-plan-key",
            key_id=self.api_key.id,
            key_type="API_KEY",
            usage_plan_id=usage_plan.id,
        )

        LambdaPermission(
            self,
            "invoke-permission",
            statement_id="AllowThisApiOnly",
            action="lambda:InvokeFunction",
            function_name=handler.function.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{self.rest_api.execution_arn}/{stage_name}/*/transactions*",
        )

    @property
    def invoke_url(self) -> str:
        return f"{self.stage.invoke_url}/transactions"

    @staticmethod
    def definition_hash() -> str:
        definition = {
            "models": [TRANSACTION_SCHEMA, FEEDBACK_SCHEMA],
            "errors": [ERROR_TEMPLATE, BAD_BODY_TEMPLATE],
            "routes": [
                "POST /transactions",
                "GET /transactions/{transaction_id}",
                "POST /transactions/{transaction_id}/feedback",
            ],
        }
        return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()

    def _account_logging(self, config: StackConfig, aws: AwsContext) -> ApiGatewayAccount:
        """The regional, account-wide role API Gateway uses to write logs (a singleton, see README)."""
        role = IamRole(
            self,
            "cloudwatch-role",
            name=config.name("apigateway-cloudwatch-role"),
            assume_role_policy=assume_role_policy("apigateway.amazonaws.com"),
            tags={"Name": config.name("apigateway-cloudwatch-role")},
        )
        # Any stage of any of this project's APIs: the setting is shared by every environment
        # deployed to the same account and region, and the last one deployed wins.
        groups = [
            aws.log_group_arn("API-Gateway-Execution-Logs_*"),
            aws.log_group_arn("/aws/apigateway/fraud-detection-api-*"),
        ]
        policy = IamRolePolicy(
            self,
            "cloudwatch-role-policy",
            name=config.name("apigateway-cloudwatch-policy"),
            role=role.id,
            policy=document(
                [
                    statement(
                        "WriteApiLogs",
                        [
                            "logs:CreateLogGroup",
                            "logs:CreateLogStream",
                            "logs:DescribeLogStreams",
                            "logs:PutLogEvents",
                        ],
                        [*groups, *(f"{group}:*" for group in groups)],
                    ),
                    resource_star("FindLogGroups", ["logs:DescribeLogGroups"]),
                ]
            ),
        )
        return ApiGatewayAccount(
            self,
            "account",
            cloudwatch_role_arn=role.arn,
            depends_on=[policy],
        )
