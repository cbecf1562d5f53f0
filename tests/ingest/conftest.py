"""Fixtures of the ingestion tests: a real Kafka broker (ingest/kafka.sh on free ports), unique topics per
test, and helpers to run workers and wait for results (PostgreSQL: the session server of tests/conftest.py)."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest_helpers import ThreadedWorker
from kafka_broker import KafkaBroker

from rca.ingest.consumer import IngestWorker
from rca.settings import IngestSettings
from rca.store import Store


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
        logs_topic=f"l-{tag}",
        logs_jsonl_topic=f"lj-{tag}",
        dlq_topic=f"dlq-{tag}",
        data_dir=str(tmp_path),
        poll_timeout_ms=200,
    )


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
