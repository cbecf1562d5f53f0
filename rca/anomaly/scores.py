"""Per-series anomaly scores against a pre-anomaly baseline.

The scores are scale-free: a series in bytes and one in percent are compared on the same footing.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

Center = Literal["median", "mean"]
Scale = Literal["iqr", "std"]


def _center(values: np.ndarray, how: Center) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = np.nanmedian(values, axis=0) if how == "median" else np.nanmean(values, axis=0)
    return np.asarray(result, dtype=float)


def _spread(values: np.ndarray, how: Scale) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "iqr":
            q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
            return np.asarray(q75 - q25, dtype=float)
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
    a series flat over the whole window scores 0.

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
    spread = _spread(normal, scale)
    flat = ~(spread > 0)
    if flat.any():
        whole = _spread(np.vstack([normal, anomalous])[:, flat], scale)
        if scale == "iqr":
            # A mostly-flat window has IQR 0 even when it jumps; fall back to its standard deviation.
            std = _spread(np.vstack([normal, anomalous])[:, flat], "std")
            whole = np.where(whole > 0, whole, std)
        spread = spread.copy()
        spread[flat] = whole
    with np.errstate(divide="ignore", invalid="ignore"):
        z: np.ndarray = (anomalous - mid) / spread
    z[:, ~(spread > 0) & np.isfinite(mid)] = 0.0
    return z


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
