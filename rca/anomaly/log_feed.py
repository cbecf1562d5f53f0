"""The log signal of the incident detector: each service's log change per time bucket, as the ranking scores it.

A code-level fault (a wrong return value, an exception) barely moves a metric; it shows in the logs
of the service where it arises (:mod:`rca.anomaly.logs`). So the detector watches, beside the
metric series, one pseudo-series per service, ``<service>_log_change`` (the ranking's
:data:`rca.anomaly.logs.LOG_CHANGE` series): the log change of each complete time bucket's records
against the service's normal mix (:meth:`rca.anomaly.logs.LogNormal.changes`, the ranking's own
scorer), in units of :data:`rca.anomaly.logs.Z_UNIT`. A service known to the normal that wrote
nothing in a bucket scores 0 there (no evidence of a change), so its series keeps a point per
bucket and an incident it joined can close.

The normal is what the service knows: a registered model's :class:`~rca.anomaly.logs.LogNormal` when
it has one, else one fitted on the buckets fed so far that were normal (no incident open, no service
anomalous), refitted as they grow. :func:`feed` puts metric rows and log buckets into the detector
in time order; the watcher and the benchmarks both go through it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rca.anomaly.detector import IncidentDetector, IncidentEvent
from rca.anomaly.logs import LOG_CHANGE, Z_UNIT, LogNormal


@dataclass
class LogChangeFeed:
    """Per-service log-change scores per bucket, against a normal that grows with the normal buckets.

    Parameters
    ----------
    bucket_seconds
        Width of a bucket (the store's log bucket); the normal's variation is measured over
        windows of this width, the width of what is scored.
    history_records
        Normal records kept for fitting (the oldest buckets are dropped beyond this).
    refit_growth
        The normal is refitted when the kept normal records have grown by this share since the last fit
        (a fit parses every record, so not at every bucket).
    prior
        A registered model's fitted normal; used instead of the fed buckets' when set.
    idle_buckets
        Empty buckets given after the last record of a stretch without any (see :meth:`buckets`).
    """

    bucket_seconds: float = 60.0
    history_records: int = 500_000
    refit_growth: float = 0.25
    prior: LogNormal | None = None
    idle_buckets: int = 30
    normal_: LogNormal | None = field(default=None, init=False)
    next_bucket: float | None = field(default=None, init=False)
    """Start of the first bucket not fed yet."""
    _pool: deque[pd.DataFrame] = field(default_factory=deque, init=False, repr=False)
    _pooled: int = field(default=0, init=False, repr=False)
    _fitted: int = field(default=0, init=False, repr=False)

    @property
    def normal(self) -> LogNormal | None:
        """The normal scored against: the prior, else the one fitted on the normal buckets (``None`` before any)."""
        return self.prior if self.prior is not None and self.prior.services_ else self.normal_

    def buckets(self, logs: pd.DataFrame | None, until: float) -> list[tuple[float, pd.DataFrame]]:
        """``(bucket end, records)`` of the complete buckets (end ``<= until``) not fed yet, in time order.

        Records before :attr:`next_bucket` are ignored (they were fed); the first call starts at the
        bucket of the first record. Of a stretch without any record, the first ``idle_buckets`` buckets
        are given (empty), enough for an incident to close; the rest of a long silence is skipped.
        """
        width = self.bucket_seconds
        times = np.zeros(0) if logs is None else logs["time"].to_numpy(dtype=float)
        if self.next_bucket is None:
            if not len(times):
                return []
            self.next_bucket = float(np.floor(times.min() / width) * width)
        last = float(np.floor(until / width) * width)  # the first incomplete bucket
        if last <= self.next_bucket:
            return []
        index = np.floor(times / width) * width
        keep = (index >= self.next_bucket) & (index < last)
        grouped: dict[float, pd.DataFrame] = {}
        if logs is not None and keep.any():
            kept, buckets = logs.loc[keep], index[keep]
            grouped = {float(b): kept.loc[buckets == b] for b in np.unique(buckets)}
        out: list[tuple[float, pd.DataFrame]] = []
        previous = self.next_bucket - width
        for start in [*grouped, last]:
            idle = np.arange(previous + width, start, width)[: self.idle_buckets]
            out += [(float(b + width), _EMPTY) for b in idle]
            if start < last:
                out.append((start + width, grouped[start]))
            previous = start
        self.next_bucket = last
        return out

    def scores(self, records: pd.DataFrame) -> dict[str, float]:
        """``<service>_log_change -> score`` of one bucket's records (every service of the normal; none without one)."""
        normal = self.normal
        if normal is None:
            return {}
        out = {f"{service}_{LOG_CHANGE}": 0.0 for service in normal.services_}
        if not records.empty:
            for service, change in normal.changes(records).items():
                out[f"{service}_{LOG_CHANGE}"] = change.score / Z_UNIT
        return out

    def learn(self, records: pd.DataFrame) -> None:
        """Add a normal bucket's records to the normal; refit when they have grown by ``refit_growth``."""
        if records.empty:
            return
        self._pool.append(records)
        self._pooled += len(records)
        while len(self._pool) > 1 and self._pooled - len(self._pool[0]) >= self.history_records:
            self._pooled -= len(self._pool.popleft())
        if self.normal_ is None or self._pooled >= (1.0 + self.refit_growth) * self._fitted:
            self.normal_ = LogNormal(window=self.bucket_seconds).fit(pd.concat(list(self._pool), ignore_index=True))
            self._fitted = self._pooled


_EMPTY = pd.DataFrame({"time": pd.Series(dtype=float), "service": pd.Series(dtype=str)})


def feed(
    detector: IncidentDetector,
    frame: pd.DataFrame,
    logs: pd.DataFrame | None = None,
    log_feed: LogChangeFeed | None = None,
    *,
    until: float | None = None,
) -> list[IncidentEvent]:
    """Feed metric rows and complete log buckets to ``detector`` in time order; returns its events.

    Parameters
    ----------
    frame
        Metric rows (time index, one column per watched series); missing values are skipped.
    logs
        Log records (:data:`rca.data.logs.LOG_COLUMNS`) of the same period, or ``None``.
    log_feed
        Scores the log buckets (none: metrics only). A bucket is fed at its end, after the metric
        rows of that time; it becomes normal history when no incident is open after it and no
        service was anomalous in it.
    until
        Data time up to which log buckets are complete (default: the last row's time).
    """
    index = frame.index.to_numpy(dtype=float)
    until = float(index[-1]) if until is None and len(index) else until
    columns = [str(c) for c in frame.columns]
    values = frame.to_numpy(dtype=float)
    events: list[IncidentEvent] = []
    position = 0
    if log_feed is not None and until is not None:
        for end, records in log_feed.buckets(logs, until):
            while position < len(index) and index[position] <= end:
                events += _row(detector, columns, float(index[position]), values[position])
                position += 1
            scores = log_feed.scores(records)
            for series, score in scores.items():
                events += detector.update_score(series, end, score)
            if detector.open_incident is None and all(s < detector.score_threshold for s in scores.values()):
                log_feed.learn(records)
    for row in range(position, len(index)):
        events += _row(detector, columns, float(index[row]), values[row])
    return events


def _row(detector: IncidentDetector, columns: list[str], time: float, row: np.ndarray) -> list[IncidentEvent]:
    events: list[IncidentEvent] = []
    for column, value in zip(columns, row, strict=True):
        if np.isfinite(value):
            events += detector.update(column, time, float(value))
    return events


__all__ = ["LogChangeFeed", "feed"]
