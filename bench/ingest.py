"""Ingestion throughput: Kafka -> decode -> store, per encoding, in one process, with a profile.

Starts its own broker (``ingest/kafka.sh`` on free ports, through ``tests/kafka_broker.py``) unless
``--bootstrap`` is given, pre-fills one topic per encoding, then times one :class:`IngestWorker`
consuming it into a fresh SQLite store (WAL, synchronous=FULL). A second, profiled run (cProfile)
splits the time into poll (fetch + Kafka client), decode, store write and offset commit.

Reproduce (about 5 minutes on 2 cores)::

    .venv/bin/python bench/ingest.py                      # writes bench/results/ingest.{md,json}
    .venv/bin/python bench/ingest.py --points 200000 --spans 100000   # quicker

Targets: >= 100,000 metric points/s and >= 30,000 spans/s in one process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_run import ROOT, Stage, bench_settings, consume, fill, kafka, setup_line, share_text, shares, write_report

from rca.ingest.encode import encode_metrics, encode_spans
from rca.ingest.metrics import IngestStats
from rca.store import Store

T0 = 1_700_000_000
SERVICES = 40
METRICS_PER_SERVICE = 25  # 1,000 points per message (one scrape of 1,000 series)
SPANS_PER_MESSAGE = 512


def metric_payloads(points: int, encoding: str) -> list[bytes]:
    per_message = SERVICES * METRICS_PER_SERVICE
    out = []
    for i in range(points // per_message):
        ns = (T0 + i) * 10**9
        groups = {
            f"svc{s}": [(f"metric{m}", ns, float(i + s * m)) for m in range(METRICS_PER_SERVICE)]
            for s in range(SERVICES)
        }
        out.append(encode_metrics(groups, encoding))
    return out


def span_payloads(spans: int, encoding: str) -> list[bytes]:
    out = []
    n = 0
    for i in range(spans // SPANS_PER_MESSAGE):
        rows = []
        for j in range(SPANS_PER_MESSAGE // 4):  # traces of 4 spans: gateway -> a -> b -> c
            trace = f"{i:016x}{j:016x}"
            start = (T0 + n // 1000) * 10**9 + j * 1000
            parent = ""
            for depth, service in enumerate(("gateway", f"svc{j % 10}", f"svc{(j + 1) % 10}", "db")):
                span_id = f"{i:08x}{j * 4 + depth:08x}"
                rows.append(
                    {
                        "trace_id": trace, "span_id": span_id, "parent_span_id": parent, "service": service,
                        "operation": f"op{depth}", "start_ns": start + depth * 10, "end_ns": start + 10**6 - depth,
                        "status_code": 0,
                    }
                )  # fmt: skip
                parent = span_id
                n += 1
        out.append(encode_spans(rows, encoding))
    return out


STAGES: list[Stage] = [
    ("poll", "consumer/group.py", "poll (fetch, Kafka client)"),
    ("decode_*", "ingest/otlp.py", "decode"),
    ("write", "store/store.py", "store write (SQLite, fsync)"),
    ("commit", "consumer/group.py", "offset commit"),
    ("_connect", "ingest/consumer.py", "connect + group join"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--points", type=int, default=500_000, help="metric points per encoding")
    parser.add_argument("--spans", type=int, default=200_000, help="spans per encoding")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="output directory")
    args = parser.parse_args()

    runs = []
    with kafka(args.bootstrap) as bootstrap:
        # check_crcs=False rows: what a C CRC32C (the `crc32c` package, which kafka-python uses when
        # installed) would save; kafka-python's pure-Python CRC32C is otherwise a large part of poll.
        cases = [("points", e, True) for e in ("otlp_proto", "otlp_json", "jsonl")]
        cases += [("spans", e, True) for e in ("otlp_proto", "otlp_json")]
        cases += [("points", "otlp_proto", False), ("spans", "otlp_proto", False)]
        for kind, encoding, crc in cases:
            settings = bench_settings(
                bootstrap,
                metrics_encoding=encoding if encoding != "jsonl" else "otlp_proto",
                spans_encoding=encoding if kind == "spans" else "otlp_proto",
                max_batch_records=50 if kind == "points" else 100,
                extra_consumer_config={"check_crcs": crc},
            )
            t = time.perf_counter()
            if kind == "points":
                payloads = metric_payloads(args.points, encoding)
                topic = settings.jsonl_topic if encoding == "jsonl" else settings.metrics_topic
                target = len(payloads) * SERVICES * METRICS_PER_SERVICE
            else:
                payloads = span_payloads(args.spans, encoding)
                topic = settings.spans_topic
                target = len(payloads) * SPANS_PER_MESSAGE
            fill(bootstrap, topic, payloads)
            prepare = time.perf_counter() - t

            def done(stats: IngestStats, kind: str = kind, target: int = target) -> bool:
                return int(stats.points if kind == "points" else stats.spans) >= target

            def stored(store: Store, kind: str = kind) -> int:
                return int(store.counts()[kind])

            timed = consume(settings, done, stored, target)
            profiled = consume(settings, done, stored, target, STAGES, profile=True)
            run = {
                "kind": kind,
                "encoding": encoding,
                "check_crcs": crc,
                "items": target,
                "messages": len(payloads),
                "mbytes": round(sum(map(len, payloads)) / 1e6, 1),
                "seconds": round(timed.seconds, 2),
                "per_second": round(target / timed.seconds),
                "cpu_seconds": round(timed.cpu_seconds, 2),
                "profile_shares": shares(profiled.stages or {}, profiled.seconds),
                "prepare_seconds": round(prepare, 1),
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
    lines = [
        "# Ingestion throughput (Kafka -> decode -> store, one process)",
        "",
        setup_line(),
        "Command: `.venv/bin/python bench/ingest.py` (see its docstring). Wall time includes joining the group.",
        "",
        "| signal | encoding | CRC check | items | messages | MB | seconds | items/s | target "
        "| time shares (profiled run) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in runs:
        goal = 100_000 if r["kind"] == "points" else 30_000
        lines.append(
            f"| {r['kind']} | {r['encoding']} | {'on' if r['check_crcs'] else 'off'} | {r['items']:,} | "
            f"{r['messages']:,} | {r['mbytes']} | {r['seconds']} | "
            f"{r['per_second']:,} | {'met' if r['per_second'] >= goal else 'short'} (>= {goal:,}/s) | {share_text(r)} |"
        )
    write_report(args.out, "ingest", "ingest", "## Ingestion throughput", lines, runs=runs)


if __name__ == "__main__":
    main()
