"""AWS clients, created once per container and shared by every store class.

Low-level clients only: the resource layer costs tens of milliseconds more at
cold start and hides the condition/cancellation details we act on. boto3 picks
up `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) by itself, so the same
code runs against a local emulator unchanged.

Created on first use, not at import: importing boto3 and building a client is most of
a handler's cold start (~150 ms + ~40-80 ms for the first client), and a handler module
should import fast (bench/cold_start.py reports the deferred part as `first_use_ms`).
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

# Standard retry mode: exponential backoff with jitter for throttling and 5xx,
# bounded so a stuck dependency surfaces before the function timeout.
# No client-side parameter validation: botocore walks every nested attribute value of a
# request in Python, which was over half of detection's own CPU (a 100-action
# TransactWriteItems of state documents; docs/BENCHMARKS.md). Our requests are built by
# code, and DynamoDB/SQS validate them anyway (a ValidationException instead of a
# ParamValidationError if one ever were malformed).
_CONFIG = dict(
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


# Run once, just before the first client is created (the handlers patch botocore for X-Ray
# there: patching imports botocore, which importing a handler should not).
_before_first_client: list[Callable[[], None]] = []


def before_first_client(hook: Callable[[], None]) -> None:
    _before_first_client.append(hook)


@functools.cache
def client(service: str) -> Any:
    """The container-wide client for `service` (cache_clear() in tests)."""
    while _before_first_client:
        _before_first_client.pop(0)()
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(**_CONFIG))


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_conditional_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"
