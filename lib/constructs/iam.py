"""IAM policy building blocks shared by the constructs.

Policies are written as plain dicts and serialised with `json.dumps`; cdktf resolves the ARN tokens
inside the strings at synth time, so the synthesized JSON holds readable documents that the unit
tests (and checkov) can parse and inspect.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

Statement = dict[str, Any]
Condition = Mapping[str, Mapping[str, Union[str, Sequence[str]]]]

# The ONLY actions ever granted on Resource "*", each with the reason. The stack tests walk every
# policy document in the synthesized JSON and fail on any "*" resource outside this list.
RESOURCE_STAR_ACTIONS: Mapping[str, str] = {
    "xray:PutTraceSegments": "X-Ray defines no resource types; the action cannot be scoped.",
    "xray:PutTelemetryRecords": "X-Ray defines no resource types; the action cannot be scoped.",
    "dynamodb:ListStreams": "ListStreams supports no resource-level permission (Lambda's "
    "stream poller calls it).",
    "ec2:DescribeNetworkInterfaces": "EC2 Describe* calls support no resource-level permission.",
    "ec2:CreateNetworkInterface": "Lambda creates the VPC ENIs on the role's behalf before their "
    "IDs exist; AWS's AWSLambdaVPCAccessExecutionRole grants it on '*'.",
    "ec2:DeleteNetworkInterface": "Deletes the Lambda-managed ENIs, whose IDs are not known at "
    "deploy time (AWSLambdaVPCAccessExecutionRole uses '*').",
    "ec2:AssignPrivateIpAddresses": "Operates on the Lambda-managed ENIs, unknown at deploy time "
    "(AWSLambdaVPCAccessExecutionRole uses '*').",
    "ec2:UnassignPrivateIpAddresses": "Operates on the Lambda-managed ENIs, unknown at deploy "
    "time (AWSLambdaVPCAccessExecutionRole uses '*').",
    "logs:DescribeLogGroups": "DescribeLogGroups supports no resource-level permission (the "
    "API Gateway account role looks its log groups up).",
}

# In a KMS key policy "Resource": "*" means "this key" (a key policy cannot name other
# resources), so key policies are the one place "*" appears with other actions.
KEY_POLICY_RESOURCE = "*"

_ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")  # service:Action, no wildcard


@dataclass(frozen=True)
class AwsContext:
    """Account, partition and region of the deployment, as Terraform references."""

    account_id: str
    partition: str
    region: str

    def arn(self, service: str, resource: str, *, region: Optional[str] = None) -> str:
        region_part = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{region_part}:{self.account_id}:{resource}"

    @property
    def account_root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    def log_group_arn(self, name: str) -> str:
        return self.arn("logs", f"log-group:{name}")

    def service_endpoint(self, service: str) -> str:
        """Value of kms:ViaService for calls AWS services make on a caller's behalf."""
        return f"{service}.{self.region}.amazonaws.com"


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Union[str, Sequence[str]],
    *,
    effect: str = "Allow",
    principal: Optional[Mapping[str, Any] | str] = None,
    condition: Optional[Condition] = None,
) -> Statement:
    """One policy statement; refuses wildcard actions so a typo cannot widen a grant."""
    for action in actions:
        if not _ACTION_RE.match(action):
            raise ValueError(f"{sid}: action {action!r} is not an exact 'service:Action'")
    result: Statement = {"Sid": sid, "Effect": effect}
    if principal is not None:
        result["Principal"] = principal
    result["Action"] = sorted(set(actions))
    result["Resource"] = resources if isinstance(resources, str) else list(resources)
    if condition:
        result["Condition"] = {op: dict(values) for op, values in condition.items()}
    return result


def resource_star(sid: str, actions: Sequence[str]) -> Statement:
    """A statement on Resource "*", only for actions in RESOURCE_STAR_ACTIONS."""
    unknown = sorted(set(actions) - set(RESOURCE_STAR_ACTIONS))
    if unknown:
        raise ValueError(f"{sid}: {unknown} are not in RESOURCE_STAR_ACTIONS")
    return statement(sid, actions, "*")


def document(statements: Sequence[Statement]) -> str:
    sids = [s["Sid"] for s in statements]
    if len(sids) != len(set(sids)):
        raise ValueError(f"duplicate Sid in policy: {sids}")
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=False)


def assume_role_policy(service: str) -> str:
    """Trust policy letting one AWS service principal assume the role."""
    trust: Statement = {
        "Sid": "TrustService",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [trust]})


def deny_insecure_transport(actions: Sequence[str], resource: str) -> Statement:
    """Resource-policy statement refusing plain-HTTP requests (defence in depth)."""
    return statement(
        "DenyInsecureTransport",
        actions,
        resource,
        effect="Deny",
        principal="*",
        condition={"Bool": {"aws:SecureTransport": "false"}},
    )
