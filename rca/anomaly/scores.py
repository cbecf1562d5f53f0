"""Per-series anomaly scores against a pre-anomaly baseline.

The scores are scale-free: a series in bytes and one in percent are compared on the same footing.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

Center = Literal["median", "mean"]
Scale = Literal["iqr", "std"]
Scoring = Literal["exceedance", "levels", "zscore"]

GUARDED_BASELINE = 10
"""A baseline needs this many times ``guard`` rows before its last rows are left out of its swing
(:func:`exceedance`): a short baseline keeps every row it has."""
LEVEL_ROWS = 5
"""The fewest rows a level is taken over (:func:`level_exceedance`): fewer, and a level is a peak."""
LEVEL_STRETCHES = 4
"""A level's baseline holds at least this many stretches of its rows (:func:`level_exceedance`): the range of
the levels of two stretches is a guess, and a guess too narrow turns a drifting tail percentile into a fault."""
LEVEL_FLOOR = 0.5
"""The smallest swing of the baseline's levels a level is measured against, in IQRs (:func:`level_exceedance`):
the medians of a steady series' stretches hardly move, and a level that leaves them by a hair is not a fault."""
LEVEL_CAP = 3.0
"""The most a level counts in ``scoring="levels"`` (:func:`series_scores`), in multiples of its baseline's range:
levels find sustained shifts that peaks miss; among series far out of their range, peaks keep the order
(a steady CPU that rises with a leaking memory must not outrank it by its smoother level)."""
RELATIVE_RESOLUTION = 1e-9
"""Spreads below this share of a series' level are floating-point rounding, not variation: an
aggregate such as ``0.00496`` and ``0.004960000000000001`` is one value, and dividing by their
difference would turn any real change into a score of 10^16."""


def nan_percentiles(values: np.ndarray, q: list[float]) -> np.ndarray:
    """``numpy.nanpercentile(values, q, axis=0)`` (linear method, same bits), vectorised over columns.

    numpy computes NaN-aware percentiles one column at a time, a Python loop that dominated scoring on
    gapped data (hundreds of series with missing rows). Columns without NaN take ``numpy.percentile``;
    the others are sorted once (NaN last) and interpolated at each column's own count of values with
    numpy's own formulas (index ``(n - 1) q``, ``_lerp``), so the result is bit-identical.
    """
    values = np.asarray(values, dtype=float)
    out = np.full((len(q), values.shape[1]), np.nan)
    gaps = np.isnan(values).any(axis=0)
    if len(values) and (~gaps).any():
        out[:, ~gaps] = np.percentile(values[:, ~gaps], q, axis=0)
    if gaps.any():
        out[:, gaps] = _gapped_percentiles(values[:, gaps], q)
    return out


def _gapped_percentiles(values: np.ndarray, q: list[float]) -> np.ndarray:
    counts = (~np.isnan(values)).sum(axis=0)
    ordered = np.sort(values, axis=0)
    virtual = (counts - 1)[None, :] * np.true_divide(np.asarray(q, dtype=float), 100)[:, None]
    below = np.floor(virtual)
    last = np.maximum(counts - 1, 0)[None, :]
    above = virtual >= last
    lower = np.where(above, last, below).astype(np.intp)
    upper = np.where(above, last, below + 1).astype(np.intp)
    a = np.take_along_axis(ordered, lower, axis=0)
    b = np.take_along_axis(ordered, upper, axis=0)
    t = virtual - below
    diff = b - a
    result = a + diff * t
    np.subtract(b, diff * (1 - t), out=result, where=t >= 0.5)
    result[:, counts == 0] = np.nan
    return np.asarray(result, dtype=float)


def _center(values: np.ndarray, how: Center) -> np.ndarray:
    if how == "median":
        return np.asarray(nan_percentiles(values, [50])[0], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmean(values, axis=0), dtype=float)


def _spread(values: np.ndarray, how: Scale) -> np.ndarray:
    if how == "iqr":
        q75, q25 = nan_percentiles(values, [75, 25])
        return np.asarray(q75 - q25, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanstd(values, axis=0), dtype=float)


def baseline_zscores(
    normal: np.ndarray,
    anomalous: np.ndarray,
    *,
    center: Center = "median",
    scale: Scale = "iqr",
) -> np.ndarray:
    """Standardise the anomalous part of each series by its baseline.

    ``z = (x - center(baseline)) / spread(baseline)``, column by column. With ``center="median"`` and
    ``scale="iqr"`` this is the robust scaling of BARO; with ``"mean"`` and ``"std"`` the n-sigma rule.
    Where the baseline has no spread (a flat series), the spread of the whole window is used, so a
    flat baseline does not turn a small change into an infinite score and units stay irrelevant;
    a series flat over the whole window scores 0. Spreads below :data:`RELATIVE_RESOLUTION` of the
    baseline level count as flat (floating-point rounding of an aggregate is not variation).

    Parameters
    ----------
    normal
        Baseline values, shape ``(T0, N)``; NaN is missing.
    anomalous
        Values from the anomaly time on, shape ``(T1, N)``.

    Returns
    -------
    numpy.ndarray
        ``(T1, N)`` standardised values; NaN where a series has no baseline.
    """
    normal = np.asarray(normal, dtype=float)
    anomalous = np.asarray(anomalous, dtype=float)
    mid = _center(normal, center)
    resolution = RELATIVE_RESOLUTION * np.nan_to_num(np.abs(mid))
    spread = _spread(normal, scale)
    flat = ~(spread > resolution)
    if flat.any():
        whole = _spread(np.vstack([normal, anomalous])[:, flat], scale)
        if scale == "iqr":
            # A mostly-flat window has IQR 0 even when it jumps; fall back to its standard deviation.
            std = _spread(np.vstack([normal, anomalous])[:, flat], "std")
            whole = np.where(whole > resolution[flat], whole, std)
        spread = spread.copy()
        spread[flat] = whole
    with np.errstate(divide="ignore", invalid="ignore"):
        z: np.ndarray = (anomalous - mid) / spread
    z[:, ~(spread > resolution) & np.isfinite(mid)] = 0.0
    return z


def exceedance(
    normal: np.ndarray,
    anomalous: np.ndarray,
    *,
    persistence: int = 1,
    falls: bool | np.ndarray = False,
    guard: int = 0,
) -> np.ndarray:
    """How far each series moves beyond anything its own baseline showed.

    The ``persistence``-th largest robust z-score (:func:`baseline_zscores`) after the anomaly time,
    divided by the largest ``|z|`` of the baseline itself (at least 1). A series whose normal
    period already swings far (a tail percentile, a bursty counter) must swing further to count,
    as with thresholds drawn from the extremes of normal data (Siffer et al., "Anomaly Detection in
    Streams with Extreme Value Theory", KDD 2017); ``persistence=2`` ignores a shift that lasts a
    single sample. Increases count; where ``falls`` (for every series, or per column) falls count
    too, on the same scale (the ``persistence``-th largest ``-z`` over the same normal range), and the
    larger of the two is taken, so an availability that drops out of its range scores as much as a
    latency that rises as far. 0 where a series has no value.

    The last ``guard`` rows of the baseline are left out of its widest swing (not of its median and
    spread) when it holds at least ``GUARDED_BASELINE * guard`` rows: a fault often begins a row or two
    before its label or its alert, and those rows would otherwise widen the normal range the fault is
    measured against, by as much as the fault itself.
    """
    return _peaks(*_baseline_and_after(normal, anomalous, guard), persistence, falls)


def _baseline_and_after(normal: np.ndarray, anomalous: np.ndarray, guard: int) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-scores (:func:`baseline_zscores`) of the baseline, without its last ``guard`` rows when it
    holds ``GUARDED_BASELINE * guard`` or more, and of the rows after the anomaly time."""
    guarded = normal[:-guard] if guard > 0 and len(normal) >= GUARDED_BASELINE * guard else normal
    return baseline_zscores(normal, guarded), baseline_zscores(normal, anomalous)


def _peaks(base: np.ndarray, after: np.ndarray, persistence: int, falls: bool | np.ndarray) -> np.ndarray:
    """:func:`exceedance` from the z-scores of :func:`_baseline_and_after`."""
    own = np.maximum(np.nan_to_num(max_abs(base)), 1.0)
    return _beyond(after, own, persistence, falls)


def _beyond(z: np.ndarray, own: np.ndarray, k: int, falls: bool | np.ndarray) -> np.ndarray:
    """The ``k``-th largest rise of each column of ``z`` (and of its fall, the larger, where ``falls``) over ``own``."""
    moved = _kth_largest(z, k)
    falls = np.broadcast_to(np.asarray(falls, dtype=bool), moved.shape)
    if falls.any():
        moved = np.where(falls, np.maximum(moved, _kth_largest(-z, k)), moved)
    return np.asarray(moved / own, dtype=float)


def level_exceedance(
    normal: np.ndarray, anomalous: np.ndarray, *, falls: bool | np.ndarray = False, guard: int = 0
) -> np.ndarray:
    """How far the level after the anomaly time moves beyond the levels the baseline's own stretches showed.

    A level is the median robust z-score (:func:`baseline_zscores`) of ``w`` consecutive rows, ``w`` the
    rows after the anomaly time or a :data:`LEVEL_STRETCHES`-th of the baseline's, whichever is fewer.
    The score is the highest level after the anomaly time divided by the largest ``|level|`` of the
    baseline's stretches of ``w`` rows (at least :data:`LEVEL_FLOOR`): :func:`exceedance` at the time
    scale of the fault rather than of one sample. A sustained shift of a few standard deviations hides
    in a noisy series' swings, but a median of ``w`` rows swings ``sqrt(w)`` times less, so the shift
    leaves its levels' range. Falls count where ``falls``, as in :func:`exceedance`; the baseline's last
    ``guard`` rows are left out under the same rule. 0 where ``w`` is under :data:`LEVEL_ROWS` (a level
    of one or two rows is a peak).
    """
    return _level_peaks(*_baseline_and_after(normal, anomalous, guard), falls)


def _level_peaks(base: np.ndarray, after: np.ndarray, falls: bool | np.ndarray) -> np.ndarray:
    """:func:`level_exceedance` from the z-scores of :func:`_baseline_and_after`."""
    rows = min(len(after), len(base) // LEVEL_STRETCHES)
    if rows < LEVEL_ROWS:
        return np.zeros(base.shape[1])
    own = np.maximum(np.nan_to_num(max_abs(_levels(base, rows))), LEVEL_FLOOR)
    return _beyond(_levels(after, rows), own, 1, falls)


def _levels(z: np.ndarray, rows: int) -> np.ndarray:
    """Running medians over ``rows`` consecutive rows of each column (NaN skipped; NaN where all are)."""
    medians = pd.DataFrame(z).rolling(rows, min_periods=1).median()  # a sorted window: O(log rows) a step
    return np.asarray(medians.to_numpy(dtype=float)[rows - 1 :], dtype=float)


def _kth_largest(z: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th largest value of each column, floored at 0 (0 where a column has fewer finite values)."""
    ordered = -np.sort(-np.nan_to_num(z, nan=-np.inf), axis=0)
    if not len(ordered):
        return np.zeros(z.shape[1])
    value = np.clip(ordered[min(max(k, 1), len(ordered)) - 1], 0.0, None)
    return np.where(np.isfinite(value), value, 0.0)


def series_scores(
    normal: np.ndarray,
    anomalous: np.ndarray,
    *,
    falls: bool | np.ndarray = False,
    scoring: Scoring = "exceedance",
    persistence: int = 2,
    guard: int = 0,
) -> np.ndarray:
    """One anomaly score per series (column): how far it moved after the anomaly time.

    ``scoring="exceedance"``: :func:`exceedance` (with ``guard``); ``"levels"``: the larger of that and
    :func:`level_exceedance`; ``"zscore"``: BARO's largest robust z-score
    (increases only, at least 0), or the largest ``|z|`` where ``falls`` (for every series, or per
    column). Always finite (0 where a series has no value).
    """
    if scoring in ("exceedance", "levels"):
        base, after = _baseline_and_after(normal, anomalous, guard)  # once for both scores
        peaks = _peaks(base, after, persistence, falls)
        if scoring == "exceedance":
            return peaks
        levels = np.minimum(_level_peaks(base, after, falls), LEVEL_CAP)
        return np.asarray(np.maximum(peaks, levels), dtype=float)
    z = baseline_zscores(normal, anomalous)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rises = np.nan_to_num(np.nanmax(z, axis=0), nan=0.0).clip(min=0.0)
    return np.asarray(np.where(falls, np.nan_to_num(max_abs(z)), rises), dtype=float)


def robust_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and spread of each column: the IQR, else the standard deviation, else 1.

    What standardises a whole history for learning (where :func:`baseline_zscores` scores a
    window against its own baseline); never 0 or NaN, so dividing by it is always defined.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        center, q75, q25 = nan_percentiles(values, [50, 75, 25])
        std = np.nanstd(values, axis=0)
    scale = np.where(q75 - q25 > 0, q75 - q25, np.where(std > 0, std, 1.0))
    return np.nan_to_num(center), np.nan_to_num(scale, nan=1.0)


def shift_score(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Median robust z-score of ``anomalous`` samples against ``normal`` samples of one quantity.

    Used for per-request measurements such as call delays: the median of many requests after the
    anomaly time, on the scale of the baseline requests (BARO's median / IQR); NaN when either side
    has fewer than three samples.
    """
    normal = np.asarray(normal, dtype=float)
    anomalous = np.asarray(anomalous, dtype=float)
    if len(normal) < 3 or len(anomalous) < 3:
        return float("nan")
    z = baseline_zscores(normal[:, None], anomalous[:, None])[:, 0]
    return float(np.median(z))


def max_abs(z: np.ndarray) -> np.ndarray:
    """The largest ``|z|`` of each column (NaN for an all-missing column)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = np.nanmax(np.abs(z), axis=0) if len(z) else np.full(z.shape[1], np.nan)
    return np.asarray(result, dtype=float)


def onset_index(z: np.ndarray, threshold: float = 3.0) -> np.ndarray:
    """For each column, the first row where ``|z| >= threshold`` (-1 if never)."""
    above = np.abs(np.nan_to_num(z, nan=0.0)) >= threshold
    first = above.argmax(axis=0)
    return np.where(above.any(axis=0), first, -1)
