"""The container logs of the Nezha Train Ticket layout.

``<day>/log/<HH_MM>_log.csv`` holds the log lines of the minutes around each fault and
``construct/<day>/log/`` one fault-free minute of the day, with columns
``Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log``; ``Log`` is a JSON string whose
``log`` field holds the line as the service wrote it. Like a trace file, a file ``HH_MM`` covers
about the minute *before* HH:MM, so times are read from ``TimeUnixNano``, never from file names.
A case reads only the files of its own window (the whole set is hundreds of megabytes).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from rca.data.logs import check_logs, parse_log_line
from rca.data.notes import note
from rca.errors import DataError, require_columns

LOG_SUFFIX = "_log.csv"
_NEEDED = ("TimeUnixNano", "PodName", "Log")


def minute_log_files(directory: Path, day: str) -> list[tuple[float, Path]]:
    """``HH_MM_log.csv`` files of ``directory`` with the Unix time of ``HH:MM`` (what the name says)."""
    midnight = pd.Timestamp(day, tz="UTC")
    files = []
    for path in sorted(directory.glob(f"*{LOG_SUFFIX}")):
        hour, minute = path.name.split("_")[:2]
        if hour.isdigit() and minute.isdigit():
            files.append(((midnight + pd.Timedelta(hours=int(hour), minutes=int(minute))).timestamp(), path))
    return files


def _line(raw: str) -> str:
    """The container line of a ``Log`` cell: its JSON ``log`` field, else the cell itself."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw.rstrip("\n")
    if isinstance(value, dict) and isinstance(value.get("log"), str):
        return str(value["log"]).rstrip("\n")
    return raw.rstrip("\n")


def read_log_file(path: Path, service_of_pod: Callable[[str], str]) -> pd.DataFrame:
    """One Nezha log file as a logs table (case-format columns, level parsed from each line).

    ``service_of_pod`` maps a pod name to its service (the same mapping as for metrics).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        # the recordings hold a few rows where two lines were written into one (more fields than
        # the header): such a row cannot be told apart, so it is skipped, with a note
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="warn")
    skipped = [str(w.message).strip() for w in caught if issubclass(w.category, pd.errors.ParserWarning)]
    if skipped:
        note(path, f"skipped malformed row(s): {'; '.join(skipped)}")
    require_columns(
        raw.columns,
        _NEEDED,
        path=path,
        hint="expected Nezha's log CSV header Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log",
    )
    nanos = pd.to_numeric(raw["TimeUnixNano"], errors="coerce")
    if nanos.isna().any():
        row = int(np.flatnonzero(nanos.isna().to_numpy())[0])
        raise DataError(
            f"TimeUnixNano {raw['TimeUnixNano'].iloc[row]!r} is not a number",
            path=path,
            where=f"data row {row + 1}",
            hint="TimeUnixNano holds Unix nanoseconds",
        )
    nanos = _recover_unset_times(nanos, raw, path)
    if len(nanos) < len(raw):
        raw = raw.loc[nanos.index]
    messages = [_line(cell) for cell in raw["Log"]]
    logs = pd.DataFrame(
        {
            "time": nanos.to_numpy(dtype=float) / 1e9,
            "service": raw["PodName"].map(service_of_pod).to_numpy(),
            "level": [parse_log_line(m).level for m in messages],
            "message": messages,
            "trace_id": raw["TraceID"].to_numpy() if "TraceID" in raw.columns else "",
            "span_id": raw["SpanID"].to_numpy() if "SpanID" in raw.columns else "",
        }
    )
    return logs


def _recover_unset_times(nanos: pd.Series, raw: pd.DataFrame, path: Path) -> pd.Series:
    """``TimeUnixNano`` with unset times (Go's zero time, the int64 minimum: year 1754) read from ``Timestamp``.

    A few Nezha records carry no nanosecond time but a readable ``Timestamp`` (UTC, milliseconds);
    records with neither are left out with a note.
    """
    unset = nanos <= 0
    if not unset.any():
        return nanos
    stamps = raw.loc[unset, "Timestamp"] if "Timestamp" in raw.columns else pd.Series("", index=nanos.index[unset])
    parsed = pd.to_datetime(stamps, utc=True, errors="coerce", format="ISO8601")
    readable = parsed.notna()
    nanos = nanos.copy()
    nanos[parsed.index[readable]] = (parsed[readable] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    message = f"{int(unset.sum())} record(s) carry no TimeUnixNano; their Timestamp (UTC) is used"
    if not readable.all():
        nanos = nanos.drop(parsed.index[~readable])
        message += f", {int((~readable).sum())} without a readable Timestamp are left out"
    note(path, message)
    return nanos


def read_log_files(paths: Iterable[Path], service_of_pod: Callable[[str], str]) -> pd.DataFrame | None:
    """Several log files as one checked logs table (repeats across overlapping files kept once)."""
    tables = [read_log_file(p, service_of_pod) for p in paths]
    if not tables:
        return None
    return check_logs(pd.concat(tables, ignore_index=True))


def case_logs(
    day_dir: Path,
    construct_dir: Path,
    day: str,
    window: tuple[float, float],
    rows: np.ndarray,
    step_seconds: float,
    service_of_pod: Callable[[str], str],
    other_faults: Iterable[float] = (),
) -> pd.DataFrame | None:
    """The log records of one case: those whose row (the step that ends after them) is in ``rows``.

    Reads the minute files whose name falls in ``window`` (``start < HH:MM <= end``) and the day's
    fault-free ``construct`` files; ``rows`` are the case's frame rows, so records in rows the case
    dropped (another fault's effect, a construct minute after the fault) are dropped alike. Records
    of the step before another fault's start (``other_faults``) are dropped too: a fault often shows
    in the logs up to a minute before its label, so they are not normal. ``None`` when the day has
    no log files.
    """
    start, end = window
    paths = [p for t0, p in minute_log_files(day_dir / "log", day) if start < t0 <= end]
    paths += [p for _, p in minute_log_files(construct_dir / "log", day)]
    logs = read_log_files(paths, service_of_pod)
    if logs is None:
        return None
    times = logs["time"].to_numpy()
    keep = np.isin((np.floor(times / step_seconds) + 1.0) * step_seconds, rows)
    for start_time in other_faults:
        keep &= ~((times >= start_time - step_seconds) & (times < start_time))
    return logs.loc[keep].reset_index(drop=True)
