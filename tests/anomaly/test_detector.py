"""The online incident detector: one incident per persistent anomaly, closed on recovery."""

from __future__ import annotations

import numpy as np

from rca.anomaly.detector import IncidentDetector, IncidentEvent


def feed(detector: IncidentDetector, series: str, values: np.ndarray, start: float = 0.0) -> list[IncidentEvent]:
    events: list[IncidentEvent] = []
    for i, value in enumerate(values):
        events += detector.update(series, start + i, float(value))
    return events


def latency(rng: np.random.Generator, n: int, level: float = 100.0) -> np.ndarray:
    return rng.normal(level, 5.0, n)


def test_one_incident_per_persistent_anomaly_then_closed() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([latency(rng, 200), latency(rng, 30, 400.0), latency(rng, 50)])
    events = feed(IncidentDetector(), "front_latency", values)
    assert [e.kind for e in events] == ["opened", "closed"]
    opened, closed = events
    assert opened.onset == 200.0 and opened.time == 202.0  # open_after=3 points
    assert closed.time >= 230.0 and closed.onset == 200.0
    assert opened.symptoms["front_latency"] > 20


def test_spikes_shorter_than_open_after_do_not_open() -> None:
    rng = np.random.default_rng(1)
    values = latency(rng, 300)
    values[[100, 150, 151, 250]] = 1000.0
    assert feed(IncidentDetector(), "s", values) == []


def test_second_symptom_joins_the_open_incident() -> None:
    rng = np.random.default_rng(2)
    detector = IncidentDetector()
    events: list[IncidentEvent] = []
    for t in range(260):
        a = 100 + rng.normal(0, 5) + (300 if 200 <= t < 230 else 0)
        b = 0.01 + abs(rng.normal(0, 0.002)) + (0.5 if 202 <= t < 235 else 0)
        events += detector.update("front_latency", t, a)
        events += detector.update("front_error_rate", t, b)
    assert [e.kind for e in events] == ["opened", "closed"]
    assert set(events[1].symptoms) == {"front_latency", "front_error_rate"}
    assert events[1].time >= 239  # closes only after both recovered for close_after points


def test_repeated_or_old_points_are_ignored() -> None:
    detector = IncidentDetector(min_baseline=2)
    assert detector.update("s", 10, 1.0) == []
    assert detector.update("s", 10, 999.0) == []
    assert detector.update("s", 5, 999.0) == []
    assert detector.score("s", 1.0) is None  # one point of baseline only


def test_drops_count_only_when_asked() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([latency(rng, 100), latency(rng, 10, 0.0)])
    assert feed(IncidentDetector(), "rate", values) == []
    assert [e.kind for e in feed(IncidentDetector(direction="both"), "rate", values)] == ["opened"]
