"""The decoder of each ``(signal, encoding)``: the one table the consumer dispatches on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rca.ingest.jsonl import decode_jsonl
from rca.ingest.otlp import decode_metrics_proto, decode_spans_proto
from rca.ingest.otlp_json import decode_metrics_json, decode_spans_json
from rca.ingest.otlp_logs import decode_logs_json, decode_logs_jsonl, decode_logs_proto
from rca.ingest.records import DecodeError

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
"""``(signal, encoding) -> decoder``; metric decoders return :data:`~rca.ingest.records.MetricPoint` s,
span decoders :data:`~rca.ingest.records.SpanRecord` s, log decoders :data:`~rca.ingest.records.LogLine` s."""


def decode(decoder: Decoder, value: bytes | None, max_bytes: int) -> list[Any]:
    """One message value through ``decoder``; every failure is a :class:`DecodeError`.

    ``empty`` without a value, ``too_large`` over ``max_bytes``, and ``error`` when the decoder itself
    fails in a way it did not foresee (one bad message must never stop a worker).
    """
    if not value:
        raise DecodeError("empty", "message without a value")
    if len(value) > max_bytes:
        raise DecodeError("too_large", f"message of {len(value)} bytes exceeds max_message_bytes={max_bytes}")
    try:
        return decoder(value)
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DecodeError("error", f"decoder failed: {exc!r}") from None
