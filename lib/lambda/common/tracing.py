"""The handlers' Powertools Tracer, with botocore patched for X-Ray on first use instead of at import.

`Tracer()` patches at construction (`patch_all`: botocore, sqlite3 and whatever else is
installed), which imports botocore: ~100 ms of a handler's import before it has done
anything. Every AWS call the handlers make goes through a `store.aws` client, so patching
botocore just before the first of those clients is created traces exactly the same calls.
"""
from __future__ import annotations

from aws_lambda_powertools import Tracer

from store import aws

PATCH_MODULES = ("botocore",)


def tracer() -> Tracer:
    traced = Tracer(auto_patch=False)
    aws.before_first_client(lambda: traced.patch(PATCH_MODULES))
    return traced
