"""RCAEval's multi-source layouts RE2 and RE3 (Pham et al., "RCAEval: A Benchmark for Root Cause
Analysis of Microservice Systems with Telemetry Data", WWW 2025; github phamquiluan/RCAEval).

``<service>_<fault>/<run>/`` holds ``inject_time.txt`` (Unix seconds), the metrics as
``simple_metrics.csv`` and/or ``metrics.csv`` (``time`` in Unix seconds at a 1 s step, then
``<service>_<metric>`` columns, e.g. ``ts-auth-service_cpu``, ``frontend_latency-90``),
``traces.csv`` and ``logs.csv``. RE1 (``data.csv`` + ``inject_time.txt``) is a case directory and is
read by :func:`rca.data.casedir.read_case_dir`.

How a case is read (see also ``docs/data.md``):

* Metrics. ``simple_metrics.csv`` when present (the file RCAEval's own evaluation reads, so figures
  compare with published ones), else ``metrics.csv``. Infinite values become missing; rows are sorted
  by time and rows of one timestamp averaged, each with a note.
* Spans (``traces.csv``: ``traceID, spanID, parentSpanID, serviceName, operationName[, methodName],
  startTime, duration[, startTimeMillis, statusCode]``; ``startTime`` and ``duration`` in
  microseconds, as RCAEval's trace methods read them): mapped to the spans table of the case format.
  Without ``startTime``, ``startTimeMillis`` (milliseconds) is used. ``statusCode`` becomes an OTLP
  error status (2) for HTTP codes from 500 and for non-zero gRPC codes (1-16), else unset (0).
* Logs (``logs.csv``): mapped by :func:`read_rcaeval_logs` to ``time, service, level, message``.
* Label: the folder name ``<service>_<fault>``; the metric ``<service>_<fault>`` where that column
  exists. Any other file (RCAEval's derived ``logts.csv``, ``tracets_*.csv``, ``cluster_info.json``)
  is skipped with one note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rca.data.case import Case, Telemetry, validate_frame
from rca.data.casedir import INJECT_TIME, check_inject_time, rcaeval_label, read_inject_time, read_table
from rca.data.logs import parse_log_line
from rca.data.notes import note, note_skipped
from rca.data.spans import check_spans
from rca.errors import DataError

METRIC_FILES = ("simple_metrics.csv", "metrics.csv")
"""The metric files of a case, in order of preference."""
TRACES = "traces.csv"
LOGS = "logs.csv"

_SPAN_COLUMNS = {
    "trace_id": ("traceID", "trace_id", "TraceID"),
    "span_id": ("spanID", "span_id", "SpanID"),
    "parent_span_id": ("parentSpanID", "parent_span_id", "ParentSpanID", "ParentID"),
    "service": ("serviceName", "service", "ServiceName"),
    "operation": ("operationName", "methodName", "operation", "OperationName"),
}
_LOG_TIME = ("timestamp", "time", "Timestamp", "TimeUnixNano")
_LOG_SERVICE = ("container_name", "service", "serviceName", "container", "pod_name", "PodName")
_LOG_MESSAGE = ("message", "log", "msg", "Log", "body")


def is_rcaeval_case(directory: Path) -> bool:
    """Whether ``directory`` holds an RE2/RE3 case (a metric file and ``inject_time.txt``)."""
    return (directory / INJECT_TIME).is_file() and any((directory / name).is_file() for name in METRIC_FILES)


def read_rcaeval_metrics(path: Path) -> pd.DataFrame:
    """A ``time`` + ``<service>_<metric>`` CSV as a validated frame, sorted, one row per timestamp."""
    raw = read_table(path, low_memory=False)
    if "time" not in raw.columns:
        raise DataError(
            f"no 'time' column (header: {', '.join(map(str, raw.columns[:6]))})",
            path=path,
            hint="RCAEval metric files start with a 'time' column in Unix seconds",
        )
    times = pd.to_numeric(raw["time"], errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(
            f"time value {raw['time'].iloc[row]!r} is not a number",
            path=path,
            where=f"data row {row + 1}",
            hint="the time column holds Unix seconds",
        )
    values = raw.drop(columns="time").replace([np.inf, -np.inf, "inf", "-inf"], np.nan)
    values.index = pd.Index(times.to_numpy(dtype=float), name="time")
    if not values.index.is_monotonic_increasing:
        note(path, "rows are not in time order; sorted them")
        values = values.sort_index(kind="stable")
    if values.index.has_duplicates:
        note(path, f"{int(values.index.duplicated().sum())} rows repeat a timestamp; averaged them")
        values = values.apply(pd.to_numeric, errors="coerce").groupby(level=0).mean()
    return validate_frame(values, path=path)


def _column(table: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in table.columns), None)


def read_rcaeval_spans(path: Path) -> pd.DataFrame:
    """RCAEval's ``traces.csv`` as a spans table of the case format (see the module docstring)."""
    raw = read_table(path, dtype=str, keep_default_na=False)
    spans = pd.DataFrame(index=raw.index)
    for target, names in _SPAN_COLUMNS.items():
        source = _column(raw, names)
        if source is None and target != "parent_span_id":
            raise DataError(
                f"lacks a {target} column (one of {', '.join(names)})",
                path=path,
                hint="RCAEval traces have traceID, spanID, serviceName, operationName, startTime, duration",
            )
        spans[target] = raw[source] if source else ""
    if "startTime" in raw.columns:
        start, start_scale = pd.to_numeric(raw["startTime"], errors="coerce"), 1_000
    elif "startTimeMillis" in raw.columns:
        start, start_scale = pd.to_numeric(raw["startTimeMillis"], errors="coerce"), 1_000_000
    else:
        raise DataError("lacks startTime (microseconds) or startTimeMillis", path=path)
    if "duration" not in raw.columns:
        raise DataError("lacks duration (microseconds)", path=path)
    duration_us = pd.to_numeric(raw["duration"], errors="coerce")
    bad = start.isna() | duration_us.isna()
    if bad.all() and len(raw):
        raise DataError("no span has a numeric start time and duration", path=path, where="columns startTime, duration")
    if bad.any():
        note(path, f"dropped {int(bad.sum())} span(s) without a numeric start time or duration")
    keep = ~bad.to_numpy()
    spans = spans.loc[keep]
    # whole units in int64 before scaling: float64 cannot hold nanosecond Unix times exactly
    spans["start_ns"] = start[keep].round().astype("int64") * start_scale
    spans["end_ns"] = spans["start_ns"] + duration_us[keep].round().astype("int64") * 1_000
    if "statusCode" in raw.columns:
        code = pd.to_numeric(raw.loc[keep, "statusCode"], errors="coerce").fillna(0)
        error = ((code >= 500) & (code < 600)) | ((code >= 1) & (code <= 16))
        spans["status_code"] = np.where(error, 2, 0)
    return check_spans(spans.reset_index(drop=True), path=str(path))


def _seconds(values: pd.Series) -> np.ndarray:
    """Unix times in s, ms, µs or ns (told apart by magnitude), or date strings, as seconds."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        magnitude = float(numeric.abs().median()) if len(numeric) else 0.0
        scale = 1e9 if magnitude > 1e17 else 1e6 if magnitude > 1e14 else 1e3 if magnitude > 1e11 else 1.0
        return numeric.to_numpy(dtype=float) / scale
    stamps = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    return stamps.astype("int64").to_numpy() / 1e9 if stamps.notna().all() else np.full(len(values), np.nan)


def read_rcaeval_logs(path: Path) -> pd.DataFrame:
    """RCAEval's ``logs.csv`` as log records ``time`` (Unix seconds), ``service``, ``level``, ``message``.

    The time is read from ``timestamp`` (any of s, ms, µs, ns; told apart by magnitude) or ``time``,
    the service from ``container_name``, the level from a ``level`` column or else from the message
    (:func:`rca.data.logs.parse_log_line`; empty if none), the message from ``message``. Records without a
    readable time are dropped with a note; the rest are sorted by time.
    """
    raw = read_table(path, low_memory=False)
    time_column = next((c for c in _LOG_TIME if c in raw.columns and not np.isnan(_seconds(raw[c])).all()), None)
    service_column, message_column = _column(raw, _LOG_SERVICE), _column(raw, _LOG_MESSAGE)
    if time_column is None or service_column is None or message_column is None:
        raise DataError(
            f"lacks a time, service or message column (header: {', '.join(map(str, raw.columns))})",
            path=path,
            hint="RCAEval logs have timestamp, container_name and message columns",
        )
    message = raw[message_column].fillna("").astype(str)
    given = raw["level"].fillna("").astype(str) if "level" in raw.columns else pd.Series("", index=raw.index)
    level = [parse_log_line(body, severity).level for body, severity in zip(message, given, strict=True)]
    logs = pd.DataFrame(
        {
            "time": _seconds(raw[time_column]),
            "service": raw[service_column].fillna("").astype(str),
            "level": level,
            "message": message,
        }
    )
    bad = logs["time"].isna()
    if bad.any():
        note(path, f"dropped {int(bad.sum())} log record(s) without a readable time")
    return logs.loc[~bad].sort_values("time", kind="stable").reset_index(drop=True)


def read_rcaeval_case(directory: str | Path, *, name: str | None = None) -> Case:
    """Read one RE2/RE3 case (see the module docstring)."""
    directory = Path(directory)
    metric_file = next(directory / n for n in METRIC_FILES if (directory / n).is_file())
    frame = read_rcaeval_metrics(metric_file)
    inject_time = read_inject_time(directory / INJECT_TIME)
    check_inject_time(frame, inject_time, path=directory / INJECT_TIME)
    traces = read_rcaeval_spans(directory / TRACES) if (directory / TRACES).is_file() else None
    used = {metric_file.name, INJECT_TIME, TRACES, LOGS}
    note_skipped(
        directory,
        (p.name for p in directory.iterdir() if p.is_file() and p.name not in used),
        why="that this loader does not read (RCAEval's derived or alternative files)",
    )
    step = np.diff(frame.index.to_numpy())
    return Case(
        name=name or f"{directory.parent.name}/{directory.name}",
        telemetry=Telemetry.from_frame(frame, traces=traces),
        inject_time=inject_time,
        root_cause=rcaeval_label(directory, frame),
        step_seconds=float(np.median(step)) if len(step) else None,
        extra={"source": "rcaeval", "metrics_file": metric_file.name},
    )
