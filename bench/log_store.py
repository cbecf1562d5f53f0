"""The log store's write and read on real records: CPU time per record, count rows and bytes.

The first 40 minute files of Train Ticket's first day (``../shared/data/nezha-train-ticket``, 80,535
container log records over 90 minutes, keyed with :func:`rca.data.logs.parse_log_line`, lines cut to 200
characters) are written with :meth:`rca.store.logs.LogStore.write` into a fresh SQLite
store (WAL, synchronous=FULL), in batches as the consumer writes them (``--batch``: 40 messages of 512
records) or one message per write (``--batch 512``), then read back whole with ``read_logs``. Figures are
CPU seconds of this process, the smallest of ``--runs`` runs (the machine may be shared).

Reproduce::

    .venv/bin/python bench/log_store.py                  # 60 s buckets, consumer batches
    .venv/bin/python bench/log_store.py --batch 512 --bucket-seconds 1
    .venv/bin/python bench/log_store.py --batch 512 --hot-stream 200000   # one busy stream
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from rca.data.logs import parse_log_line  # noqa: E402
from rca.data.nezha_logs import minute_log_files, read_log_files  # noqa: E402
from rca.store import Store  # noqa: E402
from rca.store.logs import LogMessage, LogRecord, LogStore  # noqa: E402

DAY = "2023-01-29"
MINUTES = 40


def records(dataset: Path) -> list[LogRecord]:
    paths = [p for _, p in minute_log_files(dataset / DAY / "log", DAY)][:MINUTES]
    logs = read_log_files(paths, lambda pod: pod.rsplit("-", 2)[0])
    if logs is None:
        raise SystemExit(f"no log files under {dataset / DAY / 'log'}; give --dataset")
    logs = logs.sort_values("time", kind="stable")
    columns = (logs[c] for c in ("service", "time", "level", "message", "trace_id", "span_id"))
    return [
        LogRecord(s, t, lv, parse_log_line(m).template_key, m[:200], tr, sp)
        for s, t, lv, m, tr, sp in zip(*columns, strict=True)
    ]


def hot_stream(records_per_minute: int) -> list[LogRecord]:
    """One stream's records, evenly over one minute: a busy template (an access log) at ``records_per_minute``."""
    start = 1_700_000_000.0
    return [
        LogRecord("api", start + i * 60.0 / records_per_minute, "INFO", "GET /x <*>", f"GET /x {i}", "", "")
        for i in range(records_per_minute)
    ]


def run(rows: list[LogRecord], bucket_seconds: float, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="rca-bench-") as tmp:
        store = Store(data_dir=tmp)
        logs = LogStore(store, bucket_seconds=bucket_seconds)
        cpu = time.process_time()
        for i in range(0, len(rows), batch):
            logs.write([LogMessage("logs", 0, i // batch, rows[i : i + batch])])
        write = time.process_time() - cpu
        cpu = time.process_time()
        logs.read_logs()
        read = time.process_time() - cpu
        with store.engine.connect() as conn:
            count_rows = conn.execute(sa.text("SELECT count(*) FROM log_counts")).scalar_one()
            size = conn.execute(
                sa.text(
                    "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                    "('log_counts', 'ix_log_counts_bucket', 'log_times', 'ix_log_times_bucket')"
                )
            ).scalar_one()
        store.close()
    per_record = 1e6 / len(rows)
    return {"write_us": write * per_record, "read_us": read * per_record, "rows": count_rows, "mb": size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "nezha-train-ticket")
    parser.add_argument("--bucket-seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=40 * 512, help="records per write")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--hot-stream", type=int, metavar="N", help="instead of the real records: N records of one stream in one minute"
    )
    args = parser.parse_args()
    rows = hot_stream(args.hot_stream) if args.hot_stream else records(args.dataset)
    runs = [run(rows, args.bucket_seconds, args.batch) for _ in range(args.runs)]
    best = {k: round(min(r[k] for r in runs), 2) for k in ("write_us", "read_us")}
    mb = round(runs[0]["mb"], 2)
    print(json.dumps({"records": len(rows), "bucket_seconds": args.bucket_seconds, "batch": args.batch,
                      **best, "count_rows": runs[0]["rows"], "log_counts_and_times_mb": mb}))  # fmt: skip


if __name__ == "__main__":
    main()
