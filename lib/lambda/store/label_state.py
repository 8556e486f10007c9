"""A StateStore for the feedback route: GetItem + conditional UpdateItem, one document at a time.

`FraudEngine.record_label` touches two documents (card, merchant) and each label
write is idempotent per document, so per-document conditional writes converge
under retries: if the second write conflicts, the engine reloads, finds the first
label already recorded (no write) and retries only the second. That keeps the
api role to GetItem/UpdateItem on the state table (no BatchGet/TransactWrite).
Score write-backs are not supported here; the detection store does those.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Collection, Optional, Sequence

from botocore.exceptions import ClientError

from fraud.engine import StateConflict, StateWrite
from fraud.models import Assessment, Transaction
from store.aws import client, is_conditional_failure
from store.codec import to_value
from store.state_codec import from_item_attrs, to_item_attrs


class LabelStateStore:
    def __init__(self, state_table: str, dynamodb: Optional[Any] = None) -> None:
        self.state_table = state_table
        self._dynamodb = dynamodb

    @property
    def _db(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def load(self, keys: Collection[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for key in keys:
            response = self._db.get_item(TableName=self.state_table, Key={"pk": {"S": key}}, ConsistentRead=True)
            if "Item" in response:
                found[key] = from_item_attrs(response["Item"])
        return found

    def commit(self, writes: Sequence[StateWrite], assessments: Sequence[tuple[Transaction, Assessment]] = ()) -> None:
        if assessments:
            raise ValueError("LabelStateStore does not write scores")
        for write in writes:
            self._update(write)

    def _update(self, write: StateWrite) -> None:
        # SET every attribute of the stored form: a Put in effect. Attributes of the older,
        # unpacked format may linger on the item; loading ignores them once `doc` exists.
        attrs = to_item_attrs(write.key, write.document)
        del attrs["pk"]
        names = {f"#a{i}": name for i, name in enumerate(attrs)}
        values = {f":a{i}": value for i, value in enumerate(attrs.values())}
        request: dict[str, Any] = {
            "TableName": self.state_table,
            "Key": {"pk": {"S": write.key}},
            "UpdateExpression": "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(names))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if write.expected_version is None:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            request["ConditionExpression"] = "#version = :expected"
            names["#version"] = "version"
            values[":expected"] = to_value(Decimal(write.expected_version))
        try:
            self._db.update_item(**request)
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise StateConflict([write.key]) from None
            raise
