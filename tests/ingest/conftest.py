"""Fixtures of the ingestion tests: a real Kafka broker (ingest/kafka.sh on free ports), PostgreSQL,
unique topics per test, and helpers to run workers and wait for results."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

from kafka_broker import KafkaBroker  # noqa: E402
from pg_server import PostgresServer  # noqa: E402

from rca.ingest.consumer import IngestStats, IngestWorker  # noqa: E402
from rca.ingest.settings import IngestSettings  # noqa: E402
from rca.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from rca.cli import main; main()"]


@pytest.fixture(scope="session")
def broker() -> Iterator[KafkaBroker]:
    """One real single-node KRaft broker for the whole session (fails loudly if it cannot start)."""
    b = KafkaBroker()
    b.start()
    yield b
    b.close()


@pytest.fixture(scope="session")
def bootstrap(broker: KafkaBroker) -> str:
    """``127.0.0.1:<port>`` of the session broker."""
    return broker.bootstrap


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (never skipped: a failure to start fails the test)."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(bootstrap: str, tmp_path: Path) -> IngestSettings:
    """Settings with topics and a consumer group unique to the test, SQLite under ``tmp_path``."""
    tag = uuid.uuid4().hex[:8]
    return IngestSettings(
        bootstrap=bootstrap,
        group_id=f"rca-test-{tag}",
        metrics_topic=f"m-{tag}",
        spans_topic=f"s-{tag}",
        jsonl_topic=f"j-{tag}",
        dlq_topic=f"dlq-{tag}",
        data_dir=str(tmp_path),
        poll_timeout_ms=200,
    )


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


@pytest.fixture
def start_worker() -> Iterator[Callable[..., ThreadedWorker]]:
    """Start :class:`IngestWorker` s in threads; all are stopped at the end of the test."""
    started: list[ThreadedWorker] = []

    def start(settings: IngestSettings, store: Store | None = None) -> ThreadedWorker:
        worker = IngestWorker(settings, store)
        errors: list[BaseException] = []

        def target() -> None:
            try:
                worker.run()
            except BaseException as exc:  # noqa: BLE001 - reported by stop()
                errors.append(exc)

        thread = threading.Thread(target=target, name="ingest-worker", daemon=True)
        thread.start()
        tw = ThreadedWorker(worker, thread, errors)
        started.append(tw)
        return tw

    yield start
    for tw in started:
        tw.worker.request_stop()
        tw.thread.join(60)


def ingest_process(settings: IngestSettings, *extra: str, stats: Path | None = None, log: Path) -> subprocess.Popen[bytes]:
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
