"""Per-service signals: scores that say where among the services a fault sits.

Two kinds:

- **Cause signals** (:data:`CAUSE_SIGNALS`): one score per service from telemetry other than the
  metric frame (spans today). Each enters a ranking as a pseudo-series ``<service>_<metric>``
  appended to the case's columns, scored like any series, and counts in the cause tier of
  :func:`rca.rank.fusion.standout_keys` (its metric name is not a symptom,
  :func:`rca.data.case.is_symptom_metric`).
- **Standout margins** (:func:`standout_scores`): how far a series rises above the same metric of
  every other service.

Adding a cause signal is one entry in :data:`CAUSE_SIGNALS`: a metric name and a function
``(telemetry, inject_time) -> {service: score}`` that returns ``{}`` when the telemetry lacks what it
needs (scores on the scale of :func:`rca.anomaly.scores.series_scores`: 0 normal, above
:data:`NORMAL_RANGE` out of the normal range). A method chooses which entries it uses by name
(``RUN``: :meth:`rca.methods.run.RUN.cause_signals`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from rca.anomaly.scores import shift_score
from rca.data.case import Telemetry
from rca.data.spans import call_delays

NORMAL_RANGE = 1.0
"""Anomaly scores up to this are normal variation: an exceedance of 1 just reaches the largest swing
of the series' own baseline (:func:`rca.anomaly.scores.exceedance`)."""
CALL_DELAY = "call_delay"
"""Metric name of the per-service score that spans add (see :func:`call_delay_scores`)."""

CauseSignal = Callable[[Telemetry, float], dict[str, float]]
"""Per service, how strongly the telemetry points at a fault there after the anomaly time."""


def call_delay_scores(spans: pd.DataFrame, inject_time: float) -> dict[str, float]:
    """Per service, how much longer calls into it spend outside it after ``inject_time``.

    For every caller -> callee pair, the median robust z-score of the calls' delays
    (:func:`rca.data.spans.call_delays`: the caller's span minus the callee's) after the anomaly
    time against those before it (:func:`rca.anomaly.scores.shift_score`); a service scores the
    median over its callers, floored at 0. Unlike a service's latency, which rises in every caller
    of a slow service, this gap rises only on the calls into the service whose network or
    admission is slow (the idea of locating latency at the edge where it arises, as in TraceRCA:
    Li et al., "Practical Root Cause Localization for Microservice Systems via Trace Analysis",
    IWQoS 2021). Services without calls on both sides of ``inject_time`` get no score.
    """
    delays = call_delays(spans)
    if delays.empty:
        return {}
    after = delays["start_ns"].to_numpy() / 1e9 >= inject_time
    delays = delays.assign(after=after)
    per_target: dict[str, list[float]] = {}
    for (_, target), group in delays.groupby(["source", "target"], sort=True):
        late = group["after"].to_numpy()
        score = shift_score(group["delay_ms"].to_numpy()[~late], group["delay_ms"].to_numpy()[late])
        if np.isfinite(score):
            per_target.setdefault(str(target), []).append(score)
    return {target: max(0.0, float(np.median(v))) for target, v in sorted(per_target.items())}


def _call_delay_signal(telemetry: Telemetry, inject_time: float) -> dict[str, float]:
    return {} if telemetry.traces is None else call_delay_scores(telemetry.traces, inject_time)


CAUSE_SIGNALS: dict[str, CauseSignal] = {
    CALL_DELAY: _call_delay_signal,
}
"""Metric name -> per-service cause signal; the extension point for new service-level evidence."""


def cause_signal_series(
    telemetry: Telemetry, inject_time: float, signals: Iterable[str]
) -> list[tuple[str, str, str, float]]:
    """The pseudo-series of the named cause signals: ``(column, service, metric, score)``.

    ``column`` is ``<service>_<metric>``; signals in the order given, services in each signal's order.
    """
    out = []
    for metric in signals:
        for service, score in CAUSE_SIGNALS[metric](telemetry, inject_time).items():
            out.append((f"{service}_{metric}", service, metric, score))
    return out


def standout_scores(
    scores: Mapping[str, float], series: Mapping[str, tuple[str, str]], *, normal: float = NORMAL_RANGE
) -> dict[str, float]:
    """How far each series rises above every other service's series of the same metric.

    ``log(1 + s) - max over the other services' series of that metric of log(1 + s')``, floored at 0
    (0 for a metric only one series has). A fault makes its service the most unusual one among its
    peers for some metric, whereas a cascade raises one metric in many services at once, and tail
    percentiles with bursty baselines are high everywhere: the margin over the runner-up of the
    same metric is comparable across metrics whose raw scores are not (peer comparison within a
    metric family; compare BARO's and CIRCA's per-metric scores, which are compared across metrics
    without it). A series scoring at most ``normal`` stays within its own normal range and stands
    out nowhere: the top of a family of unremarkable series singles out nothing.
    """
    families: dict[str, list[tuple[str, float]]] = {}
    for column, value in scores.items():
        families.setdefault(series[column][1], []).append((column, float(np.log1p(max(value, 0.0)))))
    floor = float(np.log1p(normal))
    out: dict[str, float] = {}
    for members in families.values():
        ordered = [*sorted((v for _, v in members), reverse=True), np.inf]  # a lone series has no peer to exceed
        for column, value in members:
            runner_up = ordered[1] if value >= ordered[0] else ordered[0]
            out[column] = max(value - runner_up, 0.0) if value > floor else 0.0
    return out


__all__ = [
    "CALL_DELAY",
    "CAUSE_SIGNALS",
    "NORMAL_RANGE",
    "CauseSignal",
    "call_delay_scores",
    "cause_signal_series",
    "standout_scores",
]
