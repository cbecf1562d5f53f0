"""Prometheus counters of the ingestion workers (``rca_`` prefix, default registry)."""

from __future__ import annotations

from prometheus_client import Counter

MESSAGES = Counter("rca_ingest_messages_total", "Kafka messages consumed.", ["topic"])
POINTS = Counter("rca_ingest_points_total", "Metric points written to the store.", ["topic"])
SPANS = Counter("rca_ingest_spans_total", "Spans written to the store.", ["topic"])
LOG_RECORDS = Counter(
    "rca_ingest_log_records_total",
    "Log records counted in the store (a message delivered again is skipped).",
    ["topic"],
)
DEAD_LETTERS = Counter(
    "rca_ingest_dead_letters_total", "Malformed messages sent to the dead-letter topic.", ["topic", "reason"]
)
RETRIES = Counter("rca_ingest_retries_total", "Retries after a failure of the broker or the store.", ["operation"])
COMMITS = Counter("rca_ingest_commits_total", "Offset commits after a durable store write.")
