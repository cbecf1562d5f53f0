"""The online incident detector: the ranking's notion of anomalous, one incident per fault, closed on recovery."""

from __future__ import annotations

import numpy as np

from rca.anomaly.detector import IncidentDetector, IncidentEvent
from rca.anomaly.scores import exceedance


def feed(detector: IncidentDetector, series: str, values: np.ndarray, start: float = 0.0) -> list[IncidentEvent]:
    events: list[IncidentEvent] = []
    for i, value in enumerate(values):
        events += detector.update(series, start + i, float(value))
    return events


def latency(rng: np.random.Generator, n: int, level: float = 100.0) -> np.ndarray:
    return rng.normal(level, 5.0, n)


def test_one_incident_per_persistent_anomaly_then_closed() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([latency(rng, 200), latency(rng, 30, 1000.0), latency(rng, 50)])
    events = feed(IncidentDetector(), "front_latency", values)
    assert [e.kind for e in events] == ["opened", "closed"]
    opened, closed = events
    assert opened.onset == 200.0 and opened.time == 201.0  # open_after=2 points
    assert closed.time == 234.0 and closed.onset == 200.0  # close_after=5 normal points
    assert opened.symptoms["front_latency"] >= IncidentDetector().threshold


def test_the_score_is_the_rankings_exceedance() -> None:
    rng = np.random.default_rng(4)
    history = latency(rng, 300)
    detector = IncidentDetector(threshold=np.inf)
    feed(detector, "s", history)
    for value in (90.0, 130.0, 400.0, 2000.0):
        expected = float(exceedance(history[:, None], np.array([[value]]))[0])
        score = detector.score("s", value)
        assert score is not None
        # the median and IQR are refreshed as the history grows by 2 %, not at every point
        assert abs(score - expected) <= 0.05 * max(expected, 1.0)


def test_spikes_shorter_than_open_after_do_not_open() -> None:
    rng = np.random.default_rng(1)
    values = latency(rng, 300)
    values[[100, 150, 250]] = 5000.0
    assert feed(IncidentDetector(), "s", values) == []


def test_a_second_series_joins_the_open_incident() -> None:
    rng = np.random.default_rng(2)
    detector = IncidentDetector()
    events: list[IncidentEvent] = []
    for t in range(260):
        a = 100 + rng.normal(0, 5) + (3000 if 200 <= t < 230 else 0)
        b = 0.5 + rng.normal(0, 0.02) + (50 if 202 <= t < 235 else 0)
        events += detector.update("front_cpu", t, a)
        events += detector.update("front_error_rate", t, b)
    assert [e.kind for e in events] == ["opened", "closed"]
    assert set(events[1].symptoms) == {"front_cpu", "front_error_rate"}
    assert events[1].time == 239  # closes only after both recovered for close_after points
    assert detector.last_closed == 239


def test_points_of_an_incident_stay_out_of_the_history() -> None:
    rng = np.random.default_rng(5)
    detector = IncidentDetector()
    feed(detector, "s", np.concatenate([latency(rng, 100), latency(rng, 300, 5000.0)]))
    assert detector.open_incident is not None  # a fault that lasts does not become the new normal
    assert detector.score("s", 5000.0) >= detector.threshold  # type: ignore[operator]


def test_repeated_or_old_points_are_ignored_and_a_short_history_is_not_scored() -> None:
    detector = IncidentDetector(min_history=2)
    assert detector.update("s", 10, 1.0) == []
    assert detector.update("s", 10, 999.0) == []
    assert detector.update("s", 5, 999.0) == []
    assert detector.score("s", 1.0) is None  # one point of history only


def test_a_still_or_finely_stepped_gauge_is_not_an_incident() -> None:
    detector = IncidentDetector()
    level = 2.9e8  # bytes: a memory gauge that holds still, then grows by one 4 KiB page, then 128 KiB
    values = np.concatenate([np.full(200, level), np.full(50, level + 4096), np.full(50, level + 131072)])
    assert feed(detector, "db_mem", values) == []
    assert detector.score("db_mem", level * 28) >= detector.threshold  # type: ignore[operator]


def test_a_models_normal_statistics_replace_the_historys() -> None:
    rng = np.random.default_rng(6)
    history = latency(rng, 100)
    plain, informed = IncidentDetector(), IncidentDetector(prior={"s": (100.0, 50.0)})
    feed(plain, "s", history)
    feed(informed, "s", history)
    # the model saw a wider normal range (IQR 50) than the last 100 points (IQR ~7)
    assert informed.score("s", 400.0) < plain.score("s", 400.0)  # type: ignore[operator]


def test_a_recurring_excursion_is_learnt_as_part_of_the_range() -> None:
    # a percentile of a rarely called service: near 0, now and then a few minutes far above
    rng = np.random.default_rng(6)
    values = rng.uniform(0.001, 0.01, 600)
    for start in (200, 350, 500):
        values[start : start + 4] = 20.0
    events = feed(IncidentDetector(), "rare_latency_p90", values)
    opened = [e.onset for e in events if e.kind == "opened"]
    assert opened == [200.0]  # the first time it is news; once it ended it is in the series' range


def test_an_availability_that_falls_opens_an_incident_and_a_latency_that_falls_does_not() -> None:
    rng = np.random.default_rng(5)
    availability = np.concatenate([rng.normal(99.9, 0.02, 200), rng.normal(98.0, 0.02, 30)])
    assert [e.kind for e in feed(IncidentDetector(), "cart_availability", availability)] == ["opened"]
    falling_latency = np.concatenate([latency(rng, 200), latency(rng, 30, 10.0)])
    assert feed(IncidentDetector(), "cart_latency", falling_latency) == []
    # the ranking scores the availability's fall the same way (its median and IQR refreshed every 2 %)
    detector = IncidentDetector(threshold=np.inf)
    feed(detector, "cart_availability", availability[:200])
    expected = float(exceedance(availability[:200, None], np.array([[98.0]]), falls=True)[0])
    score = detector.score("cart_availability", 98.0)
    assert score is not None and abs(score - expected) <= 0.05 * expected
