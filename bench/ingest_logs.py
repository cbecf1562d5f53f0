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
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_run import ROOT, Stage, bench_settings, consume, fill, kafka, setup_line, share_text, shares, write_report

from rca.data.datasets import discover
from rca.ingest.otlp_logs import encode_logs
from rca.store import Store
from rca.store.logs import LogStore

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


STAGES: list[Stage] = [
    ("poll", "consumer/group.py", "poll (fetch, Kafka client)"),
    ("parse_log_line", "data/logs.py", "templating (parse_log_line)"),
    ("ParseFromString", "", "protobuf parsing"),
    ("ParseDict", "json_format.py", "JSON parsing (json_format)"),
    ("write", "store/logs.py", "store write (SQLite, fsync)"),
    ("commit", "consumer/group.py", "offset commit"),
    ("_connect", "ingest/consumer.py", "connect + group join"),
    ("decode_logs_*", "ingest/otlp_logs.py", "decode"),
]
INSIDE_DECODE = ("templating (parse_log_line)", "protobuf parsing", "JSON parsing (json_format)")


def log_shares(stages: dict[str, float], seconds: float) -> dict[str, float]:
    """Stage shares, decoding split into parsing, templating and the rest (``decode: record loop``)."""
    stages = dict(stages)
    decode = stages.pop("decode", 0.0)
    stages["decode: record loop"] = max(0.0, decode - sum(stages.get(s, 0.0) for s in INSIDE_DECODE))
    return shares(stages, seconds)


def stored(store: Store) -> int:
    return int(LogStore(store).counts()["records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--records", type=int, default=300_000, help="log records per encoding")
    parser.add_argument("--lines", choices=["train-ticket", "synthetic"], default="train-ticket")
    parser.add_argument("--encodings", default="otlp_proto,otlp_json,jsonl", help="comma-separated encodings")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "nezha-train-ticket")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="output directory")
    args = parser.parse_args()

    runs = []
    rows = log_rows(args.records) if args.lines == "synthetic" else train_ticket_rows(args.records, args.dataset)
    mean_chars = sum(len(str(r["message"])) for r in rows) / len(rows)
    with kafka(args.bootstrap) as bootstrap:
        for encoding in args.encodings.split(","):
            settings = bench_settings(
                bootstrap, logs_encoding="otlp_json" if encoding == "otlp_json" else "otlp_proto", max_batch_records=40
            )
            t = time.perf_counter()
            values = payloads(rows, encoding)
            fill(bootstrap, settings.logs_jsonl_topic if encoding == "jsonl" else settings.logs_topic, values)
            prepare = time.perf_counter() - t
            load = os.getloadavg()[0]

            def done(stats: Any) -> bool:
                return bool(stats.logs >= args.records)

            timed = consume(settings, done, stored, args.records)
            profiled = consume(settings, done, stored, args.records, STAGES, profile=True)
            run = {
                "encoding": encoding,
                "records": args.records,
                "messages": len(values),
                "mbytes": round(sum(map(len, values)) / 1e6, 1),
                "seconds": round(timed.seconds, 2),
                "per_second": round(args.records / timed.seconds),
                "cpu_seconds": round(timed.cpu_seconds, 2),
                "per_cpu_second": round(args.records / timed.cpu_seconds),
                "load_average": round(load, 1),
                "profile_shares": log_shares(profiled.stages or {}, profiled.seconds),
                "prepare_seconds": round(prepare, 1),
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
    described = f"{args.lines}, {mean_chars:.0f} characters on average"
    lines = [
        "# Log ingestion throughput (Kafka -> decode + template -> counts, one process)",
        "",
        setup_line(),
        f"Lines: {described}; {PER_MESSAGE} records per message. "
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
        goal = (
            f"{'met' if r['per_second'] >= TARGET else 'short'} (>= {TARGET:,}/s)"
            if r["encoding"] == "otlp_proto"
            else "-"
        )
        lines.append(
            f"| {r['encoding']} | {r['records']:,} | {r['messages']:,} | {r['mbytes']} | {r['seconds']} | "
            f"{r['per_second']:,} | {r['per_cpu_second']:,} | {r['load_average']} | {goal} | {share_text(r)} |"
        )
    write_report(
        args.out, "ingest_logs", "ingest-logs", "## Log ingestion throughput", lines, lines=described, runs=runs
    )


if __name__ == "__main__":
    main()
