"""Log counts and samples on SQLite and on a real PostgreSQL server: counted once, read back as offline."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from rca.anomaly.logs import log_changes
from rca.data.logs import log_counts, parse_log_line
from rca.store import Store, schema
from rca.store.logs import LogMessage, LogRecord, LogStore

T0 = 1_674_979_200.0  # a whole hour


def lines(count: int, start: float = T0, every: float = 7.0) -> pd.DataFrame:
    """Case-format log lines of two services, three streams, ``count`` lines ``every`` seconds apart."""
    rows = []
    for i in range(count):
        service = "ts-travel-service" if i % 3 else "ts-contacts-service"
        level = "ERROR" if i % 5 == 0 else "INFO"
        message = f"{level} c.s.Impl#{30 + i % 2} [find][item {i} of {count}]"
        rows.append({"time": start + i * every, "service": service, "level": level, "message": message,
                     "trace_id": f"{i:032x}", "span_id": f"{i:016x}"})  # fmt: skip
    return pd.DataFrame(rows)


def records(frame: pd.DataFrame) -> list[LogRecord]:
    out = []
    for row in frame.itertuples(index=False):
        line = parse_log_line(row.message, row.level or None)
        key, level = line.template_key, line.level
        out.append(LogRecord(row.service, row.time, level, key, row.message, row.trace_id, row.span_id))
    return out


def messages(frame: pd.DataFrame, per_message: int, topic: str = "otlp_logs", partition: int = 0) -> list[LogMessage]:
    recs = records(frame)
    starts = range(0, len(recs), per_message)
    return [LogMessage(topic, partition, i // per_message, recs[i : i + per_message]) for i in starts]


def test_counts_read_back_as_the_offline_log_counts(store: Store) -> None:
    frame = lines(300)
    logs = LogStore(store, bucket_seconds=60.0)
    result = logs.write(messages(frame, 40))
    assert (result.records, result.duplicates) == (300, 0)
    assert result.by_topic == {"otlp_logs": 300}
    pd.testing.assert_frame_equal(logs.read_counts(step_seconds=60.0), log_counts(frame, 60.0), check_dtype=False)
    # A coarser step sums stored buckets; a window keeps the buckets that start in it.
    assert logs.read_counts(step_seconds=300.0)["count"].sum() == 300
    window = logs.read_counts(T0 + 600, T0 + 1200)
    assert window["bucket"].between(T0 + 600, T0 + 1199).all()
    assert window["count"].sum() == ((frame["time"] >= T0 + 600) & (frame["time"] < T0 + 1200)).sum()


def test_plain_tuples_of_the_record_shape_are_stored_as_records(store: Store, tmp_path: Path) -> None:
    """What the ingest decoders yield (plain tuples) is counted and kept as LogRecords are."""
    frame = lines(120)
    named = LogStore(store)
    named.write(messages(frame, 40))
    plain = LogStore(Store(data_dir=tmp_path))
    plain.write(
        [LogMessage(m.topic, m.partition, m.offset, [tuple(r) for r in m.records]) for m in messages(frame, 40)]
    )
    pd.testing.assert_frame_equal(plain.read_counts(), named.read_counts())
    pd.testing.assert_frame_equal(plain.read_samples(), named.read_samples())
    assert not plain.read_samples().empty


def test_a_message_delivered_again_is_not_counted_again(store: Store) -> None:
    frame = lines(100)
    batch = messages(frame, 10)
    logs = LogStore(store)
    logs.write(batch[:6])
    again = logs.write(batch[4:])  # messages 4 and 5 come again (crash before the offset commit)
    assert (again.records, again.duplicates) == (40, 20)
    # Another worker (its own LogStore, no shared memory) sees the ledger in the database.
    other = LogStore(Store(store.url))
    assert other.write(batch).records == 0
    assert logs.read_counts()["count"].sum() == 100
    # Other partitions and topics have their own offsets.
    assert logs.write(messages(frame, 10, partition=1)[:1]).records == 10
    assert logs.write(messages(frame, 10, topic="rca_logs")[:1]).records == 10
    assert logs.counts()["records"] == 120


def test_concurrent_workers_on_one_partition_count_each_message_once(store: Store) -> None:
    """A rebalance can leave two workers briefly writing the same messages: the ledger rows serialise them."""
    batch = messages(lines(400), 20)
    stores = [LogStore(Store(store.url)) for _ in range(3)]
    errors: list[BaseException] = []

    def write(logs: LogStore) -> None:
        try:
            for i in range(0, len(batch), 4):
                logs.write(batch[i : i + 4])
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert stores[0].counts()["records"] == 400


def test_samples_are_bounded_per_stream_and_hour_and_kept_once(store: Store) -> None:
    frame = lines(600, every=12.0)  # two hours
    logs = LogStore(store, samples_per_hour=3)
    logs.write(messages(frame, 50))
    samples = logs.read_samples()
    streams = frame.assign(key=[r.template_key for r in records(frame)]).groupby("service")["key"].nunique()
    per_hour = samples.assign(hour=samples["time"] // 3600).groupby(["service", "template_key", "level", "hour"])
    assert per_hour.size().max() == 3 and per_hour.size().min() >= 1
    assert samples.groupby("service")["template_key"].nunique().to_dict() == streams.to_dict()
    # The first lines of each stream and hour are the ones kept, with their ids.
    first = samples.iloc[0]
    row = frame.loc[frame["message"] == first["message"]].iloc[0]
    assert (first["trace_id"], first["span_id"], first["time"]) == (row["trace_id"], row["span_id"], row["time"])
    # Later messages of the same hours (another partition) add nothing: the slots are taken.
    before = len(samples)
    LogStore(Store(store.url), samples_per_hour=3).write(messages(frame, 50, partition=1))
    assert len(logs.read_samples()) == before
    assert logs.read_samples(T0, T0 + 3600)["time"].lt(T0 + 3600).all()


def test_retention_purges_log_counts_times_and_samples(store: Store) -> None:
    logs = LogStore(store)
    logs.write(messages(lines(100, every=60.0), 10))  # 100 minutes
    stored = logs.counts()["log_times"]
    assert store.newest() == pytest.approx(T0 + 99 * 60)
    deleted = store.apply_retention(3000.0)
    assert deleted["log_counts"] > 0 and deleted["log_times"] > 0 and deleted["log_samples"] > 0
    assert logs.read_counts()["bucket"].min() >= T0 + 99 * 60 - 3000
    assert logs.read_samples()["time"].min() >= T0 + 99 * 60 - 3000
    assert logs.counts()["log_times"] == stored - deleted["log_times"]


def test_read_logs_rebuilds_records_that_count_as_stored(store: Store) -> None:
    """The window as ``Telemetry.logs``: log_counts of it equals the stored counts; kept lines are real."""
    frame = lines(900, every=5.0)
    logs = LogStore(store, samples_per_hour=2)
    assert logs.read_logs() is None  # nothing stored yet
    logs.write(messages(frame, 100))
    window = logs.read_logs(T0 + 3000, T0 + 4200)  # the first lines of the second hour are kept
    assert window is not None and list(window.columns) == ["time", "service", "level", "message", "trace_id", "span_id"]
    pd.testing.assert_frame_equal(log_counts(window, 60.0), logs.read_counts(T0 + 3000, T0 + 4200), check_dtype=False)
    assert window["time"].is_monotonic_increasing
    # Rebuilt records lie between the first and last real record of their bucket (the window's ends are real).
    real = frame.loc[frame["time"].between(T0 + 3000, T0 + 4199.999), "time"]
    assert (window["time"].min(), window["time"].max()) == (real.min(), real.max())
    with_ids = window.loc[window["trace_id"] != ""]
    hour = frame.loc[frame["time"].between(T0 + 3600, T0 + 4199)]
    streams = {(r.service, r.level, r.template_key) for r in records(hour)}
    assert len(with_ids) == 2 * len(streams)  # the first two lines of each stream in the second hour
    original = frame.set_index("trace_id").loc[with_ids["trace_id"]]
    assert (with_ids["message"].to_numpy() == original["message"].to_numpy()).all()
    assert (with_ids["time"].to_numpy() == original["time"].to_numpy()).all()
    assert logs.read_logs(T0 + 10 * 3600, T0 + 11 * 3600) is None


def bursts(start: float = T0) -> pd.DataFrame:
    """Lines that crowd the start of each minute: ten in its first five seconds, one 55 s in (an even
    spread over the minute would put half of them after its middle)."""
    rows = []
    for minute in range(6):
        base = start + 60.0 * minute
        for i, offset in enumerate([0.2, 0.7, 1.1, 1.9, 2.4, 2.8, 3.3, 3.6, 4.4, 4.9, 55.5]):
            service = "ts-travel-service" if i % 2 else "ts-contacts-service"
            rows.append({"time": base + offset, "service": service, "level": "INFO",
                         "message": f"INFO c.s.Impl#{40 + minute % 2} [find][item {i}]",
                         "trace_id": f"{minute:016x}{i:016x}", "span_id": f"{i:016x}"})  # fmt: skip
    return pd.DataFrame(rows)


def per_stream(frame: pd.DataFrame) -> pd.Series:
    pairs = zip(frame["message"], frame["level"], strict=True)
    keyed = frame.assign(key=[parse_log_line(m, lv or None).template_key for m, lv in pairs])
    return keyed.groupby(["service", "level", "key"]).size()


@pytest.mark.parametrize("anomaly_time", [T0 + 90.0, T0 + 62.0, T0 + 184.0, T0 + 300.0])
def test_a_window_split_inside_a_bucket_has_the_offline_records_on_each_side(store: Store, anomaly_time: float) -> None:
    """The log signal splits the window at the anomaly time: each side holds what the offline case holds there."""
    frame = bursts()
    logs = LogStore(store, samples_per_hour=1)
    # Out of time order and in several messages and writes, so that buckets are added to.
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for i, message in enumerate(messages(shuffled, 7)):
        logs.write([LogMessage(message.topic, message.partition, i, message.records)])
    window = logs.read_logs(T0, T0 + 3600)
    assert window is not None and len(window) == len(frame)
    before, after = frame["time"] < anomaly_time, frame["time"] >= anomaly_time
    pd.testing.assert_series_equal(per_stream(window.loc[window["time"] < anomaly_time]), per_stream(frame.loc[before]))
    pd.testing.assert_series_equal(per_stream(window.loc[window["time"] >= anomaly_time]), per_stream(frame.loc[after]))
    # Every record is at its own time (to the microsecond), and kept lines are real.
    np.testing.assert_allclose(np.sort(window["time"]), np.sort(frame["time"]), rtol=0, atol=1e-6)
    kept = window.loc[window["trace_id"] != ""]
    assert len(kept) and kept["time"].isin(frame["time"]).all()
    # So the log signal (baseline before the anomaly time less its guard, normal periods, change after) is offline's.
    live, offline = log_changes(window, anomaly_time, guard=20.0), log_changes(frame, anomaly_time, guard=20.0)
    assert {s: c.score for s, c in live.items()} == pytest.approx({s: c.score for s, c in offline.items()})
    assert {s: c.normal for s, c in live.items()} == pytest.approx({s: c.normal for s, c in offline.items()})


def test_records_counted_before_their_times_are_read_as_before_and_added_to(store: Store) -> None:
    """A store of schema 3 gains ``log_times``; its records (no times) spread over their bucket as before."""
    frame = bursts()
    early, late = frame.iloc[:38], frame.iloc[38:]  # the fourth minute gets records of both kinds
    logs = LogStore(store, samples_per_hour=0)
    logs.write(messages(early, 11))
    with store.transaction() as conn:  # as schema 3 left it
        conn.execute(sa.update(schema.meta).where(schema.meta.c.key == "schema_version").values(value="3"))
        conn.exec_driver_sql("DROP TABLE log_times")
    store.close()
    upgraded = Store(store.url)
    try:
        with upgraded.engine.connect() as conn:
            version = conn.execute(sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version"))
            assert version.scalar_one() == str(schema.SCHEMA_VERSION)
        again = LogStore(upgraded, samples_per_hour=0)
        again.write(messages(late, 11, partition=1))
        window = again.read_logs()
        assert window is not None
        pd.testing.assert_frame_equal(log_counts(window, 60.0), log_counts(frame, 60.0), check_dtype=False)
        # The minutes stored with their times have every record at its time ...
        exact, truth = window.loc[window["time"] >= T0 + 240], frame.loc[frame["time"] >= T0 + 240]
        np.testing.assert_allclose(np.sort(exact["time"]), np.sort(truth["time"]), rtol=0, atol=1e-6)
        # ... and those stored before spread from their bucket's first record to its last.
        spread = window.loc[window["time"] < T0 + 180].assign(minute=lambda f: f["time"] // 60)
        real = frame.loc[frame["time"] < T0 + 180].assign(minute=lambda f: f["time"] // 60)
        extent = ["service", "minute"]
        pd.testing.assert_frame_equal(
            spread.groupby(extent)["time"].agg(["min", "max", "size"]),
            real.groupby(extent)["time"].agg(["min", "max", "size"]),
        )
    finally:
        upgraded.close()


def test_a_busy_streams_writes_append_their_times_and_rewrite_none(store: Store) -> None:
    """Each write of a minute's records adds its own ``log_times`` row; the count row is one, the times all kept."""
    stream = [LogRecord("api", T0 + i * 0.01, "INFO", "GET /x <*>", f"GET /x {i}", "", "") for i in range(3000)]
    logs = LogStore(store, samples_per_hour=0)
    for n, start in enumerate(range(0, len(stream), 500)):
        logs.write([LogMessage("otlp_logs", 0, n, stream[start : start + 500])])
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.log_counts)).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.log_times)).scalar_one() == 6
    window = logs.read_logs()
    assert window is not None
    np.testing.assert_allclose(window["time"].to_numpy(), [r.ts for r in stream], rtol=0, atol=1e-6)
