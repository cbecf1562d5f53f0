"""Publish recorded cases to Kafka as the OpenTelemetry Collector would (``rca replay``).

A case's metric series become OTLP gauges: one message per timestamp, one resource per service
(``service.name``), one gauge per metric (the series' metric name). Its spans are published in
batches of :data:`SPANS_PER_MESSAGE`, ordered by end time, each at the time its last span ended, as
a Collector's batch processor would. Its log lines (``telemetry.logs``) are published the same way,
:data:`LOGS_PER_MESSAGE` to an OTLP ``LogsData`` message (body, severity, ``service.name``, trace and
span ids) on ``otlp_logs``, or as JSON lines on ``rca_logs`` with encoding ``jsonl``. Series that
the case derived from its spans (request rate,
error rate, latency percentiles) are not published as gauges: the store derives them from the
spans with the same functions, so they come back equal.

Timing: message times keep the case's spacing divided by ``speed`` (``0`` = as fast as possible).
With ``now``, timestamps are shifted by a whole number of steps so that the case starts now
(``speed > 0``) or ends now (``speed == 0``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kafka import KafkaProducer

from rca.data.case import Case
from rca.data.datasets import discover
from rca.data.spans import span_series
from rca.errors import RCAError
from rca.ingest.encode import encode_metrics, encode_spans
from rca.ingest.otlp_logs import encode_logs
from rca.settings import IngestSettings, Settings

REPLAY_ENCODINGS = ("otlp_proto", "otlp_json", "jsonl")
"""Encodings ``rca replay`` can publish; ``jsonl`` means the ``rca_metrics`` and ``rca_logs`` JSON-lines topics."""

SPANS_PER_MESSAGE = 512
"""Spans per message (the Collector batch processor's default ``send_batch_size`` is 8192; 512 keeps
messages far below the 1 MB broker limit)."""

LOGS_PER_MESSAGE = 512
"""Log records per message (as for spans: far below the broker's 1 MB limit for lines of a few hundred bytes)."""

MAX_MESSAGE_BYTES = 900_000
"""Metric messages above this are split by service."""


class ReplayError(RCAError):
    """A replay cannot run; the message says what to fix."""


@dataclass(frozen=True)
class OutMessage:
    """One message to publish at ``at`` (case time, Unix seconds)."""

    at: float
    topic: str
    value: bytes
    points: int
    spans: int
    logs: int = 0


@dataclass
class ReplayReport:
    """What a replay published."""

    cases: list[str]
    messages: int = 0
    points: int = 0
    spans: int = 0
    logs: int = 0
    seconds: float = 0.0
    offsets: dict[str, float] | None = None


def case_step(case: Case) -> float:
    """The case's sampling step: ``step_seconds`` when known, else the median spacing, else 1 s."""
    if case.step_seconds:
        return float(case.step_seconds)
    index = case.frame.index.to_numpy(dtype=float)
    if len(index) > 1:
        return float(np.median(np.diff(index)))
    return 1.0


def trace_derived_columns(case: Case) -> set[str]:
    """Columns of the case's frame that the loaders computed from its spans."""
    traces = case.telemetry.traces
    if traces is None or traces.empty:
        return set()
    derived, _ = span_series(traces, case_step(case))
    return {c for c in derived.columns if c in case.frame.columns}


def time_offset(case: Case, *, now: bool, speed: float, clock: Callable[[], float] = time.time) -> float:
    """Seconds to add to the case's timestamps (a whole number of steps; 0 without ``now``)."""
    if not now:
        return 0.0
    index = case.frame.index.to_numpy(dtype=float)
    anchor = float(index[0]) if speed > 0 else float(index[-1])
    step = case_step(case)
    return math.floor((clock() - anchor) / step) * step


def plan_case(case: Case, settings: IngestSettings, encoding: str, offset: float = 0.0) -> list[OutMessage]:
    """The messages of one case, in publishing order.

    Parameters
    ----------
    case
        The case to publish.
    settings
        Topic names (``metrics_topic``, ``spans_topic``, ``jsonl_topic``, ``logs_topic``,
        ``logs_jsonl_topic``) and the span encoding.
    encoding
        ``otlp_proto``, ``otlp_json`` (metrics, spans and logs) or ``jsonl`` (metrics and logs to the
        JSON-lines topics; spans then use ``settings.spans_encoding``).
    offset
        Seconds added to every timestamp.
    """
    if encoding not in REPLAY_ENCODINGS:
        raise ReplayError(f"unknown encoding {encoding!r}; choose one of {', '.join(REPLAY_ENCODINGS)}")
    if encoding == "jsonl" and not settings.jsonl_topic:
        raise ReplayError("encoding jsonl needs a JSON-lines topic; set RCA_JSONL_TOPIC (default rca_metrics)")
    metrics_topic = settings.jsonl_topic if encoding == "jsonl" else settings.metrics_topic
    span_encoding = settings.spans_encoding if encoding == "jsonl" else encoding
    telemetry = case.telemetry
    skip = trace_derived_columns(case)
    columns = [c for c in case.frame.columns if c not in skip]
    out: list[OutMessage] = []
    if columns:
        frame = case.frame[columns]
        services = [telemetry.series[c][0] for c in columns]
        metric_names = [telemetry.series[c][1] for c in columns]
        values = frame.to_numpy(dtype=float)
        for row, ts in enumerate(frame.index.to_numpy(dtype=float)):
            shifted = float(ts) + offset
            ns = round(shifted * 1e9)
            groups: dict[str, list[tuple[str, int, float]]] = {}
            count = 0
            for j in np.flatnonzero(~np.isnan(values[row])):
                groups.setdefault(services[j], []).append((metric_names[j], ns, float(values[row, j])))
                count += 1
            if count:
                out.extend(_metric_messages(groups, shifted, metrics_topic, encoding))
    traces = telemetry.traces
    if traces is not None and not traces.empty:
        spans = traces.sort_values(["end_ns", "start_ns"], kind="stable")
        shift_ns = round(offset * 1e9)
        records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in spans.to_dict("records")]
        for i in range(0, len(records), SPANS_PER_MESSAGE):
            chunk = records[i : i + SPANS_PER_MESSAGE]
            if shift_ns:
                chunk = [
                    {**r, "start_ns": int(r["start_ns"]) + shift_ns, "end_ns": int(r["end_ns"]) + shift_ns}
                    for r in chunk
                ]
            at = max(int(r["end_ns"]) for r in chunk) / 1e9
            out.append(OutMessage(at, settings.spans_topic, encode_spans(chunk, span_encoding), 0, len(chunk)))
    logs = telemetry.logs
    if logs is not None and not logs.empty:
        out.extend(log_messages(logs, settings, encoding, offset))
    out.sort(key=lambda m: m.at)
    return out


def log_messages(logs: pd.DataFrame, settings: IngestSettings, encoding: str, offset: float = 0.0) -> list[OutMessage]:
    """Case-format log lines as messages of :data:`LOGS_PER_MESSAGE` records, in time order.

    ``otlp_proto`` / ``otlp_json`` go to ``settings.logs_topic``, ``jsonl`` to
    ``settings.logs_jsonl_topic``; each message is sent at its last record's time plus ``offset``.
    """
    topic = settings.logs_jsonl_topic if encoding == "jsonl" else settings.logs_topic
    if not topic:
        raise ReplayError(
            f"encoding {encoding} needs a logs topic; set RCA_LOGS_JSONL_TOPIC (default rca_logs) or RCA_LOGS_TOPIC"
        )
    ordered = logs.sort_values("time", kind="stable")
    if offset:
        ordered = ordered.assign(time=ordered["time"] + offset)
    rows: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in ordered.to_dict("records")]
    out = []
    for i in range(0, len(rows), LOGS_PER_MESSAGE):
        chunk = rows[i : i + LOGS_PER_MESSAGE]
        out.append(OutMessage(float(chunk[-1]["time"]), topic, encode_logs(chunk, encoding), 0, 0, len(chunk)))
    return out


def _metric_messages(
    groups: dict[str, list[tuple[str, int, float]]], at: float, topic: str, encoding: str
) -> Iterator[OutMessage]:
    value = encode_metrics(groups, encoding)
    count = sum(len(v) for v in groups.values())
    if len(value) <= MAX_MESSAGE_BYTES or len(groups) == 1:
        yield OutMessage(at, topic, value, count, 0)
        return
    names = list(groups)
    half = len(names) // 2
    for part in (names[:half], names[half:]):
        yield from _metric_messages({n: groups[n] for n in part}, at, topic, encoding)


def make_producer(bootstrap: str, **config: Any) -> KafkaProducer:
    """A producer configured like the Collector's exporter (acks=all, idempotent, small linger)."""
    try:
        return KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            client_id="rca-replay",
            acks="all",
            linger_ms=20,
            batch_size=1024 * 1024,
            max_request_size=1024 * 1024,
            bootstrap_timeout_ms=15_000,
            **config,
        )
    except Exception as exc:  # noqa: BLE001 - turned into a message that says what to do
        raise ReplayError(
            f"cannot reach Kafka at {bootstrap} ({exc!r}). Fix: start the broker (ingest/kafka.sh start) "
            "or pass --bootstrap HOST:PORT"
        ) from None


ProgressFn = Callable[[str, int, int], None]
"""``progress(case_name, messages_sent, messages_total)``."""


def replay(
    source: str | Path,
    bootstrap: str,
    *,
    speed: float = 1.0,
    encoding: str = "otlp_proto",
    now: bool = False,
    settings: IngestSettings | None = None,
    cases: Sequence[str] | None = None,
    limit: int | None = None,
    progress: ProgressFn | None = None,
    on_case: Callable[[str, int], None] | None = None,
    producer: KafkaProducer | None = None,
) -> ReplayReport:
    """Publish the cases under ``source`` (a case or a dataset) to the broker at ``bootstrap``.

    Parameters
    ----------
    source
        A case directory, a dataset directory, or a Nezha/RCD root (anything ``rca eval`` reads).
    bootstrap
        Kafka bootstrap servers.
    speed
        Time factor: 1 = real time, 10 = ten times faster, 0 = as fast as possible.
    encoding
        ``otlp_proto``, ``otlp_json`` or ``jsonl``.
    now
        Shift timestamps to the present (see the module docstring).
    settings
        Topic names; default the ingest section of :class:`rca.settings.Settings`.
    cases
        Only the cases with these names (as ``rca eval`` reports them).
    limit
        Only the first ``limit`` cases.
    progress, on_case
        Callbacks for progress display.
    producer
        An existing producer to use (it is flushed, not closed).

    Raises
    ------
    ReplayError
        For a bad speed or encoding, unknown case names, or an unreachable broker.
    """
    if speed < 0 or not math.isfinite(speed):
        raise ReplayError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
    if encoding not in REPLAY_ENCODINGS:
        raise ReplayError(f"unknown encoding {encoding!r}; choose one of {', '.join(REPLAY_ENCODINGS)}")
    settings = settings or Settings().ingest.with_overrides(bootstrap=bootstrap)
    refs = discover(source)
    if cases:
        wanted = set(cases)
        refs = [r for r in refs if r.name in wanted]
        missing = wanted - {r.name for r in refs}
        if missing:
            raise ReplayError(f"no case named {', '.join(sorted(missing))} under {source}; `rca eval` lists case names")
    if limit is not None:
        refs = refs[:limit]
    report = ReplayReport(cases=[r.name for r in refs], offsets={})
    own = producer is None
    prod = producer or make_producer(bootstrap)
    started = time.monotonic()
    try:
        for ref in refs:
            case = ref.load()
            offset = time_offset(case, now=now, speed=speed)
            assert report.offsets is not None
            report.offsets[ref.name] = offset
            messages = plan_case(case, settings, encoding, offset)
            if on_case is not None:
                on_case(ref.name, len(messages))
            _publish(prod, messages, speed, ref.name, progress, report)
        prod.flush(timeout=120)
    finally:
        if own:
            prod.close(timeout=30)
    report.seconds = time.monotonic() - started
    return report


def _publish(
    producer: KafkaProducer,
    messages: list[OutMessage],
    speed: float,
    name: str,
    progress: ProgressFn | None,
    report: ReplayReport,
) -> None:
    if not messages:
        return
    t0_case = messages[0].at
    t0_wall = time.monotonic()
    futures = []
    for i, message in enumerate(messages, start=1):
        if speed > 0:
            delay = (message.at - t0_case) / speed - (time.monotonic() - t0_wall)
            if delay > 0:
                producer.flush(timeout=60)
                time.sleep(delay)
        futures.append(producer.send(message.topic, value=message.value))
        report.messages += 1
        report.points += message.points
        report.spans += message.spans
        report.logs += message.logs
        if progress is not None and (i % 50 == 0 or i == len(messages)):
            progress(name, i, len(messages))
    producer.flush(timeout=120)
    for future in futures:
        future.get(timeout=60)


def frame_of_messages(messages: Sequence[OutMessage]) -> pd.DataFrame:
    """A summary of planned messages (time, topic, bytes, points, spans, logs), for inspection and tests."""
    return pd.DataFrame(
        [(m.at, m.topic, len(m.value), m.points, m.spans, m.logs) for m in messages],
        columns=["at", "topic", "bytes", "points", "spans", "logs"],
    )
