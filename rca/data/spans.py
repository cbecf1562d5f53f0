"""Spans to per-service metrics and to the observed call graph.

Both the dataset loaders and the streaming ingestion use these functions, so a replayed case and
the case read from disk give the same series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.data.case import SPAN_COLUMNS
from rca.errors import DataError, require_columns

SPAN_METRIC_PREFIX = "spans:"
"""Span-derived metric names start with this; ingestion refuses metrics named so
(:data:`rca.ingest.records.RESERVED_METRIC_PREFIX`), so no user metric (a histogram called ``latency``
gives ``latency_p50``) can take a span-derived series' name."""

SPAN_METRICS = tuple(
    SPAN_METRIC_PREFIX + m for m in ("request_rate", "error_rate", "latency_p50", "latency_p90", "latency_p99")
)
"""Per-service series derived from spans; ``spans:error_rate`` only where spans carry a status code."""

SPAN_UNITS = {
    metric: "ms" if "latency" in metric else "1" if metric.endswith("error_rate") else "{request}/s"
    for metric in SPAN_METRICS
}
"""Units of the span-derived metrics, in UCUM as OTLP writes units (``1`` is a ratio)."""

STATUS_ERROR = 2
"""OTLP ``Status.StatusCode.STATUS_CODE_ERROR``."""


def check_spans(spans: pd.DataFrame, *, path: str | None = None) -> pd.DataFrame:
    """Check that a spans table has the required columns and types; return a normalised copy.

    A span is identified by ``(trace_id, span_id)``: repeated spans (recordings have some, and
    at-least-once delivery makes more) are kept once, the first of them.
    """
    require_columns(
        spans.columns,
        SPAN_COLUMNS,
        table="spans table",
        path=path,
        hint=f"a spans table has columns {','.join(SPAN_COLUMNS)}[,status_code]",
    )
    out = spans.copy()
    for column in ("trace_id", "span_id", "parent_span_id", "service", "operation"):
        out[column] = out[column].fillna("").astype(str)
    for column in ("start_ns", "end_ns"):
        numeric = pd.to_numeric(out[column], errors="coerce")
        if numeric.isna().any():
            row = int(np.flatnonzero(numeric.isna().to_numpy())[0])
            raise DataError(
                f"{column} {out[column].iloc[row]!r} is not an integer",
                path=path,
                where=f"column {column!r}, data row {row + 1}",
                hint="span times are Unix nanoseconds",
            )
        out[column] = numeric.astype("int64")
    if "status_code" in out.columns:
        out["status_code"] = pd.to_numeric(out["status_code"], errors="coerce").fillna(0).astype("int64")
    return out.drop_duplicates(["trace_id", "span_id"]).reset_index(drop=True)


def _with_parent_service(spans: pd.DataFrame) -> pd.DataFrame:
    parents = spans[["trace_id", "span_id", "service"]].rename(
        columns={"span_id": "parent_span_id", "service": "parent_service"}
    )
    parents = parents.drop_duplicates(["trace_id", "parent_span_id"])
    return spans.merge(parents, on=["trace_id", "parent_span_id"], how="left")


def entry_spans(spans: pd.DataFrame) -> pd.DataFrame:
    """Spans through which a request enters a service.

    An entry span is a root span, a span whose parent is unknown, or a span whose parent belongs to
    another service. Its duration is the service's latency for that request.
    """
    joined = _with_parent_service(spans)
    is_entry = joined["parent_service"].isna() | (joined["parent_service"] != joined["service"])
    return joined.loc[is_entry.to_numpy()].drop(columns="parent_service")


def span_series(spans: pd.DataFrame, step_seconds: float) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Aggregate spans into per-service series on a regular time grid.

    For each service and each bucket of ``step_seconds`` (aligned on multiples of the step and keyed
    by the bucket's end, as a Prometheus sample at ``t`` summarises the step before ``t``; a span
    starting at ``s`` falls into the bucket ``[T - step, T)`` with ``T > s``): the request rate
    (entry spans per second), the error rate (share of entry spans with an error status, when the
    spans carry ``status_code``), and the 50th, 90th and 99th latency percentiles of entry spans,
    in milliseconds. Buckets without spans are absent (missing,
    not zero: spans may simply not have been recorded then).

    Returns
    -------
    frame, series
        A frame indexed by bucket end with columns ``<service>_spans:<metric>``, and the mapping of each
        column to ``(service, metric)``.
    """
    if spans.empty:
        return pd.DataFrame(index=pd.Index([], name="time", dtype=float)), {}
    entries = entry_spans(spans)
    bucket = (np.floor(entries["start_ns"].to_numpy() / 1e9 / step_seconds) + 1.0) * step_seconds
    duration_ms = (entries["end_ns"].to_numpy() - entries["start_ns"].to_numpy()) / 1e6
    table = pd.DataFrame({"time": bucket, "service": entries["service"].to_numpy(), "duration_ms": duration_ms})
    has_status = "status_code" in entries.columns
    if has_status:
        table["error"] = (entries["status_code"].to_numpy() == STATUS_ERROR).astype(float)
    grouped = table.groupby(["time", "service"], sort=True)
    parts = {
        "spans:request_rate": grouped["duration_ms"].size() / step_seconds,
        "spans:latency_p50": grouped["duration_ms"].quantile(0.5),
        "spans:latency_p90": grouped["duration_ms"].quantile(0.9),
        "spans:latency_p99": grouped["duration_ms"].quantile(0.99),
    }
    if has_status:
        parts["spans:error_rate"] = grouped["error"].mean()
    columns: dict[str, pd.Series] = {}
    series: dict[str, tuple[str, str]] = {}
    for metric in SPAN_METRICS:
        if metric not in parts:
            continue
        wide = parts[metric].unstack("service")
        for service in wide.columns:
            name = f"{service}_{metric}"
            columns[name] = wide[service]
            series[name] = (str(service), metric)
    frame = pd.DataFrame(columns).sort_index()
    frame.index = frame.index.astype(float).rename("time")
    ordered = sorted(columns, key=lambda c: (series[c][0], SPAN_METRICS.index(series[c][1])))
    return frame[ordered], series


def call_delays(spans: pd.DataFrame) -> pd.DataFrame:
    """The time each cross-service call spends outside the callee: caller span minus callee span.

    For a span whose parent belongs to another service, the parent (the caller's client span)
    lasts from sending the request to receiving the response, the span itself from the callee
    starting to serve it to its reply; the difference is network transfer and queueing in front of
    the callee. A network delay or a saturated pod shows up here on every call into it, while the
    callee's own latency would also rise in all its callers (the gap does not propagate upstream).

    Returns
    -------
    pandas.DataFrame
        One row per call: ``source`` (caller), ``target`` (callee), ``start_ns`` of the callee span
        and ``delay_ms``.
    """
    if spans.empty:
        return pd.DataFrame({"source": [], "target": [], "start_ns": [], "delay_ms": []})
    parents = spans[["trace_id", "span_id", "service", "start_ns", "end_ns"]].rename(
        columns={"span_id": "parent_span_id", "service": "source", "start_ns": "p_start", "end_ns": "p_end"}
    )
    joined = spans.merge(parents.drop_duplicates(["trace_id", "parent_span_id"]), on=["trace_id", "parent_span_id"])
    calls = joined.loc[joined["source"] != joined["service"]]
    delay = ((calls["p_end"] - calls["p_start"]) - (calls["end_ns"] - calls["start_ns"])).to_numpy() / 1e6
    return pd.DataFrame(
        {
            "source": calls["source"].to_numpy(),
            "target": calls["service"].to_numpy(),
            "start_ns": calls["start_ns"].to_numpy(),
            "delay_ms": delay,
        }
    )


def call_graph(spans: pd.DataFrame) -> pd.DataFrame:
    """Caller -> callee service edges observed in spans, with call counts.

    A call is a span whose parent span belongs to another service. Returns a frame with columns
    ``source``, ``target``, ``count``, sorted by source and target.
    """
    if spans.empty:
        return pd.DataFrame({"source": [], "target": [], "count": []})
    joined = _with_parent_service(spans)
    calls = joined.loc[joined["parent_service"].notna() & (joined["parent_service"] != joined["service"])]
    edges = (
        calls.groupby(["parent_service", "service"])
        .size()
        .rename("count")
        .reset_index()
        .rename(columns={"parent_service": "source", "service": "target"})
    )
    edges["count"] = edges["count"].astype("int64")
    return edges.sort_values(["source", "target"]).reset_index(drop=True)


def join_span_series(frame: pd.DataFrame, trace_frame: pd.DataFrame) -> pd.DataFrame:
    """Metric rows joined with trace-derived series (:func:`span_series`) on their times.

    A trace-derived column replaces a metric column of the same name; the index is float seconds, sorted.
    """
    if not len(trace_frame.columns):
        return frame
    if not len(frame.columns):
        return trace_frame
    joined = frame.drop(columns=[c for c in trace_frame.columns if c in frame.columns]).join(trace_frame, how="outer")
    joined.index = pd.Index(joined.index.to_numpy(dtype=float), name="time")
    return joined.sort_index()
