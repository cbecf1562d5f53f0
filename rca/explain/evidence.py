"""Deterministic evidence numbers for explanations: how series moved, span statistics, causal paths, formatting.

Both explainers read the case only through this module: the template to write its text, the LLM agents
through their tools. Everything here is a pure function of the case and the ranking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from rca.anomaly.scores import baseline_zscores, nan_percentiles, onset_index
from rca.causal.graph import evidence_paths
from rca.data.case import Case, is_user_facing_metric
from rca.explain.model import SeriesNumbers
from rca.rank.ranking import Candidate, Ranking

DEFAULT_THRESHOLD = 3.0
"""``|z|`` (robust: median / IQR of the baseline) from which a series counts as anomalous."""

_EXACT_UNITS = {
    "cpu": "%",
    "mem": "bytes",
    "latency_p50": "ms",
    "latency_p90": "ms",
    "latency_p95": "ms",
    "latency_p99": "ms",
    "request_rate": "req/s",
    "error_rate": "ratio",
    "spans:latency_p50": "ms",
    "spans:latency_p90": "ms",
    "spans:latency_p99": "ms",
    "spans:request_rate": "req/s",
    "spans:error_rate": "ratio",
}
_UCUM_UNITS = {"By": "bytes", "1": "ratio", "{request}/s": "req/s"}
"""Units as OTLP sends them (UCUM) where this module writes them otherwise."""
_SUFFIX_UNITS = (("_bytes", "bytes"), ("_seconds", "s"), ("_ms", "ms"))

_WINDOW_ROWS = 60
_WINDOW_POINTS = 24


def unit_of(metric: str, units: Mapping[str, str] | None = None) -> str | None:
    """The unit of a metric, where its name tells it.

    ``units`` (metric or column name -> unit) overrides the built-in rules: ``cpu`` is percent of a
    core, ``mem`` and ``*_bytes`` are bytes, ``latency_p*`` (as the span-derived ``spans:latency_p*``)
    are milliseconds, ``request_rate`` is requests per second, ``error_rate`` a ratio, ``*_seconds`` and
    ``*_ms`` what they say. Units in UCUM (as OTLP sends them) read ``By`` as bytes and ``1`` as a ratio.
    """
    if units and metric in units:
        return _UCUM_UNITS.get(units[metric], units[metric])
    if metric in _EXACT_UNITS:
        return _EXACT_UNITS[metric]
    for suffix, unit in _SUFFIX_UNITS:
        if metric.endswith(suffix) or metric == suffix[1:]:
            return unit
    return None


def format_number(value: float) -> str:
    """Three significant digits (trailing zeros dropped), thousands separated; scientific outside ``[1e-3, 1e7)``."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-3 or magnitude >= 1e7:
        return f"{value:.3g}"
    decimals = max(0, 2 - math.floor(math.log10(magnitude)))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


def format_value(value: float | None, unit: str | None) -> str:
    """A value with its unit: bytes in IEC multiples, ratios as percentages."""
    if value is None:
        return "n/a"
    if unit == "bytes":
        size, prefix = abs(value), ""
        for prefix in ("", "Ki", "Mi", "Gi", "Ti"):
            if size < 1024 or prefix == "Ti":
                break
            size /= 1024
        return f"{'-' if value < 0 else ''}{format_number(size)} {prefix}B"
    if unit == "ratio":
        return f"{format_number(value * 100)}%"
    if unit == "%":
        return f"{format_number(value)}%"
    if unit:
        return f"{format_number(value)} {unit}"
    return format_number(value)


def format_time(seconds: float) -> str:
    """Unix seconds as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_offset(seconds: float) -> str:
    """A signed offset in seconds, e.g. ``+90 s``."""
    return f"{'+' if seconds >= 0 else '-'}{format_number(abs(seconds))} s"


def format_delay(seconds: float, reference: str) -> str:
    """``90 s after <reference>``, ``5 s before <reference>``, or ``at the same time as <reference>``."""
    if seconds == 0:
        return f"at the same time as {reference}"
    return f"{format_number(abs(seconds))} s {'after' if seconds > 0 else 'before'} {reference}"


def finite(value: object) -> float | None:
    """``value`` as a finite float, or ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def candidate_key(candidate: Candidate) -> str:
    """The node a candidate stands for in a causal graph: its series, or its service."""
    return candidate.metric if candidate.metric is not None else candidate.service


def causal_path(ranking: Ranking, source: str, targets: Sequence[str]) -> list[str]:
    """The strongest cause -> effect path in ``ranking.graph`` from ``source`` to the first reachable target.

    Targets are tried in order; strongest as in :func:`rca.causal.graph.evidence_paths`. Returns ``[]``
    when none is reachable.
    """
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(ranking.graph)
    for target in targets:
        if target != source:
            path = evidence_paths(graph, [source], target)[source]
            if path:
                return path
    return []


def series_numbers(
    case: Case, *, units: Mapping[str, str] | None = None, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, SeriesNumbers]:
    """How every series of ``case`` moved: the one place an analysis scores a series for people.

    Each series' robust z is its largest ``|x - median| / IQR`` from the anomaly time on, against its
    baseline (the rows before the anomaly time; :func:`rca.anomaly.scores.baseline_zscores`), signed;
    the onset is the first time ``|z| >= threshold``. Units come from ``units``, else the case's
    telemetry (the units its series were sent with), else the series' names.
    """
    units = {**case.telemetry.units, **(units or {})}
    normal = case.normal().frame
    anomalous = case.anomalous().frame
    columns = [str(c) for c in case.frame.columns]
    base = normal.to_numpy(dtype=float)
    after = anomalous.to_numpy(dtype=float)
    times = anomalous.index.to_numpy(dtype=float)
    z = baseline_zscores(base, after)
    medians = nan_percentiles(base, [50])[0]  # the median the ranking centres on (rca.anomaly.scores)
    size = np.where(np.isfinite(z), np.abs(z), -1.0)
    peak_rows = size.argmax(axis=0) if len(after) else np.zeros(len(columns), dtype=int)
    onsets = onset_index(z, threshold) if len(after) else np.full(len(columns), -1)
    numbers: dict[str, SeriesNumbers] = {}
    for j, column in enumerate(columns):
        service, metric = case.telemetry.series[column]
        row = int(peak_rows[j])
        has_peak = len(after) > 0 and size[row, j] >= 0
        baseline = finite(medians[j])
        peak = finite(after[row, j]) if has_peak else None
        change = None
        if baseline is not None and peak is not None and baseline != 0:
            change = (peak - baseline) / abs(baseline) * 100
        numbers[column] = SeriesNumbers(
            column=column,
            service=service,
            metric=metric,
            unit=unit_of(column, units) or unit_of(metric, units),
            baseline=baseline,
            peak=peak,
            peak_time=float(times[row]) if has_peak else None,
            robust_z=finite(z[row, j]) if has_peak else None,
            onset_time=float(times[onsets[j]]) if onsets[j] >= 0 else None,
            change_pct=change,
        )
    return numbers


@dataclass(frozen=True)
class CaseEvidence:
    """Per-series numbers of one case, computed once.

    Attributes
    ----------
    case
        The case.
    threshold
        ``|z|`` from which a series is anomalous.
    numbers
        Column -> how it moved (in frame column order).
    strength
        Column -> ``|robust_z|`` (0 where unknown).
    """

    case: Case
    threshold: float
    numbers: Mapping[str, SeriesNumbers]
    strength: Mapping[str, float]

    @classmethod
    def build(
        cls,
        case: Case,
        *,
        units: Mapping[str, str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        numbers: Mapping[str, SeriesNumbers] | None = None,
    ) -> CaseEvidence:
        """The evidence of ``case``: ``numbers`` as an analysis computed them, else :func:`series_numbers`.

        An analysis computes each series' numbers once (:attr:`rca.analysis.AnalysisResult.series`);
        passing them here makes the explanation tell the very numbers the ranking shows.
        """
        if numbers is None:
            numbers = series_numbers(case, units=units, threshold=threshold)
        strength = {c: abs(n.robust_z) if n.robust_z is not None else 0.0 for c, n in numbers.items()}
        return cls(case=case, threshold=threshold, numbers=numbers, strength=strength)

    def anomalous(self) -> list[str]:
        """Anomalous columns, most deviant first (ties by name)."""
        hits = [c for c, s in self.strength.items() if s >= self.threshold]
        return sorted(hits, key=lambda c: (-self.strength[c], c))

    def for_candidate(self, candidate: Candidate) -> SeriesNumbers | None:
        """The candidate's series numbers, with the ranking's own evidence taking precedence."""
        if candidate.metric is None or candidate.metric not in self.numbers:
            return None
        numbers = self.numbers[candidate.metric]
        overrides: dict[str, float | None] = {}
        for key in ("robust_z", "baseline", "peak"):
            value = finite(candidate.evidence.get(key))
            if value is not None:
                overrides[key] = value
        if "onset_time" in candidate.evidence:
            overrides["onset_time"] = finite(candidate.evidence["onset_time"])
        if "baseline" in overrides or "peak" in overrides:
            base = overrides.get("baseline", numbers.baseline)
            peak = overrides.get("peak", numbers.peak)
            overrides["change_pct"] = (
                None if base is None or peak is None or base == 0 else (peak - base) / abs(base) * 100
            )
        return numbers.model_copy(update=overrides)

    def first_symptom(self, exclude: str | None) -> SeriesNumbers | None:
        """The earliest-onset anomalous series other than ``exclude``.

        Among equally early series, user-facing ones (latency, errors, success rate) come first, then
        the most deviant, then by name.
        """
        early = [c for c in self.anomalous() if c != exclude and self.numbers[c].onset_time is not None]
        if not early:
            return None
        best = min(
            early,
            key=lambda c: (
                self.numbers[c].onset_time,
                not is_user_facing_metric(self.numbers[c].metric),
                -self.strength[c],
                c,
            ),
        )
        return self.numbers[best]

    def window(self, column: str, around: float | None) -> list[list[float | None]]:
        """Up to 24 ``[time, mean value]`` points of ``column`` in about 60 rows either side of ``around``."""
        frame = self.case.frame
        index = frame.index.to_numpy(dtype=float)
        centre = self.case.inject_time if around is None else around
        position = int(np.searchsorted(index, centre))
        rows = slice(max(0, position - _WINDOW_ROWS), min(len(index), position + _WINDOW_ROWS))
        times = index[rows]
        values = frame[column].to_numpy(dtype=float)[rows]
        points: list[list[float | None]] = []
        for chunk in np.array_split(np.arange(len(times)), min(_WINDOW_POINTS, len(times))):
            if not len(chunk):
                continue
            chunk_values = values[chunk]
            mean = float(np.nanmean(chunk_values)) if np.isfinite(chunk_values).any() else None
            points.append([float(times[chunk[0]]), None if mean is None else float(f"{mean:.4g}")])
        return points


def _p90(values: pd.Series) -> float:
    return float(np.percentile(values.to_numpy(dtype=float), 90))


def span_stats(spans: pd.DataFrame, service: str, split_time: float, limit: int) -> dict[str, Any]:
    """Compact statistics of one service's spans before and after ``split_time``.

    Returns span counts, p50/p90 latency (ms) and error share (when spans carry ``status_code``) for
    each side, the ``limit`` most frequent operations, and the services calling it and called by it.
    """
    parents = spans[["trace_id", "span_id", "service"]].rename(
        columns={"span_id": "parent_span_id", "service": "parent_service"}
    )
    joined = spans.merge(parents.drop_duplicates(["trace_id", "parent_span_id"]), on=["trace_id", "parent_span_id"])
    own = spans.loc[spans["service"] == service]
    duration_ms = (own["end_ns"].to_numpy() - own["start_ns"].to_numpy()) / 1e6
    after = own["start_ns"].to_numpy() / 1e9 >= split_time
    has_status = "status_code" in own.columns
    errors = (own["status_code"].to_numpy() == 2) if has_status else np.zeros(len(own), dtype=bool)

    def side(mask: np.ndarray) -> dict[str, Any]:
        values = duration_ms[mask]
        if not len(values):
            return {"count": 0}
        out: dict[str, Any] = {
            "count": len(values),
            "p50_ms": float(f"{np.percentile(values, 50):.4g}"),
            "p90_ms": float(f"{np.percentile(values, 90):.4g}"),
        }
        if has_status:
            out["error_share"] = float(f"{errors[mask].mean():.4g}")
        return out

    operations = (
        pd.DataFrame({"operation": own["operation"].to_numpy(), "ms": duration_ms})
        .groupby("operation")["ms"]
        .agg(calls="size", p90_ms=_p90)
    )
    top = operations.reset_index().sort_values(["calls", "operation"], ascending=[False, True]).head(limit)
    other = joined["parent_service"] != joined["service"]
    callers = joined.loc[other & (joined["service"] == service), "parent_service"].value_counts()
    callees = joined.loc[other & (joined["parent_service"] == service), "service"].value_counts()

    def counted(counts: pd.Series) -> list[list[Any]]:
        pairs = sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))
        return [list(pair) for pair in pairs[:limit]]

    return {
        "service": service,
        "spans": len(own),
        "before": side(~after),
        "after": side(after),
        "top_operations": [
            {"operation": str(name), "count": int(calls), "p90_ms": float(f"{p90:.4g}")}
            for name, calls, p90 in zip(top["operation"], top["calls"], top["p90_ms"], strict=True)
        ],
        "callers": counted(callers),
        "callees": counted(callees),
    }
