"""Logs through the real broker: OTLP proto/JSON and JSON lines counted in the store, malformed
messages dead-lettered, and messages delivered again (a crash before the commit, a reset group)
counted once."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from ingest_helpers import produce, restarted_after_kill_9, wait_until
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition

from rca.data.logs import log_counts
from rca.ingest.otlp_logs import encode_logs
from rca.settings import IngestSettings
from rca.store import Store
from rca.store.logs import LogStore

pytestmark = pytest.mark.kafka

T0 = 1_674_981_600.0


def log_lines(count: int, start: float = T0) -> pd.DataFrame:
    """Case-format log lines: three services, a few templates per service, some ERROR lines."""
    rows = []
    for i in range(count):
        service = f"svc-{i % 3}"
        level = "ERROR" if i % 7 == 0 else "INFO"
        rows.append({"time": start + i * 0.5, "service": service, "level": level,
                     "message": f"{level} c.s.Impl#{10 + i % 4} [op][request {i} took {i % 13} ms]",
                     "trace_id": f"{i + 1:032x}", "span_id": f"{i + 1:016x}"})  # fmt: skip
    return pd.DataFrame(rows)


def payloads(frame: pd.DataFrame, per_message: int, encoding: str) -> list[bytes]:
    rows = frame.to_dict("records")
    return [encode_logs(rows[i : i + per_message], encoding) for i in range(0, len(rows), per_message)]


def assert_counts_as_offline(logs: LogStore, frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(logs.read_counts(step_seconds=60.0), log_counts(frame, 60.0), check_dtype=False)


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json", "jsonl"])
def test_logs_round_trip_through_kafka_into_counts(encoding, settings: IngestSettings, start_worker, tmp_path) -> None:
    frame = log_lines(900)
    settings = settings.with_overrides(logs_encoding="otlp_json" if encoding == "otlp_json" else None)
    topic = settings.logs_jsonl_topic if encoding == "jsonl" else settings.logs_topic
    produce(settings.bootstrap, topic, payloads(frame, 100, encoding))
    store = Store(data_dir=tmp_path)
    worker = start_worker(settings, store)
    logs = LogStore(store)
    wait_until(lambda: logs.counts()["records"] == len(frame), 120, f"{len(frame)} log records counted")
    stats = worker.stop()
    assert (stats.logs, stats.log_duplicates, stats.dead_letters) == (len(frame), 0, 0)
    assert_counts_as_offline(logs, frame)
    samples = logs.read_samples()
    first = samples.iloc[0]
    line = frame.loc[frame["message"] == first["message"]].iloc[0]
    assert (first["service"], first["trace_id"], first["span_id"]) == (
        line["service"],
        line["trace_id"],
        line["span_id"],
    )


def read_dead_letters(settings: IngestSettings, expected: int) -> list[object]:
    consumer = KafkaConsumer(
        settings.dlq_topic, bootstrap_servers=settings.bootstrap, auto_offset_reset="earliest",
        group_id=f"dlq-reader-{uuid.uuid4().hex[:6]}",
    )  # fmt: skip
    letters: list[object] = []
    deadline = time.monotonic() + 60
    while len(letters) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            letters.extend(records)
    consumer.close()
    return letters


def test_malformed_log_messages_go_to_the_dead_letter_topic(settings: IngestSettings, start_worker, tmp_path) -> None:
    settings = settings.with_overrides(logs_encoding="otlp_json")
    good = log_lines(30)
    not_hex = json.loads(payloads(good, 30, "otlp_json")[0])
    not_hex["resourceLogs"][0]["scopeLogs"][0]["logRecords"][3]["traceId"] = "not-hex"
    bad = [
        (settings.logs_topic, b'{"resourceLogs": [', "bad_json"),
        (settings.logs_topic, json.dumps(not_hex).encode(), "invalid"),
        (settings.logs_jsonl_topic, b'{"ts": "yesterday", "service": "a", "message": "m"}', "invalid"),
        (settings.logs_jsonl_topic, b"\xff\xfe", "bad_utf8"),
    ]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    for topic, value, _ in bad:
        producer.send(topic, value=value)
    producer.send(settings.logs_topic, value=payloads(good, 30, "otlp_json")[0])
    producer.flush(60)
    store = Store(data_dir=tmp_path)
    logs = LogStore(store)
    worker = start_worker(settings, store)
    wait_until(lambda: worker.stats.dead_letters == len(bad), 120, f"{len(bad)} dead letters")
    wait_until(lambda: logs.counts()["records"] == 30, 60, "the good message after the bad ones")
    # The worker goes on after them.
    producer.send(settings.logs_jsonl_topic, value=payloads(log_lines(5, start=T0 + 600), 5, "jsonl")[0])
    producer.flush(60)
    producer.close(10)
    wait_until(lambda: logs.counts()["records"] == 35, 60, "a JSON-lines message sent after the bad ones")
    assert worker.thread.is_alive()
    worker.stop()
    letters = read_dead_letters(settings, len(bad))
    got = sorted(
        (dict(r.headers)["rca.source.topic"].decode(), dict(r.headers)["rca.dlq.reason"].decode()) for r in letters
    )  # type: ignore[attr-defined]
    assert got == sorted((topic, reason) for topic, _, reason in bad)
    errors = [dict(r.headers)["rca.dlq.error"].decode() for r in letters]  # type: ignore[attr-defined]
    assert any("not hex" in e for e in errors) and any("ts must be" in e for e in errors)


def test_messages_delivered_again_are_counted_once(settings: IngestSettings, start_worker, tmp_path) -> None:
    """The group's offsets go back to 0 after everything was stored: all of it comes again."""
    frame = log_lines(600)
    produce(settings.bootstrap, settings.logs_topic, payloads(frame, 50, "otlp_proto"))
    store = Store(data_dir=tmp_path)
    logs = LogStore(store)
    worker = start_worker(settings, store)
    wait_until(lambda: logs.counts()["records"] == len(frame), 120, "every record counted")
    wait_until(lambda: worker.stats.commits > 0 and not worker.worker._pending, 60, "offsets committed")
    worker.stop()
    rewind = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=settings.group_id, enable_auto_commit=False)
    rewind.commit({TopicPartition(settings.logs_topic, 0): OffsetAndMetadata(0, "", -1)})
    rewind.close()
    again = start_worker(settings, store)
    wait_until(lambda: again.stats.log_duplicates == len(frame), 120, "the whole topic delivered again")
    stats = again.stop()
    assert stats.logs == 0
    assert logs.counts()["records"] == len(frame)
    assert_counts_as_offline(logs, frame)


def committed(settings: IngestSettings) -> int:
    """The group's committed offset of the logs topic's partition (0 when none)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=settings.group_id)
    try:
        return consumer.committed(TopicPartition(settings.logs_topic, 0)) or 0
    finally:
        consumer.close()


def test_kill_9_mid_stream_then_restart_counts_every_record_once(settings: IngestSettings, tmp_path: Path) -> None:
    frame = log_lines(6000)
    messages = payloads(frame, 10, "otlp_proto")
    produce(settings.bootstrap, settings.logs_topic, messages)
    store = Store(data_dir=settings.data_dir)
    logs = LogStore(store)
    with restarted_after_kill_9(
        settings, tmp_path, lambda: logs.counts()["records"], first=500, total=len(frame)
    ) as proc:
        # Committed up to the end: every message was written (and any written twice would be counted).
        wait_until(lambda: committed(settings) == len(messages), 180, "the offsets committed to the end", 0.5)
    assert logs.counts()["records"] == len(frame)
    assert_counts_as_offline(logs, frame)
    second = json.loads((tmp_path / "stats2.json").read_text())
    assert 0 < second["messages"] < len(messages), second  # resumed from the committed offsets
    assert proc.returncode == 0, (tmp_path / "ingest.log").read_text()[-3000:]
