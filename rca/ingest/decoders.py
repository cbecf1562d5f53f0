"""The decoder of each ``(signal, encoding)``: the one table the consumer dispatches on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rca.ingest.jsonl import decode_jsonl
from rca.ingest.otlp import decode_metrics_proto, decode_spans_proto
from rca.ingest.otlp_json import decode_metrics_json, decode_spans_json
from rca.ingest.otlp_logs import decode_logs_json, decode_logs_jsonl, decode_logs_proto

Decoder = Callable[[bytes], list[Any]]

DECODERS: dict[tuple[str, str], Decoder] = {
    ("metrics", "otlp_proto"): decode_metrics_proto,
    ("metrics", "otlp_json"): decode_metrics_json,
    ("spans", "otlp_proto"): decode_spans_proto,
    ("spans", "otlp_json"): decode_spans_json,
    ("jsonl", "jsonl"): decode_jsonl,
    ("logs", "otlp_proto"): decode_logs_proto,
    ("logs", "otlp_json"): decode_logs_json,
    ("logs_jsonl", "jsonl"): decode_logs_jsonl,
}
"""``(signal, encoding) -> decoder``; metric decoders return :class:`~rca.ingest.records.MetricPoint` s,
span decoders :class:`~rca.ingest.records.SpanRecord` s, log decoders :class:`~rca.store.logs.LogRecord` s."""
