"""`rca serve --ingest`: a dead ingest thread is restarted, shows in /readyz and /metrics, and stops the server."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kafka_broker import KafkaBroker

from rca.api.app import serve
from rca.api.client import wait_until_healthy
from rca.ingest.consumer import IngestWorker
from rca.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with KafkaBroker() as broker:
        yield broker.bootstrap


def test_an_ingest_thread_that_keeps_failing_is_reported_and_stops_the_server(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls: list[float] = []

    def broken_step(self: IngestWorker, consumer: object) -> None:
        polls.append(time.monotonic())
        raise RuntimeError("injected failure in the ingest loop")

    monkeypatch.setattr(IngestWorker, "_step", broken_step)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        data_dir=tmp_path,
        port=free_port(),
        kafka_bootstrap=bootstrap,
        consumer_group=f"g-{tag}",
        metrics_topic=f"m-{tag}",
        spans_topic=f"s-{tag}",
        jsonl_topic=f"j-{tag}",
        dlq_topic=f"d-{tag}",
        retrain_cron="",
        analysis_processes=1,
        default_method="baro",
    )
    outcome: list[str | None] = []
    server = threading.Thread(target=lambda: outcome.append(serve(settings, ingest=True)), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{settings.port}"
    assert wait_until_healthy(base, timeout=300, alive=server.is_alive), "the server did not start"

    deadline = time.monotonic() + 300
    statuses = set()
    while True:  # the first failure: restarted after a pause, and the service is not ready meanwhile
        ready = httpx.get(f"{base}/readyz")
        statuses.add(ready.status_code)
        ingest = ready.json()["checks"]["ingest"]
        if (ingest["failures"] >= 1 and 503 in statuses) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ingest["failures"] >= 1 and "injected failure" in ingest["last_error"], ingest
    assert 503 in statuses, "not ready while the ingest thread is down"
    metrics = httpx.get(f"{base}/metrics").text
    failures = [line for line in metrics.splitlines() if line.startswith("rca_ingest_failures_total ")]
    assert failures and float(failures[0].split()[1]) >= 1, failures
    assert "rca_ingest_up" in metrics

    server.join(timeout=600)  # after five failures in a row the supervisor gives up and the server stops
    assert not server.is_alive(), "the server must stop once ingestion has failed for good"
    assert outcome and outcome[0] is not None and "failed 5 times in a row" in outcome[0], outcome
    assert len(polls) == 5, "each restart ran the loop again"
