"""Log ingestion throughput: Kafka -> decode + template -> counts in the store, one process, with a profile.

Starts its own broker (``ingest/kafka.sh`` on free ports, through ``tests/kafka_broker.py``) unless
``--bootstrap`` is given, pre-fills one topic per encoding with log lines, 512 records per message as
a Collector batch would send, then times one :class:`IngestWorker` consuming it into a fresh SQLite
store (WAL, synchronous=FULL). A second, profiled run (cProfile) splits the time into poll,
protobuf/JSON parsing, templating (:func:`rca.data.logs.parse_log_line`), the store write and the
offset commit.

Lines (``--lines``): ``train-ticket`` (default) repeats the real container lines of the first Train
Ticket case of ``../shared/data/nezha-train-ticket`` (object dumps and all, about 200 characters on
average), moved forward in time on each repetition; ``synthetic`` writes lines of the same shape
(``HH:MM:SS.mmm LEVEL logger#line TraceID: .. SpanID: .. [method][message]``, 40 services x 12
templates), shorter.

Reproduce (about 2 minutes on 2 cores)::

    .venv/bin/python bench/ingest_logs.py                   # writes bench/results/ingest_logs.{md,json}
    .venv/bin/python bench/ingest_logs.py --records 100000  # quicker

Target: >= 50,000 log records/s in one process (OTLP proto).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import signal
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

from rca.data.datasets import discover  # noqa: E402
from rca.ingest.consumer import IngestWorker  # noqa: E402
from rca.ingest.otlp_logs import encode_logs  # noqa: E402
from rca.settings import IngestSettings  # noqa: E402
from rca.store import Store  # noqa: E402
from rca.store.logs import LogStore  # noqa: E402

T0 = 1_700_000_000
SERVICES = 40
TEMPLATES = 12
PER_MESSAGE = 512
RATE = 2000  # records per second of log time
TARGET = 50_000


def log_rows(records: int, seed: int = 0) -> list[dict[str, Any]]:
    """Synthetic log lines in Train Ticket's shape (logger#line, ids, numbers, some ERROR)."""
    rng = random.Random(seed)
    rows = []
    for i in range(records):
        s, k = rng.randrange(SERVICES), rng.randrange(TEMPLATES)
        level = "ERROR" if k == 0 else ("WARN" if k == 1 else "INFO")
        ts = T0 + i / RATE
        trace, span = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"
        clock = time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
        body = (
            f"{clock} {level:<5} c.s.Service{s}Impl#{40 + k} TraceID: {trace} SpanID: {span} "
            f"[operation{k}][handled request {rng.getrandbits(32)} for id={uuid.UUID(int=rng.getrandbits(128))} "
            f"in {rng.randrange(1, 900)} ms]"
        )
        rows.append({"time": ts, "service": f"ts-service-{s}", "level": level, "message": body,
                     "trace_id": trace, "span_id": span})  # fmt: skip
    return rows


def train_ticket_rows(records: int, dataset: Path) -> list[dict[str, Any]]:
    """The first Train Ticket case's log lines, repeated (each repetition later by the case's span)."""
    logs = discover(dataset)[0].load().telemetry.logs
    if logs is None or logs.empty:
        raise SystemExit(f"the first case of {dataset} has no logs")
    base = logs.sort_values("time").to_dict("records")
    span = float(logs["time"].max() - logs["time"].min()) + 1.0
    return [
        {**base[i % len(base)], "time": base[i % len(base)]["time"] + span * (i // len(base))} for i in range(records)
    ]


def payloads(rows: list[dict[str, Any]], encoding: str) -> list[bytes]:
    return [encode_logs(rows[i : i + PER_MESSAGE], encoding) for i in range(0, len(rows), PER_MESSAGE)]


def fill(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, max_request_size=1024 * 1024
    )
    for value in values:
        producer.send(topic, value=value)
    producer.flush(300)
    producer.close(30)


def consume(settings: IngestSettings, target: int, profile: bool) -> tuple[float, float, dict[str, float] | None]:
    """Wall seconds, CPU seconds of this process, and (profiled) stage shares of one consuming run."""
    with tempfile.TemporaryDirectory(prefix="rca-bench-logs-") as tmp:
        store = Store(data_dir=tmp)
        worker = IngestWorker(settings.with_overrides(group_id=f"bench-{uuid.uuid4().hex[:8]}"), store)
        profiler = cProfile.Profile() if profile else None
        start, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        worker.run(until=lambda stats: stats.logs >= target, max_seconds=900)
        if profiler is not None:
            profiler.disable()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        got = LogStore(store).counts()["records"]
        store.close()
        if got < target:
            raise SystemExit(f"only {got} of {target} log records were counted")
    return seconds, cpu, None if profiler is None else breakdown(profiler, seconds)


STAGES = [
    # (function name, file suffix, stage); the first match of a frame wins.
    ("poll", "consumer/group.py", "poll (fetch, Kafka client)"),
    ("parse_log_line", "data/logs.py", "templating (parse_log_line)"),
    ("ParseFromString", "", "protobuf parsing"),
    ("ParseDict", "json_format.py", "JSON parsing (json_format)"),
    ("write", "store/logs.py", "store write (SQLite, fsync)"),
    ("commit", "consumer/group.py", "offset commit"),
    ("_connect", "ingest/consumer.py", "connect + group join"),
]


def breakdown(profiler: cProfile.Profile, seconds: float) -> dict[str, float]:
    """Cumulative seconds of the stages of a profiled run, as shares of the wall time.

    Decoding is split into parsing, templating and the rest (``decode: record loop``), the decode
    functions' cumulative time minus the two.
    """
    stats = pstats.Stats(profiler)
    cumulative: dict[str, float] = {}
    decode = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name.startswith("decode_logs_") and filename.endswith("ingest/otlp_logs.py"):
            decode += ct
            continue
        for function, suffix, stage in STAGES:
            builtin = name.startswith(f"<method '{function}'")
            if builtin or (name == function and filename.endswith(suffix)):
                cumulative[stage] = cumulative.get(stage, 0.0) + ct
                break
    inside = sum(
        cumulative.get(s, 0.0)
        for s in ("templating (parse_log_line)", "protobuf parsing", "JSON parsing (json_format)")
    )
    cumulative["decode: record loop"] = max(0.0, decode - inside)
    cumulative["other (batch assembly, loop)"] = max(0.0, seconds - sum(cumulative.values()))
    return {k: round(v / seconds, 3) for k, v in cumulative.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--records", type=int, default=300_000, help="log records per encoding")
    parser.add_argument("--lines", choices=["train-ticket", "synthetic"], default="train-ticket")
    parser.add_argument("--encodings", default="otlp_proto,otlp_json,jsonl", help="comma-separated encodings")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "nezha-train-ticket")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="output directory")
    args = parser.parse_args()

    # SIGTERM unwinds like an exception, so the broker this script started is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        from kafka_broker import KafkaBroker

        broker = KafkaBroker()
        bootstrap = broker.start()
    runs = []
    rows = log_rows(args.records) if args.lines == "synthetic" else train_ticket_rows(args.records, args.dataset)
    mean_chars = sum(len(str(r["message"])) for r in rows) / len(rows)
    try:
        for encoding in args.encodings.split(","):
            tag = uuid.uuid4().hex[:6]
            settings = IngestSettings(
                bootstrap=bootstrap,
                metrics_topic=f"bench-m-{tag}",
                spans_topic=f"bench-s-{tag}",
                jsonl_topic=f"bench-j-{tag}",
                logs_topic=f"bench-l-{tag}",
                logs_jsonl_topic=f"bench-lj-{tag}",
                dlq_topic=f"bench-d-{tag}",
                logs_encoding="otlp_json" if encoding == "otlp_json" else "otlp_proto",
                max_batch_records=40,
                poll_timeout_ms=100,
                retention_seconds=0,
            )
            t = time.perf_counter()
            values = payloads(rows, encoding)
            fill(bootstrap, settings.logs_jsonl_topic if encoding == "jsonl" else settings.logs_topic, values)
            prepare = time.perf_counter() - t
            load = os.getloadavg()[0]
            seconds, cpu, _ = consume(settings, args.records, profile=False)
            _, _, shares = consume(settings, args.records, profile=True)
            run = {
                "encoding": encoding,
                "records": args.records,
                "messages": len(values),
                "mbytes": round(sum(map(len, values)) / 1e6, 1),
                "seconds": round(seconds, 2),
                "per_second": round(args.records / seconds),
                "cpu_seconds": round(cpu, 2),
                "per_cpu_second": round(args.records / cpu),
                "load_average": round(load, 1),
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
        "broker": "Apache Kafka (ingest/kafka.sh), single node, 127.0.0.1",
        "store": "SQLite WAL, synchronous=FULL, fresh file per run",
        "lines": f"{args.lines}, {mean_chars:.0f} characters on average",
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_logs.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "# Log ingestion throughput (Kafka -> decode + template -> counts, one process)",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}. {report['broker']}; {report['store']}.",
        f"Lines: {report['lines']}; {PER_MESSAGE} records per message. "
        f"Command: `.venv/bin/python bench/ingest_logs.py --records {args.records} --lines {args.lines} "
        f"--encodings {args.encodings}` "
        "(see its docstring). Wall time includes joining the group.",
        "",
        "records/s is wall time; records per CPU-second counts only this process's CPU time, the figure that "
        "holds when the process has a core to itself (the load average says how shared the machine was).",
        "",
        "| encoding | records | messages | MB | seconds | records/s | records per CPU-s | load avg "
        "| target | time shares (profiled run) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in runs:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in (r["profile_shares"] or {}).items())
        goal = (
            f"{'met' if r['per_second'] >= TARGET else 'short'} (>= {TARGET:,}/s)"
            if r["encoding"] == "otlp_proto"
            else "-"
        )
        lines.append(
            f"| {r['encoding']} | {r['records']:,} | {r['messages']:,} | {r['mbytes']} | {r['seconds']} | "
            f"{r['per_second']:,} | {r['per_cpu_second']:,} | {r['load_average']} | {goal} | {shares} |"
        )
    (args.out / "ingest_logs.md").write_text("\n".join(lines) + "\n")
    replace_block("ingest-logs", "\n".join(["## Log ingestion throughput", *lines[1:]]) + f"\n\nCommit {commit()}.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
