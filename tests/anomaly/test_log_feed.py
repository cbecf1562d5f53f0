"""The detector's log signal (rca.anomaly.log_feed): a log-only fault opens an incident, normal churn does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
from log_streams import FAULT, T0, flat_metrics, stream_logs

from rca.anomaly.detector import IncidentDetector
from rca.anomaly.log_feed import LogChangeFeed, feed
from rca.anomaly.logs import LogNormal


def _run(logs: pd.DataFrame, frame: pd.DataFrame, *, polls: bool) -> tuple[IncidentDetector, list]:
    detector = IncidentDetector()
    log_feed = LogChangeFeed()
    if not polls:
        return detector, feed(detector, frame, logs, log_feed)
    events = []
    for i in range(len(frame)):  # as the watcher polls: one row at a time, the buckets complete by then
        events += feed(detector, frame.iloc[i : i + 1], logs, log_feed)
    return detector, events


def test_a_new_error_template_opens_an_incident_with_flatflat_metrics() -> None:
    rng = np.random.default_rng(0)
    minutes = 100
    logs, frame = stream_logs(rng, minutes, fault_minutes=3), flat_metrics(minutes, rng)
    _, events = _run(logs, frame, polls=True)
    opened = [e for e in events if e.kind == "opened"]
    assert len(opened) == 1
    assert opened[0].onset == FAULT + 60.0  # the first faulty bucket, at its end
    assert max(opened[0].symptoms, key=lambda s: opened[0].symptoms[s]) == "orders_log_change"
    assert "api_latency" not in opened[0].symptoms
    assert [e.kind for e in events] == ["opened", "closed"]  # the service's buckets go back to normal


def test_normal_log_churn_opens_nothing_and_becomes_the_normal() -> None:
    rng = np.random.default_rng(1)
    minutes = 120
    detector, events = _run(stream_logs(rng, minutes), flat_metrics(minutes, rng), polls=False)
    assert events == []
    scored = [s for s in detector._series if s.endswith("_log_change")]
    assert sorted(scored) == ["api_log_change", "orders_log_change"]


def test_a_registered_normal_replaces_the_fed_one() -> None:
    rng = np.random.default_rng(2)
    normal = LogNormal(window=60.0).fit(stream_logs(rng, 30))
    log_feed = LogChangeFeed(prior=normal)
    later = stream_logs(rng, 100, fault_minutes=2)
    buckets = log_feed.buckets(later.loc[later["time"] >= FAULT], FAULT + 60.0)
    assert [end for end, _ in buckets] == [FAULT + 60.0]
    scores = log_feed.scores(buckets[0][1])
    assert log_feed.normal is normal and log_feed.normal_ is None  # nothing learnt, the model's normal used
    assert scores["orders_log_change"] >= IncidentDetector().score_threshold > scores["api_log_change"]


def test_a_long_silence_gives_a_few_empty_buckets_not_one_per_minute() -> None:
    logs = stream_logs(np.random.default_rng(3), 5)
    stray = logs.iloc[:1].assign(time=-6.8e9)  # a record without a real time (a recording's int64 minimum)
    log_feed = LogChangeFeed(idle_buckets=4)
    buckets = log_feed.buckets(pd.concat([stray, logs], ignore_index=True), T0 + 5 * 60.0)
    ends = [end for end, _ in buckets]
    assert len(ends) == 1 + 4 + 5 and ends == sorted(ends)  # the stray bucket, 4 empty ones, the 5 minutes
    assert [len(r) for _, r in buckets[1:5]] == [0, 0, 0, 0] and ends[5:] == [T0 + 60.0 * m for m in range(1, 6)]
    assert log_feed.buckets(logs, T0 + 5 * 60.0) == []  # all fed
