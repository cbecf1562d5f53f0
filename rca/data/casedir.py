"""Read and write case directories (the project's own case format, and RCAEval's layout).

A case directory holds ``data.csv`` and ``inject_time.txt``, and optionally ``root_cause.json``,
``traces.csv``, ``logs.csv``, ``graph.csv``, ``series.csv``, ``case.json`` and ``history.csv`` (see
``docs/data.md``); other files are skipped with one note. RCAEval's RE1 layout is the same minus
``root_cause.json``: its label comes from the parent folder's name, ``<service>_<fault>``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rca.data.case import Case, RootCause, Telemetry, split_series_name, validate_frame
from rca.data.logs import check_logs
from rca.data.notes import note_skipped
from rca.data.spans import check_spans
from rca.errors import DataError, require_columns

CASE_DATA = "data.csv"
INJECT_TIME = "inject_time.txt"
ROOT_CAUSE = "root_cause.json"
TRACES = "traces.csv"
LOGS = "logs.csv"
GRAPH = "graph.csv"
SERIES = "series.csv"
CASE_JSON = "case.json"
HISTORY = "history.csv"
KNOWN_FILES = frozenset({CASE_DATA, INJECT_TIME, ROOT_CAUSE, TRACES, GRAPH, SERIES, CASE_JSON, HISTORY, LOGS})
"""Every file a case directory may hold; anything else is skipped with one note."""


def _check_ragged(path: Path) -> list[str]:
    """Return the header, raising if any row has a different number of fields."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("the file is empty", path=path, hint="write a header line starting with 'time'") from None
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"row has {len(row)} fields but the header has {len(header)}",
                    path=path,
                    where=f"line {line_number}",
                    hint="every row needs one value per header column (leave a cell empty if missing)",
                )
    return header


def read_table(path: Path, **options: Any) -> pd.DataFrame:
    """Any CSV table (``pandas.read_csv`` options), with empty or unreadable files as a DataError."""
    try:
        table: pd.DataFrame = pd.read_csv(path, **options)
        return table
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", path=path, hint="write the header line and the rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"unreadable CSV ({str(exc).strip()})", path=path) from None


def read_frame_csv(path: Path, *, time_column: str = "time") -> pd.DataFrame:
    """Read a ``time`` + series CSV into a validated frame."""
    header = _check_ragged(path)
    if time_column not in header:
        raise DataError(
            f"no {time_column!r} column (header: {', '.join(header[:6])}{'...' if len(header) > 6 else ''})",
            path=path,
            hint=f"name the Unix-seconds column {time_column!r}",
        )
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    raw = raw.set_index(time_column)
    return validate_frame(raw, path=path)


def read_inject_time(path: Path) -> float:
    """The one number of an ``inject_time.txt`` (Unix seconds)."""
    if not path.exists():
        raise DataError("missing", path=path, hint="write the fault start (Unix seconds) into inject_time.txt")
    text = path.read_text().strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{text[:40]!r} is not a number", path=path, hint="inject_time.txt holds one number, Unix seconds"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{text!r} is not finite", path=path, hint="write Unix seconds")
    return value


def check_inject_time(frame: pd.DataFrame, inject_time: float, *, path: str | Path | None = None) -> None:
    """The anomaly time must leave at least one row before it and one at or after it."""
    first, last = float(frame.index[0]), float(frame.index[-1])
    if not first < inject_time <= last:
        raise DataError(
            f"inject time {inject_time:g} is outside the data ({first:g} .. {last:g}); "
            "a case needs rows before the fault (the baseline) and from the fault on",
            path=path,
            hint="check the time zone and unit (seconds, not milliseconds) of inject_time.txt and data.csv",
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path=path, where=f"line {exc.lineno}") from None
    if not isinstance(value, dict):
        raise DataError("expected a JSON object", path=path)
    return value


def rcaeval_label(directory: Path, frame: pd.DataFrame) -> RootCause | None:
    """RCAEval's ``<service>_<fault>/<run>/`` folder name as a label."""
    service, sep, fault = directory.parent.name.partition("_")
    if not sep:
        return None
    metric = f"{service}_{fault}"
    return RootCause(service=service, metric=metric if metric in frame.columns else None, fault=fault)


def read_case_dir(directory: str | Path, *, name: str | None = None) -> Case:
    """Read one case directory.

    Parameters
    ----------
    directory
        A folder holding ``data.csv`` and ``inject_time.txt``.
    name
        The case name; defaults to the folder name.

    Raises
    ------
    DataError
        When a file is malformed; the message names the file, the row or column, and the fix.
    """
    directory = Path(directory)
    frame = read_frame_csv(directory / CASE_DATA)
    inject_time = read_inject_time(directory / INJECT_TIME)
    check_inject_time(frame, inject_time, path=directory / INJECT_TIME)

    series: dict[str, tuple[str, str]] = {}
    if (directory / SERIES).exists():
        table = read_table(directory / SERIES, dtype=str)
        require_columns(
            table.columns,
            ["column", "service", "metric"],
            path=directory / SERIES,
            hint="series.csv has columns column,service,metric",
        )
        series = {
            str(c): (str(s), str(m)) for c, s, m in zip(table["column"], table["service"], table["metric"], strict=True)
        }

    traces = None
    if (directory / TRACES).exists():
        _check_ragged(directory / TRACES)
        raw_spans = pd.read_csv(directory / TRACES, dtype=str, keep_default_na=False)
        traces = check_spans(raw_spans, path=str(directory / TRACES))

    logs = None
    if (directory / LOGS).exists():
        _check_ragged(directory / LOGS)
        raw_logs = pd.read_csv(directory / LOGS, dtype=str, keep_default_na=False)
        logs = check_logs(raw_logs, path=str(directory / LOGS))

    graph = None
    if (directory / GRAPH).exists():
        table = read_table(directory / GRAPH, dtype=str)
        if not {"source", "target"} <= set(table.columns):
            raise DataError(
                "lacks columns source,target", path=directory / GRAPH, hint="one caller,callee row per edge"
            )
        graph = list(zip(table["source"], table["target"], strict=True))

    options = _read_json(directory / CASE_JSON) if (directory / CASE_JSON).exists() else {}
    symptom = options.pop("symptom", None)
    if symptom is not None and symptom not in frame.columns:
        raise DataError(
            f"symptom {symptom!r} is not a column of data.csv", path=directory / CASE_JSON, hint="name a series column"
        )
    step = options.pop("step_seconds", None)

    if (directory / ROOT_CAUSE).exists():
        label = _read_json(directory / ROOT_CAUSE)
        if "service" not in label:
            raise DataError('lacks "service"', path=directory / ROOT_CAUSE, hint='write {"service": "<name>"}')
        root_cause: RootCause | None = RootCause(
            service=str(label["service"]), metric=label.get("metric"), fault=label.get("fault")
        )
    else:
        root_cause = rcaeval_label(directory, frame)

    note_skipped(directory, _unknown_files(directory), why="that are not part of a case directory")
    return Case(
        name=name or directory.name,
        telemetry=Telemetry.from_frame(frame, series, traces, graph, logs=logs),
        inject_time=inject_time,
        root_cause=root_cause,
        symptom=symptom,
        step_seconds=None if step is None else float(step),
        extra=options,
        history=read_history(directory / HISTORY, inject_time, series) if (directory / HISTORY).exists() else None,
    )


def _unknown_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.is_file() and p.name not in KNOWN_FILES]


def read_history(path: Path, inject_time: float, series: dict[str, tuple[str, str]]) -> Telemetry:
    """``history.csv``: fault-free rows (same columns as ``data.csv``), all before the inject time."""
    frame = read_frame_csv(path)
    if len(frame) and float(frame.index[-1]) >= inject_time:
        raise DataError(
            f"history runs to {float(frame.index[-1]):g}, at or after the inject time {inject_time:g}",
            path=path,
            hint="history.csv holds fault-free rows from before the fault only",
        )
    return Telemetry.from_frame(frame, series)


def write_case_dir(case: Case, directory: str | Path) -> Path:
    """Write a case in the case-directory format; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    telemetry = case.telemetry
    frame = telemetry.frame.copy()
    frame.index = frame.index.rename("time")
    frame.to_csv(directory / CASE_DATA, float_format="%.10g")
    (directory / INJECT_TIME).write_text(f"{case.inject_time:.6f}".rstrip("0").rstrip(".") + "\n")
    if case.root_cause is not None:
        label = {"service": case.root_cause.service}
        if case.root_cause.metric:
            label["metric"] = case.root_cause.metric
        if case.root_cause.fault:
            label["fault"] = case.root_cause.fault
        (directory / ROOT_CAUSE).write_text(json.dumps(label) + "\n")
    overrides = {c: sm for c, sm in telemetry.series.items() if split_series_name(c) != tuple(sm)}
    if overrides:
        rows = [{"column": c, "service": s, "metric": m} for c, (s, m) in telemetry.series.items()]
        pd.DataFrame(rows).to_csv(directory / SERIES, index=False)
    if telemetry.traces is not None:
        telemetry.traces.to_csv(directory / TRACES, index=False)
    if telemetry.logs is not None:
        telemetry.logs.to_csv(directory / LOGS, index=False, float_format="%.6f")
    if telemetry.graph is not None:
        pd.DataFrame(list(telemetry.graph), columns=["source", "target"]).to_csv(directory / GRAPH, index=False)
    options: dict[str, Any] = dict(case.extra)
    if case.symptom is not None:
        options["symptom"] = case.symptom
    if case.step_seconds is not None:
        options["step_seconds"] = case.step_seconds
    if options:
        (directory / CASE_JSON).write_text(json.dumps(options, indent=1, default=str) + "\n")
    if case.history is not None:
        history = case.history.frame.copy()
        history.index = history.index.rename("time")
        history.to_csv(directory / HISTORY, float_format="%.10g")
    return directory
