"""Delivery guarantees against the real broker: crash-safe offsets, dead letters, broker restarts."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from ingest_helpers import (
    T0,
    committed_to_end,
    metric_messages,
    produce,
    restarted_after_kill_9,
    stored_values,
    wait_until,
)
from kafka import KafkaConsumer, KafkaProducer
from kafka_broker import KafkaBroker
from prometheus_client import REGISTRY

from rca.ingest.encode import encode_metrics
from rca.settings import IngestSettings
from rca.store import Store

pytestmark = pytest.mark.kafka


def test_kill_9_mid_stream_then_restart_stores_every_point_exactly_once(
    settings: IngestSettings, tmp_path: Path
) -> None:
    messages = metric_messages(600, 20)
    expected: dict[tuple[str, float], float] = {}
    for _, e in messages:
        expected.update(e)
    produce(settings.bootstrap, settings.metrics_topic, [m for m, _ in messages])
    store = Store(data_dir=settings.data_dir)
    with restarted_after_kill_9(
        settings, tmp_path, lambda: store.counts()["points"], first=1000, total=len(expected)
    ) as proc:
        assert json.loads((tmp_path / "stats1.json").read_text())["commits"] > 0
        wait_until(lambda: store.counts()["points"] == len(expected), 180, f"all {len(expected)} points", 0.5)
        # every message consumed and committed: nothing left that could still add a point twice
        wait_until(lambda: committed_to_end(settings, settings.metrics_topic), 60, "offsets committed to the end", 0.5)
    assert store.counts()["points"] == len(expected)
    assert stored_values(store) == expected
    second = json.loads((tmp_path / "stats2.json").read_text())
    # The restarted worker resumed from the committed offsets, not from the beginning.
    assert 0 < second["messages"] < len(messages), second
    assert proc.returncode == 0, (tmp_path / "ingest.log").read_text()[-3000:]


def dead_letter_count(topic: str, reason: str) -> float:
    return REGISTRY.get_sample_value("rca_ingest_dead_letters_total", {"topic": topic, "reason": reason}) or 0.0


def test_malformed_messages_go_to_the_dead_letter_topic(settings: IngestSettings, start_worker, tmp_path) -> None:
    settings = settings.with_overrides(spans_encoding="otlp_json", max_message_bytes=50_000)
    good = metric_messages(2, 3)
    line = {"ts": float(T0), "service": "carts", "metric": "cpu", "value": 1.5}
    bad = [
        (settings.metrics_topic, b"\xff\xfe not a protobuf \x00\x01", "bad_protobuf"),
        (settings.spans_topic, b'{"resourceSpans": [', "bad_json"),
        (settings.jsonl_topic, json.dumps({**line, "ts": "yesterday"}).encode(), "invalid"),
        (settings.jsonl_topic, b'{"ts": 1700000000, "service": "carts", "metric": "cpu", "value": 1e999}', "invalid"),
        (settings.jsonl_topic, (json.dumps(line) + "\n") * 2000, "too_large"),
        (
            settings.metrics_topic,
            encode_metrics({"carts": [("cpu", T0 * 10**9, float("inf"))]}, "otlp_proto"),
            "invalid",
        ),
    ]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    producer.send(settings.metrics_topic, value=good[0][0])
    for topic, value, _ in bad:
        producer.send(topic, value=value if isinstance(value, bytes) else value.encode())
    producer.send(settings.jsonl_topic, value=json.dumps(line).encode())
    producer.flush(60)
    before = {reason: dead_letter_count(topic, reason) for topic, _, reason in bad}
    store = Store(data_dir=tmp_path)
    worker = start_worker(settings, store)
    wait_until(lambda: worker.stats.dead_letters == len(bad), 120, f"{len(bad)} dead letters")
    wait_until(lambda: store.counts()["points"] == 3 + 1, 60, "the good points")
    # Consumption goes on after the bad messages.
    producer.send(settings.metrics_topic, value=good[1][0])
    producer.flush(60)
    producer.close(10)
    wait_until(lambda: store.counts()["points"] == 3 + 1 + 3, 60, "a good message sent after the bad ones")
    assert worker.thread.is_alive()
    worker.stop()
    for topic, _, reason in bad:
        assert dead_letter_count(topic, reason) > before[reason], (topic, reason)

    consumer = KafkaConsumer(
        settings.dlq_topic, bootstrap_servers=settings.bootstrap, auto_offset_reset="earliest",
        group_id=f"dlq-reader-{uuid.uuid4().hex[:6]}", consumer_timeout_ms=10_000,
    )  # fmt: skip
    letters = []
    deadline = time.monotonic() + 60
    while len(letters) < len(bad) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            letters.extend(records)
    consumer.close()
    assert len(letters) == len(bad)
    got = sorted(
        (dict(r.headers)["rca.source.topic"].decode(), dict(r.headers)["rca.dlq.reason"].decode()) for r in letters
    )
    assert got == sorted((topic, reason) for topic, _, reason in bad)
    for record in letters:
        headers = dict(record.headers)
        assert headers["rca.dlq.error"], "the reason text is in the headers"
        assert int(headers["rca.source.offset"].decode()) >= 0
    too_large = next(r for r in letters if dict(r.headers)["rca.dlq.reason"] == b"too_large")
    assert b"exceeds max_message_bytes" in dict(too_large.headers)["rca.dlq.error"]


def test_broker_stop_and_restart_consumer_resumes_without_loss(tmp_path: Path, start_worker) -> None:
    with KafkaBroker() as broker:
        tag = uuid.uuid4().hex[:6]
        settings = IngestSettings(
            bootstrap=broker.bootstrap, group_id=f"g-{tag}", metrics_topic=f"m-{tag}", spans_topic=f"s-{tag}",
            jsonl_topic=f"j-{tag}", dlq_topic=f"d-{tag}", data_dir=str(tmp_path), poll_timeout_ms=200,
        )  # fmt: skip
        first, second = metric_messages(100, 10), metric_messages(100, 10, start=100)
        store = Store(data_dir=tmp_path)
        worker = start_worker(settings, store)
        produce(broker.bootstrap, settings.metrics_topic, [m for m, _ in first])
        wait_until(lambda: store.counts()["points"] == 1000, 120, "the first half")
        broker.stop()
        polled = worker.stats.polls
        # the worker polls a dead broker: it must retry, not crash
        wait_until(lambda: worker.stats.polls >= polled + 20 or not worker.thread.is_alive(), 120, "polls")
        assert worker.thread.is_alive() and not worker.error
        broker.start()
        produce(broker.bootstrap, settings.metrics_topic, [m for m, _ in second])
        wait_until(lambda: store.counts()["points"] == 2000, 180, "the second half after the restart")
        assert worker.thread.is_alive()
        wait_until(lambda: worker.stats.commits > 0 and not worker.worker._pending, 60, "offsets committed again")
        stats = worker.stop()
    expected = {}
    for _, e in first + second:
        expected.update(e)
    assert stored_values(store) == expected
    assert stats.dead_letters == 0
