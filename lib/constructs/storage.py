"""Storage: the DynamoDB tables (names and keys from CONTRACTS.md).

All on-demand, encrypted with the CMK, point-in-time recovery on, deletion protection off so an
environment can be destroyed. The transactions stream carries NEW_AND_OLD_IMAGES: detection only
needs the new image of INSERTs, but the old image lets tooling (replays, audits) see changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
    DynamodbTableTtl,
)
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from lib.config import StackConfig


@dataclass(frozen=True)
class TableSpec:
    base_name: str
    hash_key: str
    ttl_attribute: Optional[str] = None
    stream_view_type: Optional[str] = None


TRANSACTIONS = TableSpec("transactions", "transaction_id", stream_view_type="NEW_AND_OLD_IMAGES")
FRAUD_STATE = TableSpec("fraud-state", "pk", ttl_attribute="expires_at")
IDEMPOTENCY = TableSpec("idempotency", "id", ttl_attribute="expiration")


class Storage(Construct):
    def __init__(self, scope: Construct, id_: str, *, config: StackConfig, key: KmsKey) -> None:
        super().__init__(scope, id_)
        self._config = config
        self._key = key
        self.transactions = self._table(TRANSACTIONS)
        self.state = self._table(FRAUD_STATE)
        self.idempotency = self._table(IDEMPOTENCY)

    def _table(self, spec: TableSpec) -> DynamodbTable:
        name = self._config.name(spec.base_name)
        return DynamodbTable(
            self,
            spec.base_name,
            name=name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=spec.hash_key,
            attribute=[DynamodbTableAttribute(name=spec.hash_key, type="S")],
            server_side_encryption=DynamodbTableServerSideEncryption(
                enabled=True, kms_key_arn=self._key.arn
            ),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            deletion_protection_enabled=False,
            ttl=(
                DynamodbTableTtl(attribute_name=spec.ttl_attribute, enabled=True)
                if spec.ttl_attribute
                else None
            ),
            stream_enabled=True if spec.stream_view_type else None,
            stream_view_type=spec.stream_view_type,
            tags={"Name": name},
        )
