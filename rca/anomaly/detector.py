"""Online incident detection on symptom series (latency, error rate).

A streaming detector that opens an incident when a symptom stays anomalous, and closes it when the
symptom has recovered, without a storm of duplicates:

- Each new point is scored against a trailing baseline of the series (median and MAD of the last
  ``baseline_points`` normal points), the robust z-score of Iglewicz and Hoaglin (1993).
- ``open_after`` consecutive points with ``z >= threshold`` open an incident; while it is open, further
  anomalous points of any watched symptom join the same incident rather than opening new ones.
- ``close_after`` consecutive points with ``z < threshold`` on every symptom of the incident close it.
- Points that belong to an incident do not enter the baseline, so a long incident does not become the
  new normal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

MAD_TO_SIGMA = 1.4826
"""Scale factor that makes the MAD a consistent estimator of the standard deviation under normality."""


@dataclass
class IncidentEvent:
    """An incident opening or closing.

    Attributes
    ----------
    kind
        ``"opened"`` or ``"closed"``.
    time
        The time of the point that triggered the event (the first anomalous point's time for
        ``"opened"`` is in ``onset``).
    onset
        When the symptom first went anomalous (the anomaly time to analyse from).
    symptoms
        The symptom series involved, with their largest robust z-score so far.
    """

    kind: Literal["opened", "closed"]
    time: float
    onset: float
    symptoms: dict[str, float]


@dataclass
class _SeriesState:
    baseline: deque[float]
    run_above: int = 0
    run_below: int = 0
    first_above: float | None = None
    last_time: float | None = None


@dataclass
class IncidentDetector:
    """Streaming detector over a set of symptom series (see the module docstring).

    Parameters
    ----------
    threshold
        Robust z-score at or above which a point is anomalous.
    open_after
        Consecutive anomalous points that open an incident.
    close_after
        Consecutive normal points (on all involved symptoms) that close it.
    baseline_points
        Length of the trailing baseline.
    min_baseline
        Points needed before a series is scored at all.
    direction
        ``"up"`` flags increases only (latency, error rate), ``"both"`` also decreases.
    """

    threshold: float = 5.0
    open_after: int = 3
    close_after: int = 5
    baseline_points: int = 120
    min_baseline: int = 20
    direction: Literal["up", "both"] = "up"
    _series: dict[str, _SeriesState] = field(default_factory=dict, init=False, repr=False)
    _open: IncidentEvent | None = field(default=None, init=False, repr=False)

    @property
    def open_incident(self) -> IncidentEvent | None:
        """The incident currently open, if any."""
        return self._open

    def score(self, series: str, value: float) -> float | None:
        """The robust z-score of ``value`` against the series' baseline (``None`` while warming up)."""
        state = self._series.get(series)
        if state is None or len(state.baseline) < self.min_baseline:
            return None
        history = np.fromiter(state.baseline, dtype=float)
        median = float(np.median(history))
        mad = float(np.median(np.abs(history - median))) * MAD_TO_SIGMA
        if mad <= 0:
            mad = float(np.std(history)) or max(abs(median) * 1e-3, 1e-9)
        z = (value - median) / mad
        return z if self.direction == "both" else max(z, 0.0)

    def update(self, series: str, time: float, value: float) -> list[IncidentEvent]:
        """Feed one point; returns the events it triggers (usually none).

        Points of one series must arrive in time order; a point not newer than the last one seen for
        its series is ignored (at-least-once delivery may repeat points).
        """
        state = self._series.setdefault(series, _SeriesState(deque(maxlen=self.baseline_points)))
        if not np.isfinite(value) or (state.last_time is not None and time <= state.last_time):
            return []
        state.last_time = time
        z = self.score(series, value)
        anomalous = z is not None and abs(z) >= self.threshold
        events: list[IncidentEvent] = []
        if anomalous:
            assert z is not None
            state.run_above += 1
            state.run_below = 0
            if state.first_above is None:
                state.first_above = time
            if self._open is not None:
                previous = self._open.symptoms.get(series, 0.0)
                self._open.symptoms[series] = max(previous, abs(z))
            elif state.run_above >= self.open_after:
                self._open = IncidentEvent("opened", time, state.first_above, {series: abs(z)})
                events.append(self._open)
        else:
            state.run_above = 0
            state.first_above = None
            state.run_below += 1
            if self._open is None or series not in self._open.symptoms:
                state.baseline.append(value)
            if self._open is not None and self._recovered():
                events.append(IncidentEvent("closed", time, self._open.onset, dict(self._open.symptoms)))
                self._open = None
        return events

    def _recovered(self) -> bool:
        assert self._open is not None
        return all(self._series[s].run_below >= self.close_after for s in self._open.symptoms)
