"""Two `rca ingest` processes in one consumer group split a 4-partition topic; PostgreSQL store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_helpers import ingest_process, metric_messages, stored_values, wait_until
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from rca.settings import IngestSettings
from rca.store import Store

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_two_workers_split_partitions_and_each_point_lands_once(
    settings: IngestSettings, postgres, tmp_path: Path
) -> None:
    url = postgres.new_database()
    settings = settings.with_overrides(store_url=url)
    store = Store(url)  # creates the schema before the workers race to

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap)
    admin.create_topics(
        {settings.metrics_topic: {"num_partitions": 4, "replication_factor": 1}}, wait_for_metadata=True
    )
    admin.close()

    stats = [tmp_path / "w1.json", tmp_path / "w2.json"]
    log = tmp_path / "ingest.log"
    procs = [ingest_process(settings, "--batch", "20", stats=path, log=log) for path in stats]
    try:
        # Both members hold metrics partitions (the group has settled) before anything is published.
        def settled() -> bool:
            try:
                held = [json.loads(p.read_text())["assigned"] for p in stats]
            except (OSError, ValueError):
                return False
            mine = [sorted(a for a in h if a.startswith(settings.metrics_topic + ":")) for h in held]
            return all(len(m) == 2 for m in mine) and not set(mine[0]) & set(mine[1])

        wait_until(settled, 120, "both workers to hold two metrics partitions each")
        messages = metric_messages(400, 10)
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
        for i, (value, _) in enumerate(messages):
            producer.send(settings.metrics_topic, value=value, partition=i % 4)
        producer.flush(60)
        producer.close(10)
        expected: dict[tuple[str, float], float] = {}
        for _, e in messages:
            expected.update(e)
        wait_until(lambda: store.counts()["points"] == len(expected), 180, f"all {len(expected)} points")
        wait_until(
            lambda: sum(json.loads(p.read_text())["messages"] for p in stats) >= len(messages), 60, "the stats files"
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    final = [json.loads(p.read_text()) for p in stats]
    per_worker = [sum(v for k, v in f["partitions"].items() if k.startswith(settings.metrics_topic)) for f in final]
    assert all(n > 0 for n in per_worker), f"both workers must receive data: {per_worker}"
    assert sum(per_worker) == len(messages)  # no rebalance after settling: every message consumed once
    assert store.counts()["points"] == len(expected)
    assert stored_values(store) == expected
    assert all(p.returncode == 0 for p in procs), log.read_text()[-3000:]
    store.close()
