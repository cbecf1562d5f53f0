"""OTLP/JSON decoding: the hand-written walker against protobuf's ``json_format`` into the same messages.

The question behind :mod:`rca.ingest.otlp_json`: could JSON be parsed with ``json_format.ParseDict`` into
``MetricsData`` / ``TracesData`` and share the protobuf walker, leaving one walker? Decode only (no
Kafka, no store), the same messages as ``bench/ingest.py`` (1,000 gauge points or 512 spans each), median
of repeated timings on a noisy shared machine.

Reproduce (about a minute)::

    .venv/bin/python bench/otlp_json.py          # writes the otlp-json block of docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from google.protobuf import json_format  # noqa: E402
from opentelemetry.proto.metrics.v1.metrics_pb2 import MetricsData  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData  # noqa: E402
from report import commit, machine, replace_block  # noqa: E402

from rca.ingest.encode import encode_metrics, encode_spans  # noqa: E402
from rca.ingest.otlp import decode_metrics_proto, decode_spans_proto  # noqa: E402
from rca.ingest.otlp_json import decode_metrics_json, decode_spans_json  # noqa: E402

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _base64_ids(doc: dict) -> dict:
    """OTLP/JSON ids are hex; protobuf's JSON mapping wants base64 (what a ParseDict path must add)."""
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in _ID_KEYS:
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return doc


def via_parse_dict(value: bytes, message: type, walker: Callable[[bytes], list]) -> list:
    """json.loads, ids to base64, ParseDict, then the protobuf walker (on the re-serialised message)."""
    parsed = message()
    json_format.ParseDict(_base64_ids(json.loads(value)), parsed, ignore_unknown_fields=True)
    return walker(parsed.SerializeToString())


def timed(call: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--no-docs", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = parser.parse_args()
    groups = {
        f"svc{s}": [(f"metric{m}", (1_700_000_000 + 1) * 10**9, float(s * m)) for m in range(25)] for s in range(40)
    }
    metrics = encode_metrics(groups, "otlp_json")
    spans = encode_spans(
        [
            {"trace_id": f"{t:032x}", "span_id": f"{t * 512 + k + 1:016x}", "parent_span_id": "",
             "service": f"svc{k % 40}", "operation": "op", "start_ns": 1_700_000_000 * 10**9 + k,
             "end_ns": 1_700_000_000 * 10**9 + k + 1000, "status_code": 0}
            for t in range(1) for k in range(512)
        ],
        "otlp_json",
    )  # fmt: skip
    assert decode_metrics_json(metrics) == via_parse_dict(metrics, MetricsData, decode_metrics_proto)
    assert decode_spans_json(spans) == via_parse_dict(spans, TracesData, decode_spans_proto)
    rows = []
    for signal, value, items, walker, message, proto in (
        ("points", metrics, 1000, decode_metrics_json, MetricsData, decode_metrics_proto),
        ("spans", spans, 512, decode_spans_json, TracesData, decode_spans_proto),
    ):
        hand = timed(lambda v=value, w=walker: w(v), args.repeats)
        parse = timed(lambda v=value, m=message, p=proto: via_parse_dict(v, m, p), args.repeats)
        rows.append(
            f"| {signal} | {items} | {hand * 1000:.1f} | {items / hand:,.0f} | {parse * 1000:.1f} | "
            f"{items / parse:,.0f} | {parse / hand:.1f}x |"
        )
    body = "\n".join(
        [
            "## OTLP/JSON decoding: hand-written walker vs `json_format.ParseDict`",
            "",
            f"Machine: {machine()}. Command: `.venv/bin/python bench/otlp_json.py` (median of {args.repeats}).",
            "",
            "| signal | items/message | walker ms | walker items/s | ParseDict + proto walker ms | items/s | slower |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Decoding alone; ingestion also polls, writes and commits (see Ingestion throughput). Both paths",
            "give identical records here and in tests/ingest/test_otlp_encodings.py.",
            "",
            f"Commit {commit()}.",
        ]
    )
    print(body)
    if not args.no_docs:
        replace_block("otlp-json", body)


if __name__ == "__main__":
    main()
