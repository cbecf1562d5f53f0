"""What an ingestion worker counts: Prometheus counters (``rca_`` prefix, default registry) and its own totals."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

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


@dataclass
class IngestStats:
    """Running totals of one worker (also written as JSON to ``stats_path`` after each commit)."""

    worker: str = ""
    polls: int = 0
    """Polls made, answered or not: it keeps growing while the worker is alive, also when the broker is down."""
    messages: int = 0
    points: int = 0
    spans: int = 0
    logs: int = 0
    log_duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    commits: int = 0
    retries: int = 0
    assigned: list[str] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    last_commit_at: float | None = None
    state: str = "starting"

    def save(self, path: Path) -> None:
        """Write the totals as JSON to ``path`` atomically (a reader never sees half a file)."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)
