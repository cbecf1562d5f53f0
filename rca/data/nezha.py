"""The Nezha Train Ticket layout (FSE 2023, github IntelligentDDS/Nezha).

``<day>/<day>-fault_list.json`` lists faults; ``<day>/metric/<pod>_metric.csv`` holds per-pod metrics
at a one-minute step; ``<day>/trace/<HH_MM>_trace.csv`` holds the spans of the minutes after each
fault; ``construct/<day>/trace/`` one minute of spans from a fault-free period of the day.

How a case is cut (see also ``docs/data.md``):

* Time grid. Every row stands for the minute that ends at its timestamp, as a Prometheus sample
  summarises the step before it: a pod sample taken at 08:43:10 and the spans that start in
  [08:43:00, 08:44:00) both land in the row 08:44:00. Rows after the fault start are anomalous.
* Series. Pod metrics become ``<service>_<metric>`` (service = pod name without its replica-set
  suffix, metric = the column in snake case without its unit); several pods of one service are
  averaged. Node-level columns (``Node*``) are dropped: they describe the host, not the service, and
  every pod on a busy node would share them. ``front_service.csv`` becomes the service
  ``front-service`` (a name of its own). ``metric/dependency.csv`` (``Source,Target,Weight``), where the
  layout has it, is the case's call graph; other files are skipped with one note.
  Spans add per-service request rate and latency percentiles (:func:`rca.data.spans.span_series`).
* Window. The 30 minutes before the fault and the 6 minutes after it (never past the next fault).
  Rows overlapping the 5 minutes after any *other* fault are removed, so no other fault leaks into
  the baseline (faults last about 3 minutes in this data). The day's fault-free span file
  (``construct``) is added, with the metric rows its spans fall into, where they precede the fault:
  it is the only trace baseline the data has. A trace file ``HH_MM`` holds about the minute *before*
  HH:MM, so rows are read from span start times, never from file names.
* History. :func:`fault_free_history`: the day's metric rows before the fault, without any other
  fault's window, for fitting on what a running service would have seen.
* Label. ``inject_time`` (UTC) is used; ``inject_timestamp`` is 8 hours off for some entries. The
  root-cause metric is labelled for CPU faults only (``<service>_cpu_usage_rate``): the other fault
  types' finer labels are code regions or a metric the data does not have.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rca.data.case import Case, RootCause, Telemetry
from rca.data.casedir import read_table
from rca.data.nezha_logs import case_logs
from rca.data.notes import note_skipped
from rca.data.spans import check_spans, span_series
from rca.errors import DataError, require_columns

STEP_SECONDS = 60.0
BEFORE_SECONDS = 30 * 60.0
AFTER_SECONDS = 6 * 60.0
FAULT_EFFECT_SECONDS = 5 * 60.0

_POD_SUFFIX = re.compile(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_UNIT = re.compile(r"\([^)]*\)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MINUTE_FILE = re.compile(r"(?P<hour>[0-2]?\d)_(?P<minute>[0-5]?\d)_trace\.csv")
_CPU_FAULTS = {"cpu_contention": "cpu_usage_rate", "cpu_consumed": "cpu_usage_rate"}


def service_of_pod(pod: str) -> str:
    """``ts-contacts-service-866bd68c97-xcqfx`` -> ``ts-contacts-service``."""
    return _POD_SUFFIX.sub("", pod)


def metric_name(column: str) -> str:
    """``PodClientLatencyP90(s)`` -> ``pod_client_latency_p90``."""
    return _CAMEL.sub("_", _UNIT.sub("", column)).lower()


def is_nezha_root(path: Path) -> bool:
    """Whether ``path`` is a Nezha dataset root (day folders with fault lists)."""
    return any(path.glob("*/*-fault_list.json"))


@dataclass(frozen=True)
class NezhaFault:
    """One entry of a day's fault list."""

    day: str
    index: int
    inject_time: float
    pod: str
    fault: str

    @property
    def service(self) -> str:
        return service_of_pod(self.pod)

    @property
    def name(self) -> str:
        return f"{self.day}/{self.index:02d}-{self.service}-{self.fault}"


def list_faults(root: str | Path) -> list[NezhaFault]:
    """All faults of a Nezha dataset, ordered by day and time."""
    root = Path(root)
    faults: list[NezhaFault] = []
    for fault_list in sorted(root.glob("*/*-fault_list.json")):
        day = fault_list.parent.name
        try:
            hours = json.loads(fault_list.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path=fault_list, where=f"line {exc.lineno}") from None
        entries = [e for hour in sorted(hours) for e in hours[hour]]
        times = []
        for number, entry in enumerate(entries):
            try:
                stamp = pd.Timestamp(entry["inject_time"], tz="UTC").timestamp()
                times.append((stamp, entry["inject_pod"], entry["inject_type"]))
            except (KeyError, ValueError) as exc:
                raise DataError(
                    f"fault entry {number} is malformed ({exc})",
                    path=fault_list,
                    hint="each entry needs inject_time ('YYYY-MM-DD HH:MM:SS', UTC), inject_pod, inject_type",
                ) from None
        times.sort()
        faults += [NezhaFault(day, i, t, pod, kind) for i, (t, pod, kind) in enumerate(times)]
    return faults


def _ceil_to_step(seconds: np.ndarray) -> np.ndarray:
    return (np.floor(seconds / STEP_SECONDS) + 1.0) * STEP_SECONDS


def _parse_time(column: pd.Series) -> np.ndarray:
    # "2023-01-29 08:41:09.470514006 +0000 UTC m=+0.546675867": UTC wall time before " +0000".
    stamps = pd.to_datetime(column.str.partition(" +")[0], utc=True, format="ISO8601")
    return stamps.astype("int64").to_numpy() / 1e9


POD_FILE_SUFFIX = "_metric.csv"
SLI_FILE = "front_service.csv"
CALL_GRAPH_FILE = "dependency.csv"
SLI_SERVICE = "front-service"
"""The service name of the user-facing SLI (``front_service.csv``): a name of its own, so that it never
merges with a real service's pod or span series (Online Boutique has a service ``frontend``)."""


@dataclass(frozen=True)
class DayMetrics:
    """The metric files of one day on the minute grid (read-only; shared by every case of the day).

    Attributes
    ----------
    frame
        One column per ``<service>_<metric>`` series, indexed by minute end.
    series
        ``column -> (service, metric)``.
    graph
        Caller -> callee service edges from the layout's call-graph file, or ``None``.
    """

    frame: pd.DataFrame
    series: dict[str, tuple[str, str]]
    graph: tuple[tuple[str, str], ...] | None


def _read_metric_file(path: Path, drop: set[str]) -> pd.DataFrame:
    """One pod or SLI file as numeric columns (snake-case metric names) on the minute grid."""
    raw = read_table(path)
    if "Time" not in raw.columns:
        raise DataError("no 'Time' column", path=path, hint="Nezha metric files start with Time,TimeStamp")
    try:
        times = _ceil_to_step(_parse_time(raw["Time"].astype(str)))
    except (ValueError, TypeError) as exc:
        raise DataError(f"unparseable Time value ({exc})", path=path, where="column 'Time'") from None
    keep = [c for c in raw.columns if c not in drop and not str(c).startswith("Node")]
    values = raw[keep].apply(pd.to_numeric, errors="coerce")
    values.columns = [metric_name(str(c)) for c in keep]
    values = values.loc[:, ~values.columns.duplicated()]
    values.index = pd.Index(times, name="time")
    return pd.DataFrame(values.groupby(level=0).mean())


def read_call_graph(path: Path) -> tuple[tuple[str, str], ...]:
    """A ``Source,Target[,Weight]`` call-graph file as service edges (caller, callee); pod names are
    reduced to their service, self-loops dropped."""
    table = read_table(path, dtype=str)
    columns = {str(c).strip().lower(): c for c in table.columns}
    if not {"source", "target"} <= set(columns):
        raise DataError(
            f"lacks columns Source,Target (header: {', '.join(map(str, table.columns))})",
            path=path,
            hint="one caller,callee row per edge",
        )
    pairs = table[[columns["source"], columns["target"]]].dropna()
    edges = {(service_of_pod(str(a).strip()), service_of_pod(str(b).strip())) for a, b in pairs.to_numpy()}
    return tuple(sorted((a, b) for a, b in edges if a and b and a != b))


@functools.lru_cache(maxsize=4)
def load_day_metrics(day_dir: Path) -> DayMetrics:
    """All metric files of one day as one frame on the minute grid (cached; treat as read-only).

    ``<pod>_metric.csv`` files are pod metrics, ``front_service.csv`` the SLI (service
    :data:`SLI_SERVICE`), ``dependency.csv`` the call graph; any other file is skipped with one note.
    """
    metric_dir = day_dir / "metric"
    files = sorted(p for p in metric_dir.glob("*") if p.is_file())
    pod_files = [p for p in files if p.name.endswith(POD_FILE_SUFFIX)]
    if not pod_files:
        raise DataError("no metric files", path=metric_dir, hint="expected <pod>_metric.csv files")
    graph = read_call_graph(metric_dir / CALL_GRAPH_FILE) if (metric_dir / CALL_GRAPH_FILE).is_file() else None
    known = {*(p.name for p in pod_files), SLI_FILE, CALL_GRAPH_FILE}
    note_skipped(metric_dir, (p.name for p in files if p.name not in known), why="that are not Nezha metric files")

    per_service: dict[str, list[pd.DataFrame]] = {}
    for path in pod_files:
        service = service_of_pod(path.name.removesuffix(POD_FILE_SUFFIX))
        per_service.setdefault(service, []).append(_read_metric_file(path, {"Time", "TimeStamp", "PodName"}))
    if (metric_dir / SLI_FILE).is_file():
        sli = _read_metric_file(metric_dir / SLI_FILE, {"Time", "TimeStamp", "ServiceName"})
        per_service.setdefault(SLI_SERVICE, []).append(sli)
    columns: dict[str, pd.Series] = {}
    series: dict[str, tuple[str, str]] = {}
    for service, frames in sorted(per_service.items()):
        merged = pd.concat(frames).groupby(level=0).mean()
        for metric in merged.columns:
            name = f"{service}_{metric}"
            columns[name] = merged[metric]
            series[name] = (service, metric)
    frame = pd.DataFrame(columns).sort_index()
    return DayMetrics(frame, series, graph)


def _read_spans(path: Path) -> pd.DataFrame:
    raw = read_table(path, dtype=str)
    needed = ["TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano", "EndTimeUnixNano"]
    require_columns(raw.columns, needed, path=path, hint="expected Nezha's trace CSV header")
    spans = pd.DataFrame(
        {
            "trace_id": raw["TraceID"],
            "span_id": raw["SpanID"],
            "parent_span_id": raw["ParentID"].where(raw["ParentID"] != "root", ""),
            "service": raw["PodName"].map(service_of_pod),
            "operation": raw["OperationName"],
            "start_ns": raw["StartTimeUnixNano"],
            "end_ns": raw["EndTimeUnixNano"],
        }
    )
    return check_spans(spans, path=str(path))


def _minute_files(directory: Path, day: str) -> list[tuple[float, Path]]:
    """``HH_MM_trace.csv`` files of ``directory`` with the Unix time of ``HH:MM``.

    A file holds the spans of about the minute *before* its name (``10_04`` holds spans that start
    from 10:03:10 to 10:04:09), so which rows a file feeds is read from its spans, not from its name.
    """
    midnight = pd.Timestamp(day, tz="UTC")
    files, others = [], []
    for path in sorted(p for p in directory.glob("*") if p.is_file()):
        match = _MINUTE_FILE.fullmatch(path.name)
        if match is None:
            others.append(path.name)
            continue
        offset = pd.Timedelta(hours=int(match["hour"]), minutes=int(match["minute"]))
        files.append(((midnight + offset).timestamp(), path))
    note_skipped(directory, others, why="not named HH_MM_trace.csv")
    return files


def read_nezha_case(root: str | Path, fault: NezhaFault, faults: list[NezhaFault]) -> Case:
    """Cut the case of ``fault`` out of its day (see the module docstring)."""
    root = Path(root)
    day_dir = root / fault.day
    day = load_day_metrics(day_dir)
    day_frame, series = day.frame, day.series
    t = fault.inject_time
    same_day = [f for f in faults if f.day == fault.day and f is not fault]
    later = [f.inject_time for f in same_day if f.inject_time > t]
    end = min([t + AFTER_SECONDS, *later])
    index = day_frame.index.to_numpy()
    keep = (index > t - BEFORE_SECONDS) & (index <= end)

    span_files = [
        p for t0, p in _minute_files(day_dir / "trace", fault.day) if t - BEFORE_SECONDS < t0 <= end + STEP_SECONDS
    ]
    construct = [p for _, p in _minute_files(root / "construct" / fault.day / "trace", fault.day)]
    if construct:
        # the fault-free rows that hold construct spans and precede the fault (no look-ahead)
        starts = pd.concat([_read_spans(p)["start_ns"] for p in construct]).to_numpy()
        rows = np.unique(_ceil_to_step(starts / 1e9))
        keep |= np.isin(index, rows[rows <= t])
        span_files += construct
    for other in same_day:
        keep &= ~((index > other.inject_time) & (index - STEP_SECONDS < other.inject_time + FAULT_EFFECT_SECONDS))
    frame = day_frame.loc[keep]
    if not (frame.index <= t).any() or not (frame.index > t).any():
        raise DataError(
            f"no baseline or no anomalous rows around {pd.Timestamp(t, unit='s')}",
            path=day_dir / "metric",
            hint="the metric files must cover the fault time",
        )

    traces = None
    if span_files:
        # one check over all minutes: a span recorded in two minute files counts once
        spans = check_spans(pd.concat([_read_spans(p) for p in span_files], ignore_index=True))
        # Keep the spans of the window's rows only (a construct minute may fall in a removed row).
        row_of_span = _ceil_to_step(spans["start_ns"].to_numpy() / 1e9)
        traces = spans.loc[np.isin(row_of_span, frame.index.to_numpy())].reset_index(drop=True)
        trace_frame, trace_series = span_series(traces, STEP_SECONDS)
        frame = frame.join(trace_frame.reindex(frame.index), how="left")
        series = {**series, **trace_series}

    frame = frame.loc[:, frame.notna().any()]
    logs = case_logs(
        day_dir, root / "construct" / fault.day, fault.day, (t - BEFORE_SECONDS, end + STEP_SECONDS),
        frame.index.to_numpy(), STEP_SECONDS, service_of_pod, [f.inject_time for f in same_day],
    )  # fmt: skip
    history = fault_free_history(day, fault, same_day)
    metric = _CPU_FAULTS.get(fault.fault)
    label_metric = f"{fault.service}_{metric}" if metric and f"{fault.service}_{metric}" in frame.columns else None
    # The first anomalous row's timestamp is its minute's end; rows after `t` are anomalous.
    return Case(
        name=fault.name,
        telemetry=Telemetry.from_frame(frame, series, traces, day.graph, logs=logs),
        inject_time=t,
        root_cause=RootCause(service=fault.service, metric=label_metric, fault=fault.fault),
        step_seconds=STEP_SECONDS,
        extra={"source": "nezha", "inject_pod": fault.pod},
        history=history,
    )


def fault_free_history(day: DayMetrics, fault: NezhaFault, others: list[NezhaFault]) -> Telemetry:
    """The day's metric rows before ``fault`` with every other fault's window removed.

    A fault's window is the rows overlapping the :data:`FAULT_EFFECT_SECONDS` after its injection (the
    faults last about 3 minutes). Windows that run to the next fault would leave almost nothing: the
    day's faults follow each other 4 to 19 minutes apart from the first minutes of the recording on,
    while most of the time between them is fault-free. No row at or after ``fault`` is kept.
    """
    index = day.frame.index.to_numpy()
    keep = index < fault.inject_time
    for other in others:
        keep &= ~((index > other.inject_time) & (index - STEP_SECONDS < other.inject_time + FAULT_EFFECT_SECONDS))
    frame = day.frame.loc[keep]
    return Telemetry.from_frame(frame.loc[:, frame.notna().any()], day.series)
