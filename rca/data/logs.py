"""Log lines -> (level, template key): the one definition shared by the loaders and by ingestion.

A *template key* is a log body with everything that varies between two writes of the same statement
masked: numbers, ids, hex strings, UUIDs, timestamps, trace and span ids, addresses. What stays is the
statement's constant text and, where a line carries one, its logger and source line (``Impl#37``):
two statements with the same text at different source lines are different templates. Keys are what
the template miner (:mod:`rca.anomaly.logs`) clusters and what the store counts per time bucket.

The masking is one precompiled regular expression over a bounded prefix of the line, so that one
process can key tens of thousands of records a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.errors import DataError, require_columns

LOG_COLUMNS = ("time", "service", "level", "message")
"""Required columns of a logs table; ``trace_id`` and ``span_id`` are optional."""

COUNT_COLUMNS = ("service", "template_key", "level", "bucket", "count")
"""Columns of :func:`log_counts`."""

MASK = "<*>"
"""What a variable token becomes (Drain's wildcard, so the miner treats it as a parameter)."""

MAX_TOKENS = 24
"""Tokens of a body that make its key. Lines that end in object dumps of any length keep one key."""

_MAX_CHARS = 1024  # bound the regex work on very long lines; MAX_TOKENS tokens fit in it

_LEVEL_WORDS = "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|PANIC|ALERT|EMERG|EMERGENCY"
# A line that starts with a timestamp (date and/or time tokens) and then a level word.
_HEAD = re.compile(rf"^\s*(?:\d[\d:.,TZ+-]*\s+){{0,2}}\[?({_LEVEL_WORDS})\]?:?\s+")
# Elsewhere near the start: an upper-case level word, or a key=value / JSON level field.
_LEVEL_ANYWHERE = re.compile(rf"(?<![\w.])({_LEVEL_WORDS})(?![\w.])|\blevel\"?\s*[=:]\s*\"?([A-Za-z]+)", flags=re.ASCII)
# A token holding a digit, from a token boundary, unless it is part of a logger#line (`Impl#37`): a
# number right after `#` is never a token start (so `#12` stays: it reads as a source line), and a
# logger name is spared by the `(?!#)` after its possessive (non-backtracking) end. Covers numbers,
# hex and trace ids, UUIDs, dates, times, IPs, durations.
_VARIABLE = re.compile(r"(?<![\w.:/+#-])[\w.:/+-]*\d[\w.:/+-]*+(?!#)")

_SYNONYMS = {
    "WARNING": "WARN",
    "ERR": "ERROR",
    "SEVERE": "ERROR",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "PANIC": "FATAL",
    "ALERT": "FATAL",
    "EMERG": "FATAL",
    "EMERGENCY": "FATAL",
    "INFORMATION": "INFO",
    "NOTICE": "INFO",
    "DBG": "DEBUG",
    "FINE": "DEBUG",
    "FINER": "TRACE",
    "FINEST": "TRACE",
}


@dataclass(frozen=True, slots=True)
class LogLine:
    """What the analysis keeps of one log record.

    Attributes
    ----------
    level
        Upper-case level (``TRACE``, ``DEBUG``, ``INFO``, ``WARN``, ``ERROR``, ``FATAL`` or the source's
        own word), ``""`` when neither the record nor the line carries one.
    template_key
        The body with its variable parts masked as ``<*>``.
    """

    level: str
    template_key: str


def normalise_level(text: str) -> str:
    """Upper-case a level name and map common synonyms (``warning`` -> ``WARN``, ``severe`` -> ``ERROR``)."""
    word = text.strip().upper()
    return _SYNONYMS.get(word, word)


def level_of_severity_number(number: int) -> str:
    """The level of an OTLP ``SeverityNumber`` (1-4 TRACE ... 21-24 FATAL; 0 unspecified -> ``""``)."""
    if number <= 0:
        return ""
    return ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")[min((number - 1) // 4, 5)]


def parse_log_line(body: str, severity: str | None = None) -> LogLine:
    """Parse one log body into its level and template key.

    Parameters
    ----------
    body
        The line as the service wrote it, e.g.
        ``16:42:22.382 INFO  t.s.TravelServiceImpl#532 TraceID: 3f.. SpanID: 43.. [getRoute][Get Route]``.
    severity
        The record's own level (OTLP ``severity_text``, a ``level`` column); when given and not empty
        it wins over what the line says.

    Returns
    -------
    LogLine
        For the example: level ``INFO`` and key
        ``t.s.TravelServiceImpl#532 TraceID: <*> SpanID: <*> [getRoute][Get Route]``.
    """
    head = _HEAD.match(body)
    start = 0 if head is None else head.end()
    rest = body[start : start + _MAX_CHARS]
    level = "" if head is None else head.group(1)
    if severity:
        level = severity
    elif head is None:
        found = _LEVEL_ANYWHERE.search(body, 0, 120)
        if found is not None:
            level = found.group(1) or found.group(2)
    tokens = rest.split(None, MAX_TOKENS)
    if len(tokens) > MAX_TOKENS or (len(body) - start > _MAX_CHARS and len(tokens) > 1):
        tokens.pop()  # beyond the key's tokens, or a fragment cut by the character bound
    key = _VARIABLE.sub(MASK, " ".join(tokens))
    return LogLine(level=normalise_level(level), template_key=key)


def check_logs(logs: pd.DataFrame, *, path: str | None = None) -> pd.DataFrame:
    """Check that a logs table has :data:`LOG_COLUMNS` and numeric times; return a normalised copy.

    Text columns become strings (missing -> ``""``), ``time`` float seconds; rows are sorted by time
    (stably) and exact repeats of a record (time, service and message; recordings that overlap and
    at-least-once delivery make them) are kept once.
    """
    require_columns(
        logs.columns,
        LOG_COLUMNS,
        table="logs table",
        path=path,
        hint=f"a logs table has columns {','.join(LOG_COLUMNS)}[,trace_id,span_id]",
    )
    times = pd.to_numeric(logs["time"], errors="coerce")
    bad = ~np.isfinite(times.to_numpy(dtype=float))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"time {logs['time'].iloc[row]!r} is not a number",
            path=path,
            where=f"column 'time', data row {row + 1}",
            hint="log times are Unix seconds (float)",
        )
    columns = [*LOG_COLUMNS, *(c for c in ("trace_id", "span_id") if c in logs.columns)]
    out = pd.DataFrame({c: logs[c].fillna("").astype(str).to_numpy() for c in columns[1:]})
    out.insert(0, "time", times.to_numpy(dtype=float))
    out = out.drop_duplicates(["time", "service", "message"])
    return out.sort_values("time", kind="stable").reset_index(drop=True)


def log_counts(logs: pd.DataFrame, step_seconds: float) -> pd.DataFrame:
    """Count log records per service, template key, level and time bucket.

    Parameters
    ----------
    logs
        Records with :data:`LOG_COLUMNS` (``time`` in Unix seconds; ``level`` may be empty, then the
        line's own level is used).
    step_seconds
        Bucket width; a bucket is named by its start, ``floor(time / step) * step``.

    Returns
    -------
    pandas.DataFrame
        :data:`COUNT_COLUMNS`, one row per (service, template_key, level, bucket), sorted.
    """
    if step_seconds <= 0:
        raise ValueError(f"step_seconds must be positive, got {step_seconds}")
    if logs.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "bucket" else str) for c in COUNT_COLUMNS}).astype(
            {"count": "int64"}
        )
    levels = logs["level"].fillna("").astype(str) if "level" in logs.columns else pd.Series("", index=logs.index)
    parsed = [
        parse_log_line(message, severity or None)
        for message, severity in zip(logs["message"].fillna("").astype(str), levels, strict=True)
    ]
    keyed = pd.DataFrame(
        {
            "service": logs["service"].astype(str).to_numpy(),
            "template_key": [p.template_key for p in parsed],
            "level": [p.level for p in parsed],
            "bucket": np.floor(logs["time"].to_numpy(dtype=float) / step_seconds) * step_seconds,
        }
    )
    counts = keyed.groupby(["service", "template_key", "level", "bucket"], sort=True).size()
    return counts.rename("count").reset_index()
