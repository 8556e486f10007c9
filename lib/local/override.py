"""Terraform override files that point the synthesized stack at the local emulator.

The `tflocal` pattern: the stack's JSON stays pure AWS; at deploy time we drop
`*_override.tf.json` files next to it. Terraform merges them over the original
blocks: a provider block's arguments (and its whole `endpoints` block) are
replaced, a `backend` block replaces the original backend, and a resource's
arguments are replaced one by one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

# Provider 5.100 endpoint keys for every service the stack uses or could touch
# (data sources included). Every one points at the emulator so no call can
# leave the machine even if a future resource uses a service listed here.
ENDPOINT_SERVICES: tuple[str, ...] = (
    "apigateway",
    "apigatewayv2",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "sts",
)

# Which endpoint each resource / data-source type talks to (by type prefix, longest first).
# A type not covered here would reach the real AWS endpoint, so deploys refuse it.
TYPE_SERVICES: dict[str, str] = {
    "aws_api_gateway_": "apigateway",
    "aws_apigatewayv2_": "apigatewayv2",
    "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_event_": "events",
    "aws_cloudwatch_": "cloudwatch",
    "aws_dynamodb_": "dynamodb",
    "aws_iam_": "iam",
    "aws_kms_": "kms",
    "aws_lambda_": "lambda",
    "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager",
    "aws_sns_": "sns",
    "aws_sqs_": "sqs",
    "aws_ssm_": "ssm",
    "aws_caller_identity": "sts",
    "aws_availability_zones": "ec2",
    "aws_vpc": "ec2",
    "aws_subnet": "ec2",
    "aws_route": "ec2",
    "aws_security_group": "ec2",
    "aws_default_security_group": "ec2",
    "aws_network_acl": "ec2",
    "aws_default_network_acl": "ec2",
    "aws_default_route_table": "ec2",
    "aws_flow_log": "ec2",
    "aws_internet_gateway": "ec2",
    "aws_eip": "ec2",
    "aws_nat_gateway": "ec2",
}
# No API call at all: computed locally by the provider.
LOCAL_ONLY_TYPES = frozenset({"aws_partition", "aws_region", "aws_iam_policy_document", "aws_default_tags"})

PROVIDER_FILE = "local_provider_override.tf.json"
API_KEY_FILE = "local_api_key_override.tf.json"


def service_of(type_name: str) -> str | None:
    for prefix in sorted(TYPE_SERVICES, key=len, reverse=True):
        if type_name.startswith(prefix):
            return TYPE_SERVICES[prefix]
    return None


def uncovered_types(stack: dict[str, Any]) -> list[str]:
    """Resource and data-source types whose service has no local endpoint (would hit AWS)."""
    types = set(stack.get("resource", {})) | set(stack.get("data", {}))
    return sorted(
        t for t in types
        if t not in LOCAL_ONLY_TYPES and (service_of(t) is None or service_of(t) not in ENDPOINT_SERVICES)
    )


def _aws_provider_blocks(stack: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = stack.get("provider", {}).get("aws", [{}])
    return blocks if isinstance(blocks, list) else [blocks]


def provider_override(stack: dict[str, Any], endpoint_url: str, state_path: Path) -> dict[str, Any]:
    """Endpoints + test credentials for every aws provider block, and a local backend."""
    providers = []
    for block in _aws_provider_blocks(stack):
        override: dict[str, Any] = {
            "access_key": "test",
            "secret_key": "test",
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
            "s3_use_path_style": True,
            "endpoints": [{service: endpoint_url for service in ENDPOINT_SERVICES}],
        }
        if "alias" in block:  # aliased providers are matched by alias in override files
            override["alias"] = block["alias"]
        # A role to assume or a named profile would send us to real STS / ~/.aws.
        if "assume_role" in block:
            override["assume_role"] = []
        if "profile" in block:
            override["profile"] = None
        providers.append(override)
    return {
        "provider": {"aws": providers},
        "terraform": {"backend": {"local": {"path": str(state_path)}}},
    }


def api_keys(stack: dict[str, Any]) -> list[str]:
    """Names of the stack's `aws_api_gateway_api_key` resources."""
    return sorted(stack.get("resource", {}).get("aws_api_gateway_api_key", {}))


def api_key_override(names: Iterable[str], value: str) -> dict[str, Any]:
    """An explicit key value: MiniStack fails to create a key without one.

    The value is generated per deploy (never fixed, never in the stack); it also
    becomes the `api_key` entry of the local outputs file.
    """
    keys = {name: {"value": value} for name in names}
    return {"resource": {"aws_api_gateway_api_key": keys}} if keys else {}


def write_overrides(
    workdir: Path, stack: dict[str, Any], endpoint_url: str, state_path: Path, api_key: str
) -> list[Path]:
    written = []
    provider = workdir / PROVIDER_FILE
    provider.write_text(json.dumps(provider_override(stack, endpoint_url, state_path), indent=2))
    written.append(provider)
    keys = api_key_override(api_keys(stack), api_key)
    if keys:
        path = workdir / API_KEY_FILE
        path.write_text(json.dumps(keys, indent=2))
        path.chmod(0o600)  # holds a credential
        written.append(path)
    return written
