"""Anomaly scores: rounding is not variation, and a bursty baseline must be exceeded."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rca.anomaly.scores import (
    LEVEL_CAP,
    LEVEL_ROWS,
    baseline_zscores,
    exceedance,
    level_exceedance,
    nan_percentiles,
    series_scores,
    shift_score,
)


def ar1(rng: np.random.Generator, rows: int, series: int, persistence: float = 0.7) -> np.ndarray:
    """Persistent noise: each row keeps ``persistence`` of the last (unit innovations)."""
    values = np.zeros((rows, series))
    for t in range(1, rows):
        values[t] = persistence * values[t - 1] + rng.normal(size=series)
    return values


def test_rounding_jitter_is_not_spread() -> None:
    normal = np.array([[0.00496], [0.004960000000000001], [0.00496], [0.004959999999999999], [0.00496]])
    anomalous = np.array([[0.0098]])
    z = baseline_zscores(normal, anomalous)
    assert np.isfinite(z).all() and z[0, 0] < 10


def test_exceedance_prefers_a_steady_series_leaving_its_range() -> None:
    rng = np.random.default_rng(0)
    steady = rng.normal(10, 1, 60)
    bursty = np.full(60, 0.005) + rng.normal(0, 1e-4, 60)
    bursty[[7, 31, 50]] = 30.0  # a tail percentile that spikes in normal operation
    normal = np.column_stack([steady, bursty])
    anomalous = np.column_stack([np.full(5, 30.0), np.r_[30.0, 0.005, 0.005, 30.0, 0.005]])
    plain = np.nanmax(baseline_zscores(normal, anomalous), axis=0)
    assert plain[1] > plain[0], "by robust z alone the bursty series wins"
    score = exceedance(normal, anomalous, persistence=2)
    assert score[0] > 3 * score[1]


def test_exceedance_persistence_ignores_one_sample_spikes() -> None:
    normal = np.random.default_rng(1).normal(0, 1, (50, 1))
    spike = np.array([[40.0], [0.0], [0.0]])
    assert exceedance(normal, spike, persistence=1)[0] > 5
    assert exceedance(normal, spike, persistence=2)[0] < 2


def test_shift_score_needs_samples_on_both_sides() -> None:
    assert np.isnan(shift_score(np.array([1.0, 2.0]), np.array([5.0, 6.0, 7.0])))
    assert shift_score(np.array([1.0, 2.0, 3.0, 2.0]), np.array([30.0, 31.0, 29.0])) > 10


def test_nan_percentiles_equal_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(size=(300, 60)) * rng.integers(1, 10**6, size=60)
    values[:, :10] = np.round(values[:, :10])  # repeated values: ties between neighbours
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, 50] = np.nan  # a series never reported
    values[1:, 51] = np.nan  # a single value
    values[:, 52] = 4.0  # flat without gaps
    q = [0, 10, 25, 50, 75, 90, 99.5, 100]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanpercentile(values, q, axis=0)
    np.testing.assert_array_equal(nan_percentiles(values, q), expected)


def test_exceedance_with_falls_scores_a_fall_as_far_as_a_rise() -> None:
    rng = np.random.default_rng(2)
    availability = 99.0 + rng.normal(0, 0.1, 60)  # normally steady near its ceiling
    latency = 0.2 + rng.normal(0, 0.01, 60)
    normal = np.column_stack([availability, latency])
    # availability falls by the same number of its own normal spreads as latency rises
    shift_a = 99.0 - 40 * (np.percentile(availability, 75) - np.percentile(availability, 25))
    shift_l = 0.2 + 40 * (np.percentile(latency, 75) - np.percentile(latency, 25))
    anomalous = np.column_stack([np.full(4, shift_a), np.full(4, shift_l)])
    up = exceedance(normal, anomalous, persistence=2)
    both = exceedance(normal, anomalous, persistence=2, falls=True)
    assert up[0] == 0.0 and up[1] > 5, "counting increases only ignores the fall"
    assert both[0] > 5 and both[0] == pytest.approx(both[1], rel=0.5)
    assert both[1] == up[1], "a rise scores the same either way"
    per_column = exceedance(normal, anomalous, persistence=2, falls=np.array([True, False]))
    assert per_column.tolist() == [both[0], up[1]], "falls count only where the mask says so"
    fallen = np.column_stack([np.full(4, shift_a), np.full(4, 0.2 - (shift_l - 0.2))])
    assert exceedance(normal, fallen, persistence=2, falls=np.array([True, False]))[1] == 0.0


def test_exceedance_with_falls_ignores_a_fall_within_the_normal_range() -> None:
    normal = np.random.default_rng(3).normal(10, 1, (80, 1))
    dip = np.full((4, 1), np.min(normal))  # as low as the baseline itself went
    assert exceedance(normal, dip, persistence=2, falls=True)[0] <= 1.0


def test_a_guard_keeps_a_fault_that_began_before_its_label_out_of_the_normal_range() -> None:
    rng = np.random.default_rng(4)
    normal = rng.normal(10, 1, (60, 1))
    normal[-2:] = 30.0  # the fault began two rows before the anomaly time
    anomalous = np.full((4, 1), 30.0)
    assert exceedance(normal, anomalous, persistence=2)[0] <= 1.0, "its first rows widened the range"
    assert exceedance(normal, anomalous, persistence=2, guard=2)[0] > 5
    short = normal[-15:]  # under GUARDED_BASELINE * guard rows: every row is kept
    assert exceedance(short, anomalous, persistence=2, guard=2)[0] == exceedance(short, anomalous, persistence=2)[0]
    steady = rng.normal(10, 1, (60, 1))
    assert exceedance(steady, anomalous, persistence=2, guard=2)[0] == pytest.approx(
        exceedance(steady, anomalous, persistence=2)[0], rel=0.5
    ), "a clean baseline scores about the same"


def test_levels_find_a_sustained_shift_that_hides_in_a_noisy_series_swings() -> None:
    rng = np.random.default_rng(5)
    values = ar1(rng, 160, 2)
    spread = values[:120].std(axis=0)
    normal, anomalous = values[:120], values[120:].copy()
    anomalous[:, 0] += 1.5 * spread[0]  # one series shifts by 1.5 of its own standard deviations, for 40 rows
    peaks = exceedance(normal, anomalous, persistence=2)
    assert peaks[0] < 1, "its samples stay within the baseline's widest swing"
    levels = level_exceedance(normal, anomalous)
    assert levels[0] > 1 > levels[1], "its level leaves the range of the baseline's levels; the other's does not"
    both = series_scores(normal, anomalous, scoring="levels")
    assert both.tolist() == np.maximum(peaks, np.minimum(levels, LEVEL_CAP)).tolist()


def test_levels_ignore_short_spikes_and_windows() -> None:
    normal = np.random.default_rng(6).normal(0, 1, (100, 1))
    spikes = np.zeros((20, 1))
    spikes[[3, 11]] = 40.0  # two samples far out: a peak, not a level
    assert level_exceedance(normal, spikes)[0] < 1
    few = np.full((LEVEL_ROWS - 1, 1), 40.0)
    assert level_exceedance(normal, few)[0] == 0.0, "too few rows for a level: peaks decide"


def test_levels_count_falls_only_where_asked_and_are_capped_in_the_score() -> None:
    normal = np.random.default_rng(7).normal(0, 1, (100, 2))
    anomalous = np.column_stack([np.full(20, -3.0), np.full(20, 30.0)])
    rises = level_exceedance(normal, anomalous)
    assert rises[0] == 0.0 and rises[1] > LEVEL_CAP
    assert level_exceedance(normal, anomalous, falls=np.array([True, False]))[0] > 1
    scores = series_scores(normal, anomalous, scoring="levels")
    assert scores[1] == exceedance(normal, anomalous, persistence=2)[1], "beyond the cap, peaks order the scores"
