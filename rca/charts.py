"""Chart data: the series an analysis shows around the anomaly, thinned, with their baseline bands."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rca.data.case import Case
from rca.rank.ranking import Ranking

CHART_CAUSES = 5
"""Top cause services whose strongest series an analysis keeps for charts."""
CHART_POINTS = 150
"""Points per charted series."""
CHART_BEFORE = 3
"""A chart shows up to this many times as much baseline as it shows data after the anomaly ..."""
CHART_MIN_BEFORE = 30
"""... and at least this many baseline samples."""


def series_windows(
    case: Case, ranking: Ranking, *, causes: int = CHART_CAUSES, points: int = CHART_POINTS
) -> list[dict[str, Any]]:
    """The symptom's series and the strongest series of each of the top ``causes`` services, each cut
    to at most ``points`` points, with its baseline band (the range and median of its values before the
    anomaly time).

    The window shows up to ``CHART_BEFORE`` times as much baseline as there is data after the anomaly
    (at least ``CHART_MIN_BEFORE`` samples), so a short incident is not squeezed against the edge; the
    band still comes from the whole baseline.

    Each bucket of consecutive samples keeps the one furthest from the baseline median, so that a
    spike survives the thinning.
    """
    frame = case.frame
    times = frame.index.to_numpy(dtype=float)
    before = times < case.inject_time
    symptom = ranking.info.get("symptom") or case.symptom
    service_rank: dict[str, int] = {}
    ranks: dict[str, int] = {}  # series -> its service's rank, as the ranking lists the causes
    charted: set[str] = set()
    for candidate in ranking.candidates:
        if candidate.service not in service_rank:
            if len(service_rank) == causes:
                continue
            service_rank[candidate.service] = len(service_rank) + 1
        if candidate.metric in frame.columns and candidate.service not in charted:  # pseudo-series have no data
            ranks[str(candidate.metric)] = service_rank[candidate.service]
            charted.add(candidate.service)
    chosen = [str(symptom)] if symptom in frame.columns else []
    chosen += [c for c in ranks if c != symptom]
    after = int((~before).sum())
    first = max(0, int(before.sum()) - max(CHART_BEFORE * after, CHART_MIN_BEFORE))  # the anomaly is what to see
    buckets = _bucket_indices(first, len(times), points)
    windows = []
    for column in chosen:
        values = frame[column].to_numpy(dtype=float)
        baseline = values[before][np.isfinite(values[before])]
        median = float(np.median(baseline)) if len(baseline) else float("nan")
        deviation = np.nan_to_num(np.abs(values - median), nan=-1.0)
        picked = _furthest(deviation, buckets)
        windows.append(
            {
                "id": column,
                "service": case.telemetry.series[column][0],
                "rank": ranks.get(column),
                "symptom": column == symptom,
                "anomaly_time": case.inject_time,
                "time": times[picked].tolist(),
                "values": [float(f"{v:.6g}") if math.isfinite(v) else None for v in values[picked].tolist()],
                "baseline": None
                if not len(baseline)
                else {"low": float(baseline.min()), "median": median, "high": float(baseline.max())},
            }
        )
    return windows


def _bucket_indices(first: int, end: int, points: int) -> np.ndarray:
    """Indices ``first..end-1`` cut into at most ``points`` consecutive buckets as ``np.array_split`` cuts
    them, one bucket a row, rows padded with -1 (a matrix, so every bucket is searched in one call)."""
    buckets = [b for b in np.array_split(np.arange(first, end), max(1, min(points, end - first))) if len(b)]
    width = max((len(b) for b in buckets), default=0)
    matrix = np.full((len(buckets), width), -1, dtype=int)
    for row, bucket in enumerate(buckets):
        matrix[row, : len(bucket)] = bucket
    return matrix


def _furthest(deviation: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """Per bucket (a row of :func:`_bucket_indices`) the index of its largest ``deviation``, the first on ties."""
    if buckets.size == 0:
        return np.empty(0, dtype=int)
    padded = np.where(buckets >= 0, deviation[buckets], -np.inf)
    furthest: np.ndarray = buckets[np.arange(len(buckets)), np.argmax(padded, axis=1)]
    return furthest
