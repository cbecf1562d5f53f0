"""Reduced variants of a case, to check that a method holds on systems that expose less.

``red_only`` keeps what a CloudWatch-like monitoring system exposes per service: request rate, errors
(error rate, success rate or availability) and duration (latency), the RED signals of Wilkie's RED
method, plus the call graph (a service map), and drops resource metrics, spans, logs and everything else.
Which series are RED is decided by the words of the metric name (:func:`rca.data.case.red_kind`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rca.data.case import Case, Telemetry, red_kind
from rca.data.spans import call_graph


def _red_telemetry(telemetry: Telemetry) -> Telemetry:
    keep = [c for c in telemetry.frame.columns if red_kind(telemetry.series[c][1]) is not None]
    graph = telemetry.graph
    if graph is None and telemetry.traces is not None and len(telemetry.traces):
        edges = call_graph(telemetry.traces)
        graph = tuple(zip(edges["source"].astype(str), edges["target"].astype(str), strict=True))
    reduced = telemetry.with_columns(keep)
    return replace(reduced, traces=None, logs=None, graph=graph)


def red_only(case: Case) -> Case:
    """The case as a RED-only system would show it (see the module docstring).

    Keeps the series whose metric :func:`rca.data.case.red_kind` classifies, in the window and in the history; the
    call graph is the case's own or, failing that, the one its spans show; spans and logs are dropped. The
    label's metric is kept only if it survives.
    """
    telemetry = _red_telemetry(case.telemetry)
    label = case.root_cause
    if label is not None and label.metric is not None and label.metric not in telemetry.frame.columns:
        label = replace(label, metric=None)
    symptom = case.symptom if case.symptom in telemetry.frame.columns else None
    history = None if case.history is None else _red_telemetry(case.history)
    return replace(case, telemetry=telemetry, root_cause=label, symptom=symptom, history=history)


VARIANTS: dict[str, Callable[[Case], Case]] = {"red-only": red_only}
"""Variant name (``rca eval --variant``) -> transform."""
