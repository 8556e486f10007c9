"""The transactions table: create once, read, label, mark alerted.

Every write is conditional so that retries (API Gateway clients, SQS redelivery)
can never create a second item or resurrect a deleted one.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping, Optional

from botocore.exceptions import ClientError

from store.aws import client, is_conditional_failure

if TYPE_CHECKING:
    from types import ModuleType


def _codec() -> ModuleType:
    """store.codec, imported on the first call: it imports boto3, which a handler's import should not."""
    from store import codec

    return codec


class TransactionExists(Exception):
    """The transaction id is taken; `existing` is the stored item."""

    def __init__(self, existing: dict[str, Any]) -> None:
        super().__init__("transaction already exists")
        self.existing = existing


class TransactionNotFound(Exception):
    pass


class LabelConflict(Exception):
    """The transaction already carries a different label."""

    def __init__(self, existing: dict[str, Any]) -> None:
        super().__init__("transaction already labelled")
        self.existing = existing


class TransactionRepository:
    def __init__(self, table_name: str, dynamodb: Optional[Any] = None) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb

    @property
    def _db(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def create(self, item: Mapping[str, Any]) -> None:
        """Put a new item; TransactionExists (with the stored item) if the id is taken."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=_codec().to_attrs(item),
                ConditionExpression="attribute_not_exists(transaction_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = exc.response.get("Item")
            existing = _codec().from_attrs(old) if old else self.get(str(item["transaction_id"]))
            raise TransactionExists(existing or {}) from None

    def get(self, transaction_id: str) -> Optional[dict[str, Any]]:
        # Consistent: a client may GET right after its POST.
        response = self._db.get_item(
            TableName=self.table_name,
            Key={"transaction_id": {"S": transaction_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _codec().from_attrs(item) if item else None

    def set_label(self, transaction_id: str, label: str, labelled_at: int) -> dict[str, Any]:
        """Record a feedback label once; the same label again is a no-op returning the item.

        Raises TransactionNotFound, or LabelConflict when a different label is stored.
        """
        try:
            response = self._db.update_item(
                TableName=self.table_name,
                Key={"transaction_id": {"S": transaction_id}},
                UpdateExpression="SET #label = :label, labelled_at = :at",
                ConditionExpression="attribute_exists(transaction_id) AND attribute_not_exists(#label)",
                ExpressionAttributeNames={"#label": "label"},
                ExpressionAttributeValues={
                    ":label": _codec().to_value(label), ":at": _codec().to_value(Decimal(labelled_at))
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return _codec().from_attrs(response["Attributes"])
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = exc.response.get("Item")
            existing = _codec().from_attrs(old) if old else self.get(transaction_id)
        if not existing:
            raise TransactionNotFound(transaction_id)
        if existing.get("label") != label:
            raise LabelConflict(existing)
        return existing

    def mark_alerted(self, transaction_id: str, alerted_at: int) -> bool:
        """Set `alerted_at`; False when the transaction does not exist (nothing is created)."""
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key={"transaction_id": {"S": transaction_id}},
                UpdateExpression="SET alerted_at = :at",
                ConditionExpression="attribute_exists(transaction_id)",
                ExpressionAttributeValues={":at": _codec().to_value(Decimal(alerted_at))},
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
