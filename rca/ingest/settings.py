"""Settings for streaming ingestion: broker, topics and their encodings, batching, the store.

Every field comes from the one settings object, :class:`rca.settings.Settings` (see
:meth:`IngestSettings.from_settings`);
command-line options override them. Topic defaults are the OpenTelemetry Collector's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from rca.settings import Settings

OTLP_ENCODINGS = ("otlp_proto", "otlp_json")
"""Encodings of the OTLP topics (the Collector's Kafka exporter names)."""

REPLAY_ENCODINGS = ("otlp_proto", "otlp_json", "jsonl")
"""Encodings ``rca replay`` can publish; ``jsonl`` means the ``rca_metrics`` and ``rca_logs`` JSON-lines topics."""

Signal = Literal["metrics", "spans", "jsonl", "logs", "logs_jsonl"]


class SettingsError(ValueError):
    """A setting has a value that cannot work; the message names it and the fix."""


@dataclass(frozen=True)
class IngestSettings:
    """Where to read telemetry from and how it is encoded.

    Attributes
    ----------
    bootstrap
        Kafka bootstrap servers, ``host:port[,host:port]`` (``RCA_KAFKA_BOOTSTRAP``).
    group_id
        Consumer group; workers in one group split the partitions (``RCA_CONSUMER_GROUP``).
    metrics_topic, metrics_encoding
        OTLP metrics topic and its encoding (``RCA_METRICS_TOPIC``, ``RCA_METRICS_ENCODING``).
    spans_topic, spans_encoding
        OTLP traces topic and its encoding (``RCA_SPANS_TOPIC``, ``RCA_SPANS_ENCODING``).
    jsonl_topic
        Topic of ``{"ts", "service", "metric", "value"}`` JSON lines (``RCA_JSONL_TOPIC``); empty
        disables it.
    logs_topic, logs_encoding
        OTLP logs topic and its encoding (``RCA_LOGS_TOPIC``, ``RCA_LOGS_ENCODING``); an empty topic
        disables it.
    logs_jsonl_topic
        Topic of ``{"ts", "service", "level", "message", "trace_id", "span_id"}`` JSON lines
        (``RCA_LOGS_JSONL_TOPIC``); empty disables it.
    log_bucket_seconds
        Width of the time buckets log records are counted in (``RCA_LOG_BUCKET_SECONDS``).
    dlq_topic
        Dead-letter topic for malformed messages (``RCA_DLQ_TOPIC``).
    auto_offset_reset
        Where a new group starts: ``earliest`` (default: nothing published before the first start
        is lost) or ``latest`` (``RCA_KAFKA_OFFSET_RESET``).
    max_batch_records
        Messages per batch: one store transaction and one offset commit per batch.
    poll_timeout_ms
        How long one poll waits for messages.
    max_message_bytes
        Larger messages go to the dead-letter topic.
    dlq_max_value_bytes
        A dead letter keeps at most this much of the original value (the rest is cut, header
        ``rca.dlq.truncated`` says so).
    session_timeout_ms
        Consumer group session timeout: how soon a crashed worker's partitions move to the others.
    retention_seconds
        Data older than this before the newest stored data is purged (``RCA_RETENTION_HOURS``, in
        hours there); 0 keeps everything.
    retention_interval_seconds
        How often a worker applies retention.
    span_step_seconds
        Bucket width for trace-derived series on read (``RCA_SPAN_BUCKET_SECONDS``).
    store_url
        Database URL; empty means SQLite at ``<data_dir>/rca.sqlite`` (``RCA_STORE_URL``).
    data_dir
        Data directory (``RCA_DATA_DIR``, default the working directory).
    client_id
        Kafka client id prefix.
    """

    bootstrap: str = "127.0.0.1:9092"
    group_id: str = "rca-ingest"
    metrics_topic: str = "otlp_metrics"
    metrics_encoding: str = "otlp_proto"
    spans_topic: str = "otlp_spans"
    spans_encoding: str = "otlp_proto"
    jsonl_topic: str = "rca_metrics"
    logs_topic: str = "otlp_logs"
    logs_encoding: str = "otlp_proto"
    logs_jsonl_topic: str = "rca_logs"
    log_bucket_seconds: float = 60.0
    dlq_topic: str = "rca_dlq"
    auto_offset_reset: str = "earliest"
    max_batch_records: int = 500
    poll_timeout_ms: int = 500
    max_message_bytes: int = 4 * 1024 * 1024
    dlq_max_value_bytes: int = 256 * 1024
    session_timeout_ms: int = 10_000
    retention_seconds: float = 72 * 3600.0
    retention_interval_seconds: float = 600.0
    span_step_seconds: float = 60.0
    store_url: str = ""
    data_dir: str = "."
    client_id: str = "rca-ingest"
    extra_consumer_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        encodings = (
            ("metrics_encoding", self.metrics_encoding),
            ("spans_encoding", self.spans_encoding),
            ("logs_encoding", self.logs_encoding),
        )
        for name, value in encodings:
            if value not in OTLP_ENCODINGS:
                raise SettingsError(f"{name} is {value!r}; choose one of {', '.join(OTLP_ENCODINGS)}")
        if self.auto_offset_reset not in ("earliest", "latest"):
            raise SettingsError(f"auto_offset_reset is {self.auto_offset_reset!r}; choose earliest or latest")
        if not self.bootstrap.strip():
            raise SettingsError("bootstrap is empty; give the Kafka broker as HOST:PORT (RCA_KAFKA_BOOTSTRAP)")
        named = {
            "metrics": self.metrics_topic,
            "spans": self.spans_topic,
            "jsonl": self.jsonl_topic,
            "logs": self.logs_topic,
            "logs_jsonl": self.logs_jsonl_topic,
        }
        topics = [t for t in named.values() if t]
        if len(set(topics)) != len(topics):
            raise SettingsError("topics must differ, got " + ", ".join(f"{k}={v!r}" for k, v in named.items() if v))
        if self.dlq_topic in topics or not self.dlq_topic:
            raise SettingsError(f"dlq_topic {self.dlq_topic!r} must be set and differ from the input topics")
        for name in ("max_batch_records", "poll_timeout_ms", "max_message_bytes", "dlq_max_value_bytes"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("span_step_seconds", "log_bucket_seconds"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")

    def topics(self) -> dict[str, tuple[Signal, str]]:
        """``topic -> (signal, encoding)`` for every enabled input topic."""
        out: dict[str, tuple[Signal, str]] = {}
        if self.metrics_topic:
            out[self.metrics_topic] = ("metrics", self.metrics_encoding)
        if self.spans_topic:
            out[self.spans_topic] = ("spans", self.spans_encoding)
        if self.jsonl_topic:
            out[self.jsonl_topic] = ("jsonl", "jsonl")
        if self.logs_topic:
            out[self.logs_topic] = ("logs", self.logs_encoding)
        if self.logs_jsonl_topic:
            out[self.logs_jsonl_topic] = ("logs_jsonl", "jsonl")
        return out

    def with_overrides(self, **overrides: Any) -> IngestSettings:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> IngestSettings:
        """The ingestion part of the one settings object (``RCA_*``), then ``overrides`` (``None`` ignored)."""
        settings = settings or Settings()
        values: dict[str, Any] = {
            "bootstrap": settings.kafka_bootstrap,
            "group_id": settings.consumer_group,
            "metrics_topic": settings.metrics_topic,
            "metrics_encoding": settings.metrics_encoding,
            "spans_topic": settings.spans_topic,
            "spans_encoding": settings.spans_encoding,
            "jsonl_topic": settings.jsonl_topic,
            "logs_topic": settings.logs_topic,
            "logs_encoding": settings.logs_encoding,
            "logs_jsonl_topic": settings.logs_jsonl_topic,
            "log_bucket_seconds": settings.log_bucket_seconds,
            "dlq_topic": settings.dlq_topic,
            "auto_offset_reset": settings.kafka_offset_reset,
            "max_batch_records": settings.ingest_batch,
            "retention_seconds": settings.retention_hours * 3600.0,
            "span_step_seconds": settings.span_bucket_seconds,
            "store_url": settings.store_url or "",
            "data_dir": str(settings.data_dir),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
