"""SendMessageBatch with per-entry retries: what could not be sent is returned, never dropped.

SQS accepts up to 10 entries per call and reports failures per entry. Entries
that failed on the service side (`SenderFault` false: throttling, internal
errors) are retried with backoff; sender faults are not retryable and are
returned at once. The caller decides what an unsent message means (for the
stream handler: report the record as failed so Lambda retries it).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from store.aws import client

MAX_BATCH = 10


@dataclass(frozen=True)
class OutgoingMessage:
    key: str  # caller's handle for the message (e.g. the stream event id)
    body: str
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class QueueSender:
    def __init__(
        self,
        queue_url: str,
        sqs: Optional[Any] = None,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue_url = queue_url
        self._sqs = sqs
        self._attempts = attempts
        self._sleep = sleep

    def send(self, messages: Sequence[OutgoingMessage]) -> list[OutgoingMessage]:
        """Send all `messages`; returns the ones still unsent after the retries."""
        failed: list[OutgoingMessage] = []
        for start in range(0, len(messages), MAX_BATCH):
            failed.extend(self._send_chunk(list(messages[start : start + MAX_BATCH])))
        return failed

    def _send_chunk(self, pending: list[OutgoingMessage]) -> list[OutgoingMessage]:
        permanent: list[OutgoingMessage] = []
        for attempt in range(self._attempts):
            if attempt:
                # Full jitter: spread concurrent retries instead of re-colliding.
                self._sleep(random.uniform(0, 0.1 * 2**attempt))
            retry, hard = self._try(pending)
            permanent.extend(hard)
            pending = retry
            if not pending:
                break
        return permanent + pending

    def _try(self, chunk: list[OutgoingMessage]) -> tuple[list[OutgoingMessage], list[OutgoingMessage]]:
        # Entry ids only need to be unique in the call; positions keep them short and valid.
        entries = []
        for index, message in enumerate(chunk):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message.body}
            if message.attributes:
                entry["MessageAttributes"] = {k: dict(v) for k, v in message.attributes.items()}
            entries.append(entry)
        try:
            response = (self._sqs or client("sqs")).send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except (ClientError, BotoCoreError):
            # The whole call failed after botocore's own retries: all of it is retryable.
            return chunk, []
        retry: list[OutgoingMessage] = []
        hard: list[OutgoingMessage] = []
        for failure in response.get("Failed", []):
            message = chunk[int(failure["Id"])]
            (hard if failure.get("SenderFault") else retry).append(message)
        return retry, hard
