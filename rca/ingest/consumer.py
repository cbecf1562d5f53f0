"""The ingestion worker: Kafka -> decode -> store, at least once, with a dead-letter topic.

One loop, one batch at a time:

1. ``poll`` up to ``max_batch_records`` messages from the subscribed topics (auto-commit is off).
2. Decode each message with its topic's decoder (:data:`rca.ingest.decoders.DECODERS`). A message that
   fails (bad protobuf, bad JSON, wrong types, non-finite values, too large, empty) is a dead letter.
3. Write all points and spans of the batch in one store transaction (idempotent upserts), and its
   log records in a second one (counts, made idempotent by the offset ledger of
   :mod:`rca.store.logs`). If the database rejects the batch's content (not a connection problem),
   the messages are written one by one and the ones it rejects become dead letters too.
4. Send the dead letters to ``rca_dlq`` (:mod:`rca.ingest.deadletter`) and wait for the broker's
   acknowledgement; ``rca_ingest_dead_letters_total`` rises.
5. Only then commit the offsets of the batch.

Failures of the broker or the store (connection refused, timeouts, a broker restart) are retried
with exponential backoff (0.2 s doubling to 10 s: :mod:`rca.ingest.retry`); the worker does not exit.
A failed commit keeps its offsets pending: the loop polls again (so the client can rejoin the group)
and commits them with the next batch, or alone when no message comes. A crash at any point before
step 5 means the batch is delivered again, and the upserts store it exactly once.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from kafka import KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata, TopicPartition

from rca.ingest import metrics
from rca.ingest.deadletter import DeadLetter, DeadLetterPublisher
from rca.ingest.decoders import DECODERS, Decoder, decode
from rca.ingest.metrics import IngestStats
from rca.ingest.records import DecodeError, LogLine, MetricPoint, SpanRecord
from rca.ingest.retry import Stopped, backoff_delay, retry
from rca.settings import IngestSettings
from rca.store.logs import LogMessage, LogStore
from rca.store.store import Store

log = logging.getLogger("rca.ingest")


@dataclass
class _Message:
    record: Any
    points: list[MetricPoint]
    spans: list[SpanRecord]
    logs: list[LogLine] = field(default_factory=list)


_REJECTED = (sa.exc.DataError, sa.exc.IntegrityError, sa.exc.ProgrammingError)
"""The database refusing a batch's content: retrying cannot help, the messages are tried one by one."""


class IngestWorker:
    """Consume the telemetry topics into a store.

    Parameters
    ----------
    settings
        Broker, topics, encodings, batching (see :class:`IngestSettings`).
    store
        The store to write to; by default one is opened from ``settings.store_url`` /
        ``settings.data_dir``.
    stats_path
        Write :class:`IngestStats` as JSON here after every commit.
    on_batch
        Called with the stats after every committed batch (progress display).
    """

    def __init__(
        self,
        settings: IngestSettings,
        store: Store | None = None,
        *,
        stats_path: str | os.PathLike[str] | None = None,
        on_batch: Callable[[IngestStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store = store or Store(
            settings.store_url or None, data_dir=settings.data_dir, span_step_seconds=settings.span_step_seconds
        )
        self.stats_path = Path(stats_path) if stats_path is not None else None
        self.on_batch = on_batch
        self.stats = IngestStats(worker=f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}")
        self.logs = LogStore(self.store, bucket_seconds=settings.log_bucket_seconds)
        self._topics = settings.topics()
        self._decoders: dict[str, tuple[str, Decoder]] = {
            topic: (signal, DECODERS[(signal, encoding)]) for topic, (signal, encoding) in self._topics.items()
        }
        self._stop = threading.Event()
        self._consumer: KafkaConsumer | None = None
        self._dead_letters = DeadLetterPublisher(settings)
        self._pending: dict[TopicPartition, int] = {}
        self._last_retention = 0.0
        self._commit_failures = 0

    # ------------------------------------------------------------- control
    def request_stop(self) -> None:
        """Ask :meth:`run` to return after the current batch (thread- and signal-safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def run(
        self,
        *,
        max_seconds: float | None = None,
        until: Callable[[IngestStats], bool] | None = None,
    ) -> IngestStats:
        """Consume until :meth:`request_stop`, ``max_seconds`` elapse, or ``until(stats)`` is true.

        Returns
        -------
        IngestStats
            The final totals.
        """
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            consumer = self._connect()
            if consumer is None:
                return self.stats
            self.stats.state = "running"
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._step(consumer)
                if until is not None and until(self.stats):
                    break
        finally:
            self._close()
        return self.stats

    # ------------------------------------------------------------ plumbing
    def _connect(self) -> KafkaConsumer | None:
        s = self.settings
        config: dict[str, Any] = {
            "bootstrap_servers": s.bootstrap.split(","),
            "group_id": s.group_id,
            "client_id": f"{s.client_id}-{os.getpid()}",
            "enable_auto_commit": False,
            "auto_offset_reset": s.auto_offset_reset,
            "max_poll_records": s.max_batch_records,
            "max_partition_fetch_bytes": 8 * 1024 * 1024,
            "fetch_max_bytes": 64 * 1024 * 1024,
            "session_timeout_ms": s.session_timeout_ms,
            "heartbeat_interval_ms": max(1000, s.session_timeout_ms // 4),
            "reconnect_backoff_max_ms": 2000,
            "bootstrap_timeout_ms": 10_000,
            **dict(s.extra_consumer_config),
        }

        def connect() -> KafkaConsumer:
            consumer = KafkaConsumer(**config)
            consumer.subscribe(list(self._topics))
            return consumer

        try:
            self._consumer = self._retrying("connect", connect, KafkaError, f"cannot reach Kafka at {s.bootstrap}")
        except Stopped:
            return None
        log.info("subscribed to %s as group %r on %s", ", ".join(self._topics), s.group_id, s.bootstrap)
        return self._consumer

    def _retrying(
        self,
        operation: str,
        call: Callable[[], Any],
        errors: type[BaseException] | tuple[type[BaseException], ...],
        what: str,
        unless: tuple[type[BaseException], ...] = (),
    ) -> Any:
        """:func:`~rca.ingest.retry.retry` with this worker's stop event, counting and logging each failure."""
        return retry(
            call,
            errors=errors,
            stop=self._stop,
            on_error=lambda exc: self._count_retry(operation, f"{what} ({exc!r}); retrying"),
            unless=unless,
        )

    def _count_retry(self, operation: str, message: str) -> None:
        metrics.RETRIES.labels(operation).inc()
        self.stats.retries += 1
        self.stats.state = f"retrying {operation}"
        log.warning(message)

    def _close(self) -> None:
        self.stats.state = "stopped"
        self._write_stats()
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False, timeout_ms=5000)
            except Exception as exc:  # noqa: BLE001 - closing must not mask the real outcome
                log.warning("closing the consumer: %r", exc)
            self._consumer = None
        try:
            self._dead_letters.close()
        except Exception as exc:  # noqa: BLE001
            log.warning("closing the dead-letter producer: %r", exc)
        if self._owns_store:
            self.store.close()

    def _write_stats(self) -> None:
        if self.stats_path is not None:
            self.stats.save(self.stats_path)

    # ----------------------------------------------------------- one batch
    def _step(self, consumer: KafkaConsumer) -> None:
        self.stats.polls += 1
        try:
            batch = consumer.poll(timeout_ms=self.settings.poll_timeout_ms, max_records=self.settings.max_batch_records)
        except KafkaError as exc:
            self._count_retry("poll", f"poll failed ({exc!r}); retrying")
            self._stop.wait(1.0)
            return
        assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in consumer.assignment())
        if assigned != self.stats.assigned:
            self.stats.assigned = assigned
            log.info("assigned partitions: %s", ", ".join(assigned) or "none")
            self._write_stats()
        if not batch:
            if self._pending:
                self._commit(consumer)
            self._maybe_retention()
            return
        messages: list[_Message] = []
        dead: list[DeadLetter] = []
        per_topic: dict[str, int] = {}
        for tp, records in batch.items():
            signal, decoder = self._decoders[tp.topic]
            for record in records:
                self._pending[tp] = record.offset + 1
                key = f"{tp.topic}:{tp.partition}"
                self.stats.partitions[key] = self.stats.partitions.get(key, 0) + 1
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + 1
                try:
                    rows = decode(decoder, record.value, self.settings.max_message_bytes)
                except DecodeError as exc:
                    dead.append(DeadLetter(record, exc.reason, str(exc)))
                    continue
                if signal == "spans":
                    messages.append(_Message(record, [], rows))
                elif signal in ("logs", "logs_jsonl"):
                    messages.append(_Message(record, [], [], rows))
                else:
                    messages.append(_Message(record, rows, []))
        for topic, count in per_topic.items():
            metrics.MESSAGES.labels(topic).inc(count)
        self.stats.messages += sum(per_topic.values())
        if not self._store_batch(messages, dead):
            return
        if dead and not self._dead_letter(dead):
            return
        self.stats.batches += 1
        self._commit(consumer)
        self._maybe_retention()

    def _store_batch(self, messages: list[_Message], dead: list[DeadLetter]) -> bool:
        """Write the batch durably (retrying transient failures); False when stopped first."""
        if not any(m.points or m.spans or m.logs for m in messages):
            return True
        try:
            self._retrying("store", lambda: self._write(messages), sa.exc.SQLAlchemyError,
                           "store write failed", _REJECTED)  # fmt: skip
        except _REJECTED as exc:
            log.warning("the store rejected a batch (%s); writing its messages one by one", exc.orig)
            return self._store_one_by_one(messages, dead)
        except Stopped:
            return False
        return True

    def _store_one_by_one(self, messages: list[_Message], dead: list[DeadLetter]) -> bool:
        for message in messages:
            try:
                self._retrying("store", functools.partial(self._write, [message]),
                               sa.exc.SQLAlchemyError, "store write failed", _REJECTED)  # fmt: skip
            except _REJECTED as exc:
                dead.append(DeadLetter(message.record, "store_rejected", f"the store rejected the message: {exc.orig}"))
                continue
            except Stopped:
                return False
        return True

    def _write(self, messages: list[_Message]) -> None:
        """Points and spans in one transaction, then log records in another (each one idempotent)."""
        points = [p for m in messages for p in m.points]
        spans = [s for m in messages for s in m.spans]
        if points or spans:
            self.store.write(points, spans)
        logs = [LogMessage(m.record.topic, m.record.partition, m.record.offset, m.logs) for m in messages if m.logs]
        if logs:
            result = self.logs.write(logs)
            for topic, count in result.by_topic.items():
                metrics.LOG_RECORDS.labels(topic).inc(count)
            self.stats.logs += result.records
            self.stats.log_duplicates += result.duplicates
        self._count(messages)

    def _count(self, messages: list[_Message]) -> None:
        for m in messages:
            topic = m.record.topic
            if m.points:
                metrics.POINTS.labels(topic).inc(len(m.points))
                self.stats.points += len(m.points)
            if m.spans:
                metrics.SPANS.labels(topic).inc(len(m.spans))
                self.stats.spans += len(m.spans)

    def _dead_letter(self, dead: list[DeadLetter]) -> bool:
        """Publish the dead letters and wait for the acks (retrying); False when stopped first."""
        try:
            self._retrying("dead_letter", lambda: self._dead_letters.publish(dead), KafkaError,
                           f"publishing {len(dead)} dead letter(s) failed")  # fmt: skip
        except Stopped:
            return False
        for letter in dead:
            record = letter.record
            metrics.DEAD_LETTERS.labels(record.topic, letter.reason).inc()
            log.warning(
                "dead letter %s:%d@%d -> %s (%s): %s",
                record.topic,
                record.partition,
                record.offset,
                self.settings.dlq_topic,
                letter.reason,
                letter.error,
            )
        self.stats.dead_letters += len(dead)
        return True

    def _commit(self, consumer: KafkaConsumer) -> None:
        """Commit the offsets of everything stored so far, for the partitions this worker still owns.

        One attempt: when it fails (a rebalance in progress, the coordinator unreachable, a timeout),
        the offsets stay pending and the next loop iteration polls (which lets the client rejoin the
        group and reconnect) and commits them again. The data is already durable, so a crash before
        the commit only means the messages are delivered again and stored idempotently.
        """
        assigned = consumer.assignment()
        for tp in [tp for tp in self._pending if tp not in assigned]:
            del self._pending[tp]  # revoked: its new owner resumes from the last committed offset
        if not self._pending:
            return
        offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in self._pending.items()}
        try:
            consumer.commit(offsets, timeout_ms=10_000)
        except KafkaError as exc:
            self._commit_failures += 1
            metrics.RETRIES.labels("commit").inc()
            self.stats.retries += 1
            self.stats.state = "retrying commit"
            if self._commit_failures in (1, 2, 5) or self._commit_failures % 20 == 0:
                log.warning(
                    "offset commit failed (%r, %d in a row); polling and retrying, the stored messages stay safe",
                    exc,
                    self._commit_failures,
                )
            if not isinstance(exc, CommitFailedError | RebalanceInProgressError):
                self._stop.wait(backoff_delay(self._commit_failures + 1))
            return
        self._commit_failures = 0
        for tp, meta in offsets.items():
            if self._pending.get(tp) == meta.offset:
                del self._pending[tp]
        metrics.COMMITS.inc()
        self.stats.commits += 1
        self.stats.last_commit_at = time.time()
        self.stats.state = "running"
        self._write_stats()
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _maybe_retention(self) -> None:
        seconds = self.settings.retention_seconds
        if seconds <= 0 or time.monotonic() - self._last_retention < self.settings.retention_interval_seconds:
            return
        self._last_retention = time.monotonic()
        try:
            deleted = self.store.apply_retention(seconds)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("retention failed (%r); will try again later", exc)
            return
        if any(deleted.values()):
            log.info("retention removed %s", ", ".join(f"{n} {what}" for what, n in deleted.items()))
