"""Reduced variants of a case, to check that a method holds on systems that expose less.

``red_only`` keeps what a CloudWatch-like monitoring system exposes per service: request rate, errors
(error rate, success rate or availability) and duration (latency), the RED signals of Wilkie's RED
method, plus the call graph (a service map), and drops resource metrics, spans, logs and everything else.
Which series are RED is decided by the words of the metric name (:func:`red_kind`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from rca.data.case import Case, Telemetry
from rca.data.spans import call_graph

RedKind = Literal["rate", "errors", "latency"]

# fmt: off
RESOURCE_WORDS = frozenset({
    "cpu", "mem", "memory", "disk", "io", "fs", "filesystem", "network", "net", "syscall", "socket", "sockets",
    "thread", "threads", "gc", "heap", "bytes", "byte", "receive", "transmit", "rx", "tx", "node", "container",
    "usage", "utilization", "util", "swap",
})
"""Words that mark a resource metric (checked first: ``cpu_usage_rate`` is a resource, not a rate)."""
LATENCY_WORDS = frozenset({"lat", "latency", "latencies", "duration", "rt", "response", "p50", "p90", "p95", "p99"})
ERROR_WORDS = frozenset({
    "error", "errors", "err", "fail", "failed", "failure", "failures", "5xx", "4xx", "success", "availability",
    "status",
})
RATE_WORDS = frozenset({
    "rate", "request", "requests", "req", "qps", "rps", "tps", "throughput", "load", "lod", "workload", "ops",
    "calls", "count", "hits",
})
# fmt: on

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(metric: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", _CAMEL.sub("_", metric).lower())) - {""}


def red_kind(metric: str) -> RedKind | None:
    """The RED signal a metric name reads as, or ``None`` (a resource metric or an unknown one).

    A name with a resource word (:data:`RESOURCE_WORDS`) is a resource metric whatever else it says;
    otherwise latency words come first (``latency_p90``), then error or availability words
    (``success_rate``, ``error_rate``: a fall in success is as much a signal as a rise in errors),
    then rate words (``request_rate``, ``lod``, ``workload``). Words are split at ``_``, ``-``, any
    other non-alphanumeric character and camel case, and compared in lower case.
    """
    words = _words(metric)
    if words & RESOURCE_WORDS:
        return None
    if words & LATENCY_WORDS:
        return "latency"
    if words & ERROR_WORDS:
        return "errors"
    if words & RATE_WORDS:
        return "rate"
    return None


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

    Keeps the series whose metric :func:`red_kind` classifies, in the window and in the history; the
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
