"""The watcher feeds the log counts in the store to the detector, as the benchmarks feed recorded logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from log_streams import FAULT, flat_metrics, stream_logs

from rca.anomaly.detector import IncidentDetector
from rca.anomaly.log_feed import LogChangeFeed, feed
from rca.data.logs import parse_log_line
from rca.service import Service
from rca.settings import Settings
from rca.store.logs import LogMessage, LogRecord, LogStore
from rca.store.store import Point, Store


def test_log_counts_in_the_store_reach_the_detector(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, default_method="baro", retrain_cron="", span_bucket_seconds=60.0)
    store = Store(settings.resolved_store_url)
    service = Service(settings, store=store)
    rng = np.random.default_rng(3)
    minutes = 100
    logs, frame = stream_logs(rng, minutes, fault_minutes=3), flat_metrics(minutes, rng)
    log_store = LogStore(store, bucket_seconds=settings.ingest.log_bucket_seconds)
    events = []
    for offset, chunk in enumerate(np.array_split(np.arange(minutes), 20)):  # the stream arrives in 20 polls
        part = frame.iloc[chunk]
        store.write([Point("api", "latency", float(t), float(v)) for t, v in part["api_latency"].items()])
        times = logs["time"].to_numpy()
        sent = logs.loc[(times >= part.index[0] - 60.0) & (times < part.index[-1])]
        records = [
            LogRecord(s, float(t), lv, parse_log_line(m, lv or None).template_key, m, "", "")
            for t, s, lv, m in zip(sent["time"], sent["service"], sent["level"], sent["message"], strict=True)
        ]
        log_store.write([LogMessage("otlp_logs", 0, offset, records)])
        events += service.watcher.watch_once()
    service._executor.shutdown(wait=True)  # the incident's analysis runs in the background
    opened = [e for e in events if e.kind == "opened"]
    assert len(opened) == 1 and opened[0].onset == FAULT + 60.0
    assert max(opened[0].symptoms, key=lambda s: opened[0].symptoms[s]) == "orders_log_change"
    # the same stream fed straight from the records gives the same incident (the store keeps counts
    # and a few lines; the watcher rebuilds the records from them)
    direct = IncidentDetector(score_threshold=settings.detector_log_threshold)
    reference = [e for e in feed(direct, frame, logs, LogChangeFeed()) if e.kind == "opened"]
    assert [(e.onset, sorted(e.symptoms)) for e in reference] == [(e.onset, sorted(e.symptoms)) for e in opened]
