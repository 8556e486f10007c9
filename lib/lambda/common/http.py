"""JSON responses and client errors for the API Gateway REST proxy integration.

Every error body has the same shape, `{"message": str, "errors": [{"field", "reason"}]}`,
so clients (and the fuzzing tests) can rely on it for every 4xx.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

from common.encoding import dumps

JSON_HEADERS = {
    "Content-Type": "application/json",
    # Responses carry transaction data: never let an intermediary cache them.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class HttpError(Exception):
    """A 4xx answer for something the client sent; carries no request data."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: Sequence[Mapping[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = [{"field": e["field"], "reason": e["reason"]} for e in errors]


def response(status: int, body: Any, headers: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": dumps(body),
        "isBase64Encoded": False,
    }


def error(status: int, message: str, errors: Iterable[Mapping[str, str]] = ()) -> dict[str, Any]:
    return response(status, {"message": message, "errors": list(errors)})
