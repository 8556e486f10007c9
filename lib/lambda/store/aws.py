"""AWS clients, created once per container and shared by every store class.

Low-level clients only: the resource layer costs tens of milliseconds more at
cold start and hides the condition/cancellation details we act on. boto3 picks
up `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) by itself, so the same
code runs against a local emulator unchanged.
"""
from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Standard retry mode: exponential backoff with jitter for throttling and 5xx,
# bounded so a stuck dependency surfaces before the function timeout.
# No client-side parameter validation: botocore walks every nested attribute value of a
# request in Python, which was over half of detection's own CPU (a 100-action
# TransactWriteItems of state documents; docs/BENCHMARKS.md). Our requests are built by
# code, and DynamoDB/SQS validate them anyway (a ValidationException instead of a
# ParamValidationError if one ever were malformed).
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
    parameter_validation=False,
)

# Error codes that mean "try again later", never "your request is wrong".
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
        "LimitExceededException",
        "KMSInternalException",
        "AWS.SimpleQueueService.RequestThrottled",
        "RequestThrottled",
    }
)


@functools.cache
def client(service: str) -> Any:
    """The container-wide client for `service` (cache_clear() in tests)."""
    return boto3.client(service, config=_CONFIG)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_conditional_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"
