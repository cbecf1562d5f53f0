"""The case format: telemetry for a time window, and a fault case around one incident.

A frame is a :class:`pandas.DataFrame` indexed by time (Unix seconds, float, strictly ascending) with
one float column per series. Each column belongs to a service and names a metric; by RCAEval's
convention the service is everything before the first ``_`` of the column name, unless an explicit
mapping (``series.csv``) says otherwise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from rca.errors import DataError

SPAN_COLUMNS = ("trace_id", "span_id", "parent_span_id", "service", "operation", "start_ns", "end_ns")
"""Required columns of a spans table; ``status_code`` (0 unset, 1 ok, 2 error, as in OTLP) is optional."""


RedKind = Literal["rate", "errors", "latency"]

# fmt: off
RESOURCE_WORDS = frozenset({
    "cpu", "mem", "memory", "disk", "io", "fs", "filesystem", "network", "net", "syscall", "socket", "sockets",
    "thread", "threads", "gc", "heap", "bytes", "byte", "receive", "transmit", "rx", "tx", "node", "container",
    "usage", "utilization", "util", "swap",
})
"""Words that mark a resource metric (checked first: ``cpu_usage_rate`` is a resource, not a rate)."""
LATENCY_WORDS = frozenset({
    "lat", "latency", "latencies", "duration", "rt", "response", "resptime", "elapsed", "handling", "percentile",
    "quantile",
})
"""Latency words; a percentile (``p50``, ``p999``) reads as latency too (:data:`_PERCENTILE`)."""
ERROR_WORDS = frozenset({
    "error", "errors", "err", "fail", "failed", "failure", "failures", "5xx", "4xx", "success", "availability",
    "status", "timeout", "timeouts", "fault", "faults", "throttle", "throttles", "throttled", "exception",
    "exceptions", "apdex", "healthy", "unhealthy", "health",
})
"""Error words, and those of scores that fall when a component fails (availability, Apdex, healthy hosts)."""
RATE_WORDS = frozenset({
    "rate", "request", "requests", "req", "qps", "rps", "tps", "throughput", "load", "lod", "workload", "ops",
    "calls", "count", "hits", "invocation", "invocations", "messages", "handled", "executions", "concurrent",
    "concurrency", "inflight",
})
# fmt: on

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z0-9])(?=[A-Z][a-z])")
"""Word boundaries of camel case: ``RequestCount``, ``p99Latency``, and after an acronym or a code
(``HTTPCode``, ``5XXError``: ``5xx`` stays one word)."""


_DIGITS = re.compile(r"(?<=[a-z])(?=[0-9])")
"""Where a code is glued to the end of a word (``Errors5xx``)."""
_PERCENTILE = re.compile(r"p[0-9]{2,3}")


def _words(metric: str) -> set[str]:
    """The words of a metric name, each also split where a code is glued to it (``p99`` stays one word too)."""
    words = set(re.split(r"[^a-z0-9]+", _CAMEL.sub("_", metric).lower())) - {""}
    return words | {part for word in words for part in _DIGITS.split(word)} - {""}


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
    if words & LATENCY_WORDS or any(_PERCENTILE.fullmatch(word) for word in words):
        return "latency"
    if words & ERROR_WORDS:
        return "errors"
    if words & RATE_WORDS:
        return "rate"
    return None


def is_symptom_metric(metric: str) -> bool:
    """Whether a metric name reads as a user-facing symptom: a RED signal (rate, errors, duration).

    The counterpart, a metric where a fault arises, is anything else: resources (USE), and signals
    such as the delay of calls into a service. A request rate is a symptom: a fault changes the load
    its service sees (callers retry, give up, or stop calling), but a load that moves is not where a
    fault sits.
    """
    return red_kind(metric) is not None


def counts_falls(metric: str) -> bool:
    """Whether a fall of a metric is as much a fault signal as a rise: errors, success rate, availability.

    An availability or success rate that drops is how a failing component shows; a resource, a load
    or a latency that falls is an effect (less work, requests failing fast), so for those only rises
    count. The RED kind ``"errors"`` of :func:`red_kind`.
    """
    return red_kind(metric) == "errors"


def is_user_facing_metric(metric: str) -> bool:
    """Whether a metric name reads as what users feel: latency or errors (RED without the rate).

    The series an alert is about and the first symptom an explanation names: a load that moves is a
    symptom (:func:`is_symptom_metric`) but not the pain a user reports.
    """
    return red_kind(metric) in ("latency", "errors")


def split_series_name(column: str) -> tuple[str, str]:
    """Split ``<service>_<metric>`` at the first underscore (RCAEval's convention).

    A name without an underscore is a service-level series whose metric is the name itself.
    """
    service, sep, metric = column.partition("_")
    return (service, metric) if sep else (column, column)


@dataclass(frozen=True)
class RootCause:
    """The labelled root cause of a fault case.

    Attributes
    ----------
    service
        The culprit service.
    metric
        The culprit series (a frame column such as ``"carts_cpu"``), when the label has one.
    fault
        The fault type, e.g. ``"cpu"``, ``"mem"``, ``"network_delay"``.
    """

    service: str
    metric: str | None = None
    fault: str | None = None


@dataclass(frozen=True)
class Telemetry:
    """Series (and optionally spans and a call graph) over a time window.

    Attributes
    ----------
    frame
        Time-indexed values, one column per series.
    series
        ``column -> (service, metric)`` for every column of ``frame``.
    traces
        Spans with :data:`SPAN_COLUMNS`, or ``None``.
    graph
        Known caller -> callee service edges, or ``None``.
    logs
        Log records with :data:`rca.data.logs.LOG_COLUMNS` (``time, service, level, message`` and
        optionally ``trace_id, span_id``), sorted by time, or ``None``.
    units
        ``column -> unit`` (UCUM as OTLP writes it: ``ms``, ``By``, ``%``, ``1``) where the source told it.
    """

    frame: pd.DataFrame
    series: Mapping[str, tuple[str, str]]
    traces: pd.DataFrame | None = None
    graph: tuple[tuple[str, str], ...] | None = None
    logs: pd.DataFrame | None = None
    units: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        series: Mapping[str, tuple[str, str]] | None = None,
        traces: pd.DataFrame | None = None,
        graph: Iterable[tuple[str, str]] | None = None,
        units: Mapping[str, str] | None = None,
        logs: pd.DataFrame | None = None,
    ) -> Telemetry:
        """Build telemetry, deriving the series mapping from column names where none is given."""
        mapping = {c: split_series_name(c) for c in frame.columns}
        if series:
            mapping.update({c: series[c] for c in frame.columns if c in series})
        return cls(
            frame=frame,
            series=mapping,
            traces=traces,
            graph=None if graph is None else tuple((str(a), str(b)) for a, b in graph),
            logs=logs,
            units=dict(units or {}),
        )

    def service_of(self, column: str) -> str:
        """The service a series belongs to."""
        return self.series[column][0]

    @property
    def services(self) -> list[str]:
        """Distinct services, in column order."""
        return list(dict.fromkeys(s for s, _ in (self.series[c] for c in self.frame.columns)))

    def between(self, start: float | None = None, end: float | None = None) -> Telemetry:
        """The part of the window with ``start <= time < end`` (spans by their start time)."""
        keep = _within(self.frame.index.to_numpy(dtype=float), start, end)
        traces = self.traces
        if traces is not None:
            spans_kept = _within(traces["start_ns"].to_numpy() / 1e9, start, end)
            traces = traces.loc[spans_kept].reset_index(drop=True)
        logs = self.logs
        if logs is not None:
            logs = logs.loc[_within(logs["time"].to_numpy(dtype=float), start, end)].reset_index(drop=True)
        return replace(self, frame=self.frame.loc[keep], traces=traces, logs=logs)

    def fingerprint(self) -> str:
        """A digest of everything a method can learn from: times, values, columns, series map, spans, logs, calls.

        Equal fingerprints mean equal inputs to ``fit`` (the values bit for bit, NaN included), so a
        fitted model can be reused for them.
        """
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((list(self.frame.columns), sorted(self.series.items()), self.graph)).encode())
        for part in (self.frame, self.traces, self.logs):
            digest.update(b"|" if part is None else repr(list(part.columns)).encode())
            if part is not None:
                digest.update(pd.util.hash_pandas_object(part, index=True).to_numpy().tobytes())
        return digest.hexdigest()

    def with_columns(self, columns: Iterable[str]) -> Telemetry:
        """The same telemetry restricted to ``columns``."""
        cols = list(columns)
        return replace(self, frame=self.frame[cols], series={c: self.series[c] for c in cols})


def _within(times: np.ndarray, start: float | None, end: float | None) -> np.ndarray:
    keep = np.ones(len(times), dtype=bool)
    if start is not None:
        keep &= times >= start
    if end is not None:
        keep &= times < end
    return keep


@dataclass(frozen=True)
class Case:
    """One fault case: telemetry around an incident, the anomaly time, and (for evaluation) its label.

    Attributes
    ----------
    name
        A stable identifier, e.g. ``"carts-cpu/1"``.
    telemetry
        Series, spans and call graph over the case window.
    inject_time
        When the fault started (Unix seconds). Rows at or after it are the anomalous part.
    root_cause
        The label, or ``None`` for unlabelled cases.
    symptom
        The series an alert fired on, when known.
    step_seconds
        The sampling step, when known.
    extra
        Free-form metadata kept from the source (``case.json`` keys this class does not model).
    history
        Fault-free telemetry from before the case window, for fitting learning methods (what a running
        service would have been trained on), where the dataset has it; it ends before ``inject_time``.
    """

    name: str
    telemetry: Telemetry
    inject_time: float
    root_cause: RootCause | None = None
    symptom: str | None = None
    step_seconds: float | None = None
    extra: Mapping[str, object] = field(default_factory=dict)
    history: Telemetry | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """Shortcut for ``telemetry.frame``."""
        return self.telemetry.frame

    def normal(self) -> Telemetry:
        """The pre-anomaly part: everything before :attr:`inject_time`."""
        return self.telemetry.between(end=self.inject_time)

    def anomalous(self) -> Telemetry:
        """The part from :attr:`inject_time` on."""
        return self.telemetry.between(start=self.inject_time)

    def with_telemetry(self, telemetry: Telemetry) -> Case:
        """A copy of the case with other telemetry."""
        return replace(self, telemetry=telemetry)


def validate_frame(frame: pd.DataFrame, *, path: str | Path | None = None) -> pd.DataFrame:
    """Check and normalise a time-indexed frame.

    The index must be numeric Unix seconds, strictly ascending and free of duplicates; every column
    must be numeric (NaN allowed). Returns the frame with a float index named ``time`` and float64
    columns.

    Raises
    ------
    DataError
        Naming the offending row or column and what to do.
    """
    if frame.shape[1] == 0:
        raise DataError(
            "no series columns besides 'time'",
            path=path,
            hint="add one numeric column per series, named <service>_<metric>",
        )
    if frame.index.dtype.kind in "fiu" and all(d.kind in "fiu" for d in frame.dtypes):  # the common case, fast
        times = frame.index.to_numpy(dtype=float)
        if not np.isnan(times).any() and (np.diff(times) > 0).all() and not frame.columns.duplicated().any():
            columns = [str(c) for c in frame.columns]
            return pd.DataFrame(frame.to_numpy(dtype=float), index=pd.Index(times, name="time"), columns=columns)
    index = pd.to_numeric(pd.Series(frame.index), errors="coerce")
    bad = index.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"time value {frame.index[row]!r} is not a number",
            path=path,
            where=f"data row {row + 1}",
            hint="the time column holds Unix seconds (int or float)",
        )
    values = index.to_numpy(dtype=float)
    dup = pd.Series(values).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(
            f"duplicate timestamp {values[row]:g}",
            path=path,
            where=f"data row {row + 1}",
            hint="keep one row per timestamp (aggregate or drop duplicates before loading)",
        )
    steps = np.diff(values)
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise DataError(
            f"time goes backwards at {values[row]:g} (previous row {values[row - 1]:g})",
            path=path,
            where=f"data row {row + 1}",
            hint="sort the rows by time",
        )
    duplicated_columns = frame.columns[frame.columns.duplicated()]
    if len(duplicated_columns):
        raise DataError(
            f"column {duplicated_columns[0]!r} appears more than once",
            path=path,
            hint="give every series a unique name",
        )
    out = {}
    for column in frame.columns:
        col = frame[column]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            out[str(column)] = col.to_numpy(dtype=float)
            continue
        numeric = pd.to_numeric(col, errors="coerce")
        suspect = (numeric.isna() & col.notna()).to_numpy()
        if suspect.any():
            # a blank cell is a missing value; anything else that is not a number is an error
            text = col[suspect].astype(str).str.strip()
            bad = text.to_numpy() != ""
            if bad.any():
                row = int(np.flatnonzero(suspect)[np.flatnonzero(bad)[0]])
                raise DataError(
                    f"value {col.iloc[row]!r} is not a number",
                    path=path,
                    where=f"column {column!r}, data row {row + 1}",
                    hint="series values must be numeric; leave a cell empty for a missing value",
                )
        out[str(column)] = numeric.to_numpy(dtype=float)
    result = pd.DataFrame(out, index=pd.Index(values, name="time"))
    return result
