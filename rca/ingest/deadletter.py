"""Publish malformed messages to the dead-letter topic, with what is wrong in the headers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer

from rca.settings import IngestSettings


@dataclass(frozen=True)
class DeadLetter:
    """A consumed record that could not be stored: ``reason`` (short kind) and ``error`` (what and where)."""

    record: Any
    reason: str
    error: str


class DeadLetterPublisher:
    """Sends dead letters to ``settings.dlq_topic`` and waits for the broker's acknowledgement.

    The value is the original bytes (cut to ``dlq_max_value_bytes``, header ``rca.dlq.truncated`` then
    says the original size), with headers ``rca.dlq.reason``, ``rca.dlq.error``, ``rca.source.topic``,
    ``rca.source.partition``, ``rca.source.offset`` and ``rca.source.encoding``.
    """

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self._encodings = {topic: encoding for topic, (_, encoding) in settings.topics().items()}
        self._producer: KafkaProducer | None = None

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.bootstrap.split(","),
                client_id=f"{self.settings.client_id}-dlq-{os.getpid()}",
                acks="all",
                max_request_size=max(1024 * 1024, self.settings.dlq_max_value_bytes + 64 * 1024),
                bootstrap_timeout_ms=10_000,
            )
        return self._producer

    def publish(self, dead: list[DeadLetter]) -> None:
        """Send and wait for every acknowledgement.

        Raises
        ------
        kafka.errors.KafkaError
            When the broker cannot be reached or does not acknowledge in time (retry the whole list).
        """
        limit = self.settings.dlq_max_value_bytes
        producer = self._get_producer()
        futures = []
        for letter in dead:
            record = letter.record
            value = record.value or b""
            headers = [
                ("rca.dlq.reason", letter.reason.encode()),
                ("rca.dlq.error", letter.error.encode("utf-8", "replace")[:2000]),
                ("rca.source.topic", record.topic.encode()),
                ("rca.source.partition", str(record.partition).encode()),
                ("rca.source.offset", str(record.offset).encode()),
                ("rca.source.encoding", self._encodings.get(record.topic, "").encode()),
            ]
            if len(value) > limit:
                headers.append(("rca.dlq.truncated", str(len(value)).encode()))
                value = value[:limit]
            futures.append(producer.send(self.settings.dlq_topic, value=value, key=record.key, headers=headers))
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)

    def close(self) -> None:
        """Close the producer (pending sends are flushed for up to 5 s)."""
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
