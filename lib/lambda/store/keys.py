"""The card-fingerprint key: derived from KMS once per container, never stored.

The HMAC key never leaves KMS. We ask it to MAC a fixed label; the 32-byte MAC
is the key we use locally for `hmac(key, pan)`. Rotating the derivation means
changing the label (v1 → v2), which is why the label carries a version.
"""
from __future__ import annotations

import threading
from typing import Any, Optional

from store.aws import client

FINGERPRINT_LABEL = b"tap/card-fingerprint/v1"


class FingerprintKeyProvider:
    def __init__(self, key_id: str, kms: Optional[Any] = None) -> None:
        if not key_id:
            raise ValueError("CARD_FINGERPRINT_KEY_ID is not set")
        self._key_id = key_id
        self._kms = kms
        self._key: Optional[bytes] = None
        self._lock = threading.Lock()

    def key(self) -> bytes:
        """The derived key; one kms:GenerateMac call per container."""
        if self._key is None:
            with self._lock:
                if self._key is None:
                    kms = self._kms or client("kms")
                    response = kms.generate_mac(
                        KeyId=self._key_id,
                        Message=FINGERPRINT_LABEL,
                        MacAlgorithm="HMAC_SHA_256",
                    )
                    self._key = bytes(response["Mac"])
        return self._key
