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
import cProfile
import json
import os
import platform
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from kafka import KafkaProducer  # noqa: E402
from report import commit, replace_block  # noqa: E402

from rca.ingest.consumer import IngestWorker  # noqa: E402
from rca.ingest.encode import encode_metrics, encode_spans  # noqa: E402
from rca.settings import IngestSettings  # noqa: E402
from rca.store import Store  # noqa: E402

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


def fill(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, max_request_size=1024 * 1024
    )
    for value in payloads:
        producer.send(topic, value=value)
    producer.flush(300)
    producer.close(30)


def consume(settings: IngestSettings, target: int, kind: str, profile: bool) -> tuple[float, dict[str, float] | None]:
    with tempfile.TemporaryDirectory(prefix="rca-bench-") as tmp:
        store = Store(data_dir=tmp)
        worker = IngestWorker(settings.with_overrides(group_id=f"bench-{uuid.uuid4().hex[:8]}"), store)

        def done(stats: Any) -> bool:
            return int(stats.points if kind == "points" else stats.spans) >= target

        profiler = cProfile.Profile() if profile else None
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        worker.run(until=done, max_seconds=900)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - start
        got = store.counts()["points" if kind == "points" else "spans"]
        store.close()
        if got < target:
            raise SystemExit(f"only {got} of {target} {kind} were stored")
    return seconds, None if profiler is None else breakdown(profiler, seconds)


def breakdown(profiler: cProfile.Profile, seconds: float) -> dict[str, float]:
    """Cumulative seconds of the stages of a profiled run (shares of the wall time)."""
    stats = pstats.Stats(profiler)
    cumulative: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        key = None
        if name == "poll" and filename.endswith("consumer/group.py"):
            key = "poll (fetch, Kafka client)"
        elif name.startswith("decode_") and filename.endswith("ingest/otlp.py"):
            key = "decode"
        elif name == "write" and filename.endswith("store/store.py"):
            key = "store write (SQLite, fsync)"
        elif name == "commit" and filename.endswith("consumer/group.py"):
            key = "offset commit"
        elif name == "_connect" and filename.endswith("ingest/consumer.py"):
            key = "connect + group join"
        if key is not None:
            cumulative[key] = cumulative.get(key, 0.0) + ct
    total = sum(cumulative.values())
    cumulative["other (batch assembly, loop)"] = max(0.0, seconds - total)
    return {k: round(v / seconds, 3) for k, v in cumulative.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--points", type=int, default=500_000, help="metric points per encoding")
    parser.add_argument("--spans", type=int, default=200_000, help="spans per encoding")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="output directory")
    args = parser.parse_args()

    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        from kafka_broker import KafkaBroker

        broker = KafkaBroker()
        bootstrap = broker.start()
    runs = []
    try:
        # check_crcs=False rows: what a C CRC32C (the `crc32c` package, which kafka-python uses when
        # installed) would save; kafka-python's pure-Python CRC32C is otherwise a large part of poll.
        cases = [("points", e, True) for e in ("otlp_proto", "otlp_json", "jsonl")]
        cases += [("spans", e, True) for e in ("otlp_proto", "otlp_json")]
        cases += [("points", "otlp_proto", False), ("spans", "otlp_proto", False)]
        for kind, encoding, crc in cases:
            tag = uuid.uuid4().hex[:6]
            settings = IngestSettings(
                bootstrap=bootstrap,
                metrics_topic=f"bench-m-{tag}",
                spans_topic=f"bench-s-{tag}",
                jsonl_topic=f"bench-j-{tag}",
                dlq_topic=f"bench-d-{tag}",
                metrics_encoding=encoding if encoding != "jsonl" else "otlp_proto",
                spans_encoding=encoding if kind == "spans" else "otlp_proto",
                max_batch_records=50 if kind == "points" else 100,
                poll_timeout_ms=100,
                retention_seconds=0,
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
            seconds, _ = consume(settings, target, kind, profile=False)
            _, shares = consume(settings, target, kind, profile=True)
            run = {
                "kind": kind,
                "encoding": encoding,
                "check_crcs": crc,
                "items": target,
                "messages": len(payloads),
                "mbytes": round(sum(map(len, payloads)) / 1e6, 1),
                "seconds": round(seconds, 2),
                "per_second": round(target / seconds),
                "profile_shares": shares,
                "prepare_seconds": round(prepare, 1),
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
    finally:
        if broker is not None:
            broker.close()
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "broker": "Apache Kafka 4.4.0 (ingest/kafka.sh), single node, 127.0.0.1",
        "store": "SQLite WAL, synchronous=FULL, fresh file per run",
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "# Ingestion throughput (Kafka -> decode -> store, one process)",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}. {report['broker']}; {report['store']}.",
        "Command: `.venv/bin/python bench/ingest.py` (see its docstring). Wall time includes joining the group.",
        "",
        "| signal | encoding | CRC check | items | messages | MB | seconds | items/s | target "
        "| time shares (profiled run) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in runs:
        goal = 100_000 if r["kind"] == "points" else 30_000
        shares = ", ".join(f"{k} {v:.0%}" for k, v in (r["profile_shares"] or {}).items())
        lines.append(
            f"| {r['kind']} | {r['encoding']} | {'on' if r['check_crcs'] else 'off'} | {r['items']:,} | "
            f"{r['messages']:,} | {r['mbytes']} | {r['seconds']} | "
            f"{r['per_second']:,} | {'met' if r['per_second'] >= goal else 'short'} (>= {goal:,}/s) | {shares} |"
        )
    (args.out / "ingest.md").write_text("\n".join(lines) + "\n")
    replace_block("ingest", "\n".join(["## Ingestion throughput", *lines[1:]]) + f"\n\nCommit {commit()}.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
