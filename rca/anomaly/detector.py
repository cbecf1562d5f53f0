"""Online incident detection with the ranking's own notion of "anomalous".

A streaming detector that opens an incident when a series leaves its normal range and stays out,
and closes it when every series involved is back, without a storm of duplicates:

- Each new point is scored as the ranking scores a series (:func:`rca.anomaly.scores.exceedance`):
  its robust z-score against the series' normal history (median and IQR; BARO's scaling), divided
  by the largest ``|z|`` that history itself shows (at least 1). A score of 1 just reaches the
  widest normal swing; the ranking counts a series as out of its normal range above that
  (``rca.methods.run.NORMAL_RANGE``), and the detector asks for ``threshold`` times it. Increases
  only, as the ranking, except for series whose fall is a fault (errors, success rate, availability:
  :func:`rca.data.case.counts_falls`), where a fall counts as much.
- The normal history is what the service knows: every normal point the detector was fed (the
  watcher feeds it the whole retained store at start-up), up to ``history_points`` per series; where
  a registered model learnt a series' median and IQR on its training history, those are used.
- The widest normal swing is measured over the long history: every point the series showed, also
  during incidents and in anomalous runs once they ended, except the run in progress. A series that
  swings far now and then (the latency percentile of a rarely called service, where a handful of
  slow calls is the whole sample) has that swing in its range after its first excursion, as the
  ranking's baseline would; a fault's own rise, while it lasts, is not part of it.
- Series already scored elsewhere (a service's log change, :mod:`rca.anomaly.log_feed`) are fed as
  scores (:meth:`IncidentDetector.update_score`), in units of the ranking's normal range, and count as
  anomalous from ``score_threshold``; the opening, joining and closing rules are the same.
- ``open_after`` consecutive anomalous points of one series open an incident (the ranking's
  ``persistence``: a single-sample spike is not a fault); while it is open, anomalous points of
  any series join it rather than opening new ones. Its onset is the first of those points.
- ``close_after`` consecutive normal points on every series of the incident close it.
- Points that are anomalous, or arrive while an incident is open, do not enter the history, so a
  long incident does not become the new normal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rca.anomaly.scores import RELATIVE_RESOLUTION
from rca.data.case import counts_falls, split_series_name


@dataclass
class IncidentEvent:
    """An incident opening or closing.

    Attributes
    ----------
    kind
        ``"opened"`` or ``"closed"``.
    time
        The time of the point that triggered the event.
    onset
        When the series that opened the incident first went anomalous.
    symptoms
        The series involved, with the largest score (:meth:`IncidentDetector.score`) each reached.
    previous_close
        When the incident before this one closed (data after it is clean), ``None`` for the first.
    """

    kind: Literal["opened", "closed"]
    time: float
    onset: float
    symptoms: dict[str, float]
    previous_close: float | None = None


def _metric_counts_falls(series: str) -> bool:
    """Whether a fall of ``<service>_<metric>`` counts (:func:`rca.data.case.counts_falls` of its metric)."""
    return counts_falls(split_series_name(series)[1])


@dataclass
class _SeriesState:
    history: deque[float]
    run_above: int = 0
    run_below: int = 0
    first_above: float | None = None
    last_time: float | None = None
    stats: tuple[float, float, float] | None = None
    stats_size: int = 0
    appended: int = 0
    known: deque[float] = field(default_factory=deque)
    """Every point fed except the anomalous run in progress: where the widest swing is measured."""
    run: list[float] = field(default_factory=list)
    """The values of the anomalous run in progress."""
    falls: bool = False
    """Whether a fall counts as much as a rise (``IncidentDetector.falls``, read once per series)."""


@dataclass
class IncidentDetector:
    """Streaming detector over a set of series (see the module docstring).

    Parameters
    ----------
    threshold
        Score (multiples of the widest normal swing) at or above which a point is anomalous.
    open_after
        Consecutive anomalous points of one series that open an incident.
    close_after
        Consecutive normal points (on every series of the incident) that close it.
    history_points
        Normal points kept per series (the oldest are dropped beyond this).
    min_history
        Points needed before a series is scored at all.
    resolution
        Rises below this share of a series' level are never anomalous: a memory gauge that held
        still for an hour and then grows by one allocation arena (0.1 %) has not left its normal range,
        although it is far outside its (tiny) IQR. Not for series whose fall counts (``falls``): an
        availability of 99.9 % that drops to 99 % is ten times the errors.
    prior
        Series -> ``(median, IQR)`` learnt on longer history (a registered model); these replace
        the history's own median and IQR, and the swing is measured against them.
    score_threshold
        Score at or above which a point of a series fed as a score (:meth:`update_score`: a log
        change, already in units of the ranking's normal range) is anomalous.
    falls
        Series name -> whether a fall counts as much as a rise (by default the metric part of
        ``<service>_<metric>`` read by :func:`rca.data.case.counts_falls`, as the ranking reads it).
    """

    threshold: float = 20.0
    open_after: int = 2
    close_after: int = 5
    history_points: int = 10_000
    min_history: int = 30
    resolution: float = 0.01
    prior: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    score_threshold: float = 6.0
    falls: Callable[[str], bool] = _metric_counts_falls
    _series: dict[str, _SeriesState] = field(default_factory=dict, init=False, repr=False)
    _open: IncidentEvent | None = field(default=None, init=False, repr=False)
    last_closed: float | None = field(default=None, init=False)
    """When the last incident closed (a baseline for analyses starts after it)."""

    @property
    def open_incident(self) -> IncidentEvent | None:
        """The incident currently open, if any."""
        return self._open

    def score(self, series: str, value: float) -> float | None:
        """How far ``value`` rises beyond the series' normal range (``None`` while it has none yet).

        ``max(z, 0) / max(swing, 1)`` with ``z`` the robust z-score against the history and
        ``swing`` the largest ``|z|`` of the history itself, as :func:`rca.anomaly.scores.exceedance`;
        ``|z|`` in place of ``max(z, 0)`` for a series whose fall is a fault (``falls``).
        """
        state = self._series.get(series)
        if state is None or len(state.history) < self.min_history:
            return None
        if state.stats is None or state.appended - state.stats_size > max(1, state.stats_size // 50):
            # recomputed as the history grows by 2 %: the median and IQR of a long history barely move
            state.stats = self._stats(
                series, np.fromiter(state.history, dtype=float), np.fromiter(state.known, dtype=float), state.falls
            )
            state.stats_size = state.appended
        center, spread, swing = state.stats
        if spread <= 0:
            return None  # a series that has not varied yet has no normal range to leave
        z = (value - center) / spread
        return float((abs(z) if state.falls else max(z, 0.0)) / max(swing, 1.0))

    def _stats(self, series: str, history: np.ndarray, known: np.ndarray, falls: bool) -> tuple[float, float, float]:
        """Median, spread (0 when flat) of a normal history, and the widest swing of the long one (``known``).

        The spread is the IQR, else (a mostly flat history) the standard deviation, as in
        :func:`rca.anomaly.scores.baseline_zscores`; spreads below its resolution count as flat.
        """
        if series in self.prior and self.prior[series][1] > 0:
            center, spread = self.prior[series]
        else:
            center = float(np.median(history))
            q75, q25 = np.percentile(history, [75, 25])
            spread = float(q75 - q25)
            if not spread > RELATIVE_RESOLUTION * abs(center):
                spread = float(np.std(history))
        if not spread > RELATIVE_RESOLUTION * abs(center):
            return center, 0.0, 0.0
        if not falls:  # a share of the level says nothing of an availability near 100 %
            spread = max(spread, self.resolution * abs(center))
        return center, spread, float(np.max(np.abs(known - center), initial=0.0)) / spread

    def update(self, series: str, time: float, value: float) -> list[IncidentEvent]:
        """Feed one point; returns the events it triggers (usually none).

        Points of one series must arrive in time order; a point not newer than the last one seen for
        its series is ignored (at-least-once delivery may repeat points).
        """
        state = self._state(series, time, value)
        if state is None:
            return []
        score = self.score(series, value)
        anomalous = score is not None and score >= self.threshold
        if anomalous:
            state.run.append(value)
        else:
            state.known.extend([*state.run, value])
            if state.run:
                state.run.clear()
                state.stats = None  # the ended run widens the swing
            if self._open is None:
                state.history.append(value)
                state.appended += 1
        return self._step(series, state, time, score if anomalous else None)

    def update_score(self, series: str, time: float, score: float) -> list[IncidentEvent]:
        """Feed one point of a series already scored (see ``score_threshold``); returns its events."""
        state = self._state(series, time, score)
        if state is None:
            return []
        return self._step(series, state, time, score if score >= self.score_threshold else None)

    def _state(self, series: str, time: float, value: float) -> _SeriesState | None:
        """The series' state, or ``None`` when the point is not finite or not newer than its last one."""
        state = self._series.get(series)
        if state is None:
            state = self._series[series] = _SeriesState(
                deque(maxlen=self.history_points), known=deque(maxlen=self.history_points), falls=self.falls(series)
            )
        if not np.isfinite(value) or (state.last_time is not None and time <= state.last_time):
            return None
        state.last_time = time
        return state

    def _step(self, series: str, state: _SeriesState, time: float, anomalous: float | None) -> list[IncidentEvent]:
        """Runs, opening, joining and closing for one point; ``anomalous`` is its score when it is anomalous."""
        if anomalous is not None:
            state.run_above += 1
            state.run_below = 0
            if state.first_above is None:
                state.first_above = time
            if self._open is not None:
                self._open.symptoms[series] = max(self._open.symptoms.get(series, 0.0), anomalous)
            elif state.run_above >= self.open_after:
                self._open = IncidentEvent("opened", time, state.first_above, {series: anomalous}, self.last_closed)
                return [self._open]
            return []
        state.run_above = 0
        state.first_above = None
        state.run_below += 1
        if self._open is not None and self._recovered():
            opened, self._open = self._open, None
            closed = IncidentEvent("closed", time, opened.onset, dict(opened.symptoms), opened.previous_close)
            self.last_closed = time
            return [closed]
        return []

    def _recovered(self) -> bool:
        assert self._open is not None
        return all(self._series[s].run_below >= self.close_after for s in self._open.symptoms)
