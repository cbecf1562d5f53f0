"""The incident watcher and the placement of analysis windows: what turns stored data into a case.

Both questions of a live analysis live here, so that they can change together: *when* did the
anomaly start (the detector over the watched series, or the onset inside a requested window) and
*which window* is analysed around it (:meth:`IncidentWatcher.incident_window`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import Counter, Gauge

from rca.anomaly.detector import IncidentDetector, IncidentEvent
from rca.anomaly.log_feed import LogChangeFeed, feed
from rca.data.case import Case, is_user_facing_metric, split_series_name
from rca.data.casedir import check_inject_time
from rca.data.spans import join_span_series, span_series
from rca.errors import DataError, RCAError
from rca.methods.base import RCAMethod
from rca.registry.models import ModelRegistry
from rca.settings import Settings
from rca.store.logs import LogStore
from rca.store.records import Records
from rca.store.store import Store

log = logging.getLogger("rca.incidents")

INCIDENTS = Counter("rca_incidents_total", "Incidents opened by the detector.")
INCIDENTS_OPEN = Gauge("rca_incidents_open", "Incidents open now.")
INGEST_LAG = Gauge("rca_ingest_lag_seconds", "Wall clock minus the newest stored data time.")

SPAN_HISTORY_SECONDS = 86_400.0
"""The first poll reads at most this much of the stored spans (the largest table): a day holds a trace
series' normal swing."""

SPAN_READ_SECONDS = 3_600.0
"""Spans are read (and turned into series) this much at a time, so the first poll's memory is an hour's spans."""

Submit = Callable[[Case, str], dict[str, Any]]
"""Starts an analysis of a case with a source label; returns the pending analysis record."""


def window_case(
    store: Store,
    settings: Settings,
    start: float,
    end: float,
    *,
    anomaly_time: float | None = None,
    symptom: str | None = None,
) -> Case:
    """The case of ingested data between ``start`` and ``end``.

    Without ``anomaly_time``, it is where the symptom first leaves its early baseline, else the
    window's middle. The window's logs are rebuilt from the stored counts and kept lines
    (:meth:`rca.store.logs.LogStore.read_logs`), so the log signal equals the offline case's.

    Raises
    ------
    DataError
        When the window holds no data, the symptom is not in it, or the anomaly time is outside it.
    """
    telemetry = store.read_telemetry(start, end, step_seconds=settings.span_bucket_seconds)
    logs = LogStore(store, bucket_seconds=settings.ingest.log_bucket_seconds).read_logs(start, end)
    if logs is not None:
        telemetry = replace(telemetry, logs=logs)
    if telemetry.frame.empty:
        raise DataError(
            f"no ingested data between {start:g} and {end:g}",
            where="start/end",
            hint="GET /v1/services shows what has been ingested and when it was last seen",
        )
    if symptom is not None and symptom not in telemetry.frame.columns:
        raise DataError(f"{symptom!r} is not an ingested series in the window", where="symptom")
    if anomaly_time is None:
        anomaly_time = onset(telemetry.frame, symptom, threshold=settings.detector_threshold)
    check_inject_time(telemetry.frame, float(anomaly_time), path="anomaly_time")
    return Case(
        name=f"window {start:.0f}-{end:.0f}",
        telemetry=telemetry,
        inject_time=float(anomaly_time),
        symptom=symptom,
        step_seconds=settings.span_bucket_seconds,
    )


def onset(frame: pd.DataFrame, symptom: str | None, *, threshold: float) -> float:
    """The first time ``symptom`` leaves its early baseline, else the window's middle."""
    index = frame.index.to_numpy()
    middle = float(index[len(index) // 2])
    if symptom is None:
        return middle
    detector = IncidentDetector(threshold=threshold, open_after=1)
    for t, value in zip(index, frame[symptom].to_numpy(), strict=True):
        if np.isfinite(value) and detector.update(symptom, float(t), float(value)):
            return float(t)
    return middle


@dataclass(frozen=True)
class IncidentWindow:
    """The window an incident's analysis reads: ``[start, end)`` with the fault from ``anomaly_time`` on."""

    start: float
    end: float
    anomaly_time: float
    symptom: str | None


class IncidentWatcher:
    """Feeds newly stored points to the detector; opens, analyses and closes incidents.

    Parameters
    ----------
    settings
        Detector thresholds, watched series, window sizes.
    store, records
        Where the points are read and the incidents written.
    submit
        Starts the analysis of an incident's window.
    registry
        Where the current model's normal statistics come from (none: the history's own).
    clock
        Wall-clock seconds for the quiet-stream check (monotonic; a test passes its own).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        records: Records,
        submit: Submit,
        registry: ModelRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.records = records
        self.submit = submit
        self.registry = registry
        self.detector = IncidentDetector(
            threshold=settings.detector_threshold,
            open_after=settings.detector_open_after,
            close_after=settings.detector_close_after,
            score_threshold=settings.detector_log_threshold,
        )
        self.logs = LogStore(store, bucket_seconds=settings.ingest.log_bucket_seconds)
        self.log_feed = LogChangeFeed(bucket_seconds=settings.ingest.log_bucket_seconds)
        self._open_incident: str | None = None
        self._pending: tuple[str, IncidentWindow] | None = None
        self._watch_from: float | None = None
        self._spans_from: float | None = None
        """Start of the first span bucket not fed yet."""
        self._prior_version: str | None = None
        self._reported: dict[str, float] = {}
        """The open incident's symptoms as last written to its record."""
        self.clock = clock
        self._newest: tuple[float, float] | None = None
        """The newest stored data time and the clock when it was first seen."""

    def watched(self, columns: list[str]) -> list[str]:
        """The series the detector watches among ``columns``: the configured ones, else all.

        The ranking scores every series, and a fault shows first where it arises (a saturated CPU, a
        leaking memory), in the latency and errors users see (:func:`rca.data.case.is_user_facing_metric`)
        only when it spreads, if at all: the detector watches what the ranking scores.
        """
        configured = self.settings.symptom_list
        return [c for c in columns if c in configured] if configured else columns

    def watch_once(self) -> list[IncidentEvent]:
        """Feed the points and log buckets stored since the last poll to the detector; act on its events.

        The first poll reads the newest ``history_points`` points of every series (the most normal
        history the detector keeps), not the whole retained store, and the log counts from the same
        time; later polls read only what is newer than the last point seen (minus a few steps, for
        late points) and the log buckets not fed yet. Log buckets complete up to the newest stored
        time are fed as each service's log change (:mod:`rca.anomaly.log_feed`, as the benchmarks
        feed them) when every series is watched; a configured symptom list watches only its series.
        """
        newest = self.store.newest()
        if newest is None:
            return []
        INGEST_LAG.set(max(time.time() - newest, 0.0))
        quiet = self._quiet_for(newest)
        self._refresh_prior()
        if self._watch_from is None:
            start = self.store.history_start(self.detector.history_points)
        else:
            start = self._watch_from - 5 * self.settings.span_bucket_seconds
        frame, _ = self.store.read_points(start, None)
        frame = join_span_series(frame, self._span_series(start, newest))
        columns = self.watched([str(c) for c in frame.columns])
        log_feed = None if self.settings.symptom_list else self.log_feed
        logs = None
        if log_feed is not None:
            logs = self.logs.read_logs(start if log_feed.next_bucket is None else log_feed.next_bucket, None)
        events = feed(self.detector, frame[columns], logs, log_feed, until=newest)
        if not frame.empty:  # with or without watched series among them: the next poll reads only what is newer
            self._watch_from = float(frame.index[-1])
        for event in events:
            self._on_event(event)
        self._report_symptoms()
        if self._pending is not None and newest >= self._pending[1].end:
            self._analyse(*self._pending, end=self._pending[1].end)
        elif self._pending is not None and quiet >= self.settings.incident_quiet_seconds:
            log.info("no data newer than %.3f for %.0f s: analysing the incident on what is stored", newest, quiet)
            self.analyse_pending(newest)
        return events

    def _span_series(self, start: float | None, newest: float) -> pd.DataFrame:
        """The trace-derived series (:func:`rca.data.spans.span_series`, as the ranking reads them) of the
        span buckets completed since the last poll; a bucket ``[T - step, T)`` is complete once data at
        ``T`` is stored. Each span is read once, at most :data:`SPAN_READ_SECONDS` of them at a time (whole
        buckets, so no bucket is split between two reads)."""
        step = self.settings.span_bucket_seconds
        complete = float(np.floor(newest / step) * step)
        if self._spans_from is None:
            earliest = newest - SPAN_HISTORY_SECONDS
            self._spans_from = float(np.floor(max(earliest, start if start is not None else earliest) / step) * step)
        chunk = max(step, np.floor(SPAN_READ_SECONDS / step) * step)
        frames = []
        while self._spans_from < complete:
            end = min(complete, self._spans_from + chunk)
            series = span_series(self.store.read_spans(self._spans_from, end), step)[0]
            if len(series):
                frames.append(series)
            self._spans_from = end
        return pd.concat(frames).sort_index() if frames else pd.DataFrame(index=pd.Index([], name="time", dtype=float))

    def _quiet_for(self, newest: float) -> float:
        """Seconds of wall clock since the store's newest data time became ``newest``."""
        now = self.clock()
        if self._newest is None or self._newest[0] != newest:
            self._newest = (newest, now)
        return now - self._newest[1]

    def analyse_pending(self, newest: float | None = None) -> None:
        """Analyse the incident that waits for its horizon now, on the data stored up to ``newest`` (default:
        the store's newest time).

        The watcher does this itself once the stream has been quiet for ``incident_quiet_seconds`` (a
        fault that stops the telemetry, a replay that ended): an open incident is not left without an answer.
        """
        if self._pending is None:
            return
        newest = self.store.newest() if newest is None else newest
        if newest is not None:
            self._analyse(*self._pending, end=newest + self.settings.span_bucket_seconds / 2)

    def _refresh_prior(self) -> None:
        """Give the detector the current model's normal statistics (median, IQR per series; its normal log
        mix), once per version."""
        if self.registry is None:
            return
        try:
            record = self.registry.current()
            if record is None or record.version == self._prior_version:
                return
            method: RCAMethod = self.registry.load(record.version)
        except RCAError:
            return
        self._prior_version = record.version
        self.log_feed.prior = method.normal_logs()
        if ranges := method.normal_ranges():
            self.detector.prior = ranges

    def incident_window(self, event: IncidentEvent) -> IncidentWindow:
        """Where an incident's analysis looks: the fault inside the window, a clean baseline before it.

        The anomaly time is ``incident_lead_seconds`` before the detected onset (a cause may move
        before the series that crossed the threshold; the ranking counts the largest rises after the
        anomaly time, so starting early costs little, while starting late puts the cause's rise in the
        baseline). The baseline reaches ``baseline_seconds`` back, never into the previous incident.
        The window ends ``incident_horizon_seconds`` after the onset, or when the incident closes.
        """
        half_step = self.settings.span_bucket_seconds / 2
        anomaly_time = event.onset - self.settings.incident_lead_seconds
        start = anomaly_time - self.settings.baseline_seconds
        if event.previous_close is not None:
            start = max(start, event.previous_close + half_step)
        end = max(event.onset + self.settings.incident_horizon_seconds, event.time) + half_step
        symptoms = [c for c in event.symptoms if is_user_facing_metric(split_series_name(c)[1])]
        symptom = max(symptoms, key=lambda c: event.symptoms[c]) if symptoms else None
        return IncidentWindow(start, end, anomaly_time, symptom)

    def _report_symptoms(self) -> None:
        """Keep the open incident's stored symptoms as the detector has them (series join while it is open)."""
        current = self.detector.open_incident
        if self._open_incident is None or current is None or current.symptoms == self._reported:
            return
        stored = (self.records.get_incident(self._open_incident) or {}).get("summary") or {}
        self.records.update_incident(self._open_incident, summary={**stored, "symptoms": dict(current.symptoms)})
        self._reported = dict(current.symptoms)

    def _on_event(self, event: IncidentEvent) -> None:
        # two clocks: onset, detected and recovered are data times (they match the data); opened_at and
        # closed_at are the service's wall clock (a replay of last year's data opens its incident now)
        summary: dict[str, Any] = {"onset": event.onset, "symptoms": event.symptoms}
        if event.kind == "opened":
            incident = self.records.open_incident(time.time(), {**summary, "detected": event.time})
            self._open_incident = incident["id"]
            window = self.incident_window(event)
            self._pending = (incident["id"], window)
            INCIDENTS.inc()
            INCIDENTS_OPEN.inc()
            log.info(
                "incident opened id=%s onset=%.3f data_time=%.3f by=%s window=%.3f..%.3f",
                incident["id"],
                event.onset,
                event.time,
                max(event.symptoms, key=lambda s: event.symptoms[s]),
                window.start,
                window.end,
            )
        elif self._open_incident is not None:
            if self._pending is not None and self._pending[0] == self._open_incident:
                self._analyse(*self._pending, end=event.time + self.settings.span_bucket_seconds / 2)
            stored = (self.records.get_incident(self._open_incident) or {}).get("summary") or {}
            summary = {**stored, **summary, "recovered": event.time}
            self.records.update_incident(self._open_incident, status="closed", closed_at=time.time(), summary=summary)
            log.info("incident closed id=%s data_time=%.3f", self._open_incident, event.time)
            self._open_incident = None
            INCIDENTS_OPEN.dec()

    def _analyse(self, incident_id: str, window: IncidentWindow, *, end: float) -> None:
        """Analyse an incident's window up to ``end`` (its horizon, or its close)."""
        self._pending = None
        try:
            case = window_case(
                self.store,
                self.settings,
                window.start,
                min(end, window.end),
                anomaly_time=window.anomaly_time,
                symptom=window.symptom,
            )
            record = self.submit(case, "incident")
            self.records.update_incident(incident_id, analysis_id=record["id"])
            log.info("incident analysis started id=%s analysis_id=%s", incident_id, record["id"])
        except RCAError as exc:
            incident = self.records.get_incident(incident_id) or {}
            summary = {**(incident.get("summary") or {}), "analysis_error": str(exc)}
            self.records.update_incident(incident_id, summary=summary)
            log.warning("incident not analysed id=%s error=%s", incident_id, exc)
