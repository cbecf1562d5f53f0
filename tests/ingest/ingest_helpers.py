"""Helpers of the ingestion tests (a plain module, so test files import it by a unique name)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from rca.ingest.consumer import IngestWorker
from rca.ingest.encode import encode_metrics
from rca.ingest.metrics import IngestStats
from rca.settings import IngestSettings
from rca.store import Store

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from rca.cli import main; main()"]
T0 = 1_700_000_000


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class ThreadedWorker:
    """A worker running in a background thread of the test process."""

    worker: IngestWorker
    thread: threading.Thread
    error: list[BaseException]

    @property
    def stats(self) -> IngestStats:
        return self.worker.stats

    def stop(self, timeout: float = 60.0) -> IngestStats:
        self.worker.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not stop within its timeout"
        if self.error:
            raise self.error[0]
        return self.worker.stats


def ingest_process(
    settings: IngestSettings, *extra: str, stats: Path | None = None, log: Path
) -> subprocess.Popen[bytes]:
    """``rca ingest`` as a child process with the given settings (its output goes to ``log``)."""
    args = [
        *CLI,
        "ingest",
        "--bootstrap", settings.bootstrap,
        "--group", settings.group_id,
        "--metrics-topic", settings.metrics_topic,
        "--metrics-encoding", settings.metrics_encoding,
        "--spans-topic", settings.spans_topic,
        "--spans-encoding", settings.spans_encoding,
        "--jsonl-topic", settings.jsonl_topic,
        "--logs-topic", settings.logs_topic,
        "--logs-encoding", settings.logs_encoding,
        "--logs-jsonl-topic", settings.logs_jsonl_topic,
        "--dlq-topic", settings.dlq_topic,
        *extra,
    ]  # fmt: skip
    if settings.store_url:
        args += ["--store-url", settings.store_url]
    else:
        args += ["--data-dir", settings.data_dir]
    if stats is not None:
        args += ["--stats", str(stats)]
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("ab") as fh:
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)


def produce(bootstrap: str, topic: str, values: list[bytes], **kwargs: object) -> None:
    """Send ``values`` to ``topic`` and wait until the broker has them all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **kwargs)
    for value in values:
        producer.send(topic, value=value)
    producer.flush(60)
    producer.close(10)


@contextmanager
def restarted_after_kill_9(
    settings: IngestSettings, tmp_path: Path, stored: Callable[[], int], *, first: int, total: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``rca ingest`` killed with ``SIGKILL`` mid-stream, then started again; yields the second, stopped at the end.

    The first works in batches of 2 (many commits before the kill) and is killed once ``stored()``
    reaches ``first``, asserted short of ``total``; the second works in batches of 50. Their statistics
    go to ``tmp_path`` / ``stats1.json`` and ``stats2.json``, their output to ``ingest.log``.
    """
    log = tmp_path / "ingest.log"
    proc = ingest_process(settings, "--batch", "2", stats=tmp_path / "stats1.json", log=log)
    try:
        wait_until(lambda: stored() >= first, 120, f"the first worker to store {first} items", 0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        at_kill = stored()
        assert 0 < at_kill < total, f"not killed mid-stream: {at_kill} of {total} stored"
        proc = ingest_process(settings, "--batch", "50", stats=tmp_path / "stats2.json", log=log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)


def committed_to_end(settings: IngestSettings, topic: str) -> bool:
    """Whether the ingest group's committed offsets reach the end of every partition of ``topic``.

    Read by a consumer of the group that never subscribes, so it joins no rebalance.
    """
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=settings.group_id, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(partitions)
        return bool(partitions) and all((consumer.committed(tp) or 0) >= ends[tp] for tp in partitions)
    finally:
        consumer.close()


def metric_messages(count: int, per_message: int, start: int = 0) -> list[tuple[bytes, dict[tuple[str, float], float]]]:
    """``count`` OTLP messages of ``per_message`` points each, with the values they carry."""
    out = []
    for i in range(start, start + count):
        groups: dict[str, list[tuple[str, int, float]]] = {}
        expected = {}
        for k in range(per_message):
            service, metric, value = f"svc{k % 5}", f"m{k}", float(i * 1000 + k)
            groups.setdefault(service, []).append((metric, (T0 + i) * 10**9, value))
            expected[(f"{service}_{metric}", float(T0 + i))] = value
        out.append((encode_metrics(groups, "otlp_proto"), expected))
    return out


def stored_values(store: Store) -> dict[tuple[str, float], float]:
    """Every stored point as ``(column, ts) -> value``."""
    frame = store.read_telemetry(with_spans=False).frame
    return {(c, float(t)): float(v) for c in frame.columns for t, v in frame[c].dropna().items()}
