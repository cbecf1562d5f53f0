"""The incident watcher and the placement of analysis windows: what turns stored data into a case.

Both questions of a live analysis live here, so that they can change together: *when* did the
anomaly start (the detector over the watched symptom series, or the onset inside a requested
window) and *which window* is analysed around it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import Counter, Gauge

from rca.anomaly.detector import IncidentDetector, IncidentEvent
from rca.data.case import Case
from rca.data.casedir import check_inject_time
from rca.errors import DataError, RCAError
from rca.settings import Settings
from rca.store.records import Records
from rca.store.store import Store

log = logging.getLogger("rca.incidents")

INCIDENTS = Counter("rca_incidents_total", "Incidents opened by the detector.")
INCIDENTS_OPEN = Gauge("rca_incidents_open", "Incidents open now.")
INGEST_LAG = Gauge("rca_ingest_lag_seconds", "Wall clock minus the newest stored data time.")

AUTO_SYMPTOM = re.compile(r"(latency|lat)_p?(90|99)$|error_rate$")
"""Series watched when ``RCA_SYMPTOMS`` names none: tail latencies and error rates."""

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
    window's middle.

    Raises
    ------
    DataError
        When the window holds no data, the symptom is not in it, or the anomaly time is outside it.
    """
    telemetry = store.read_telemetry(start, end, step_seconds=settings.span_bucket_seconds)
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
    detector = IncidentDetector(threshold=threshold, open_after=1, min_baseline=5)
    for t, value in zip(index, frame[symptom].to_numpy(), strict=True):
        if np.isfinite(value) and detector.update(symptom, float(t), float(value)):
            return float(t)
    return middle


class IncidentWatcher:
    """Feeds newly stored symptom points to the detector; opens, analyses and closes incidents.

    Parameters
    ----------
    settings
        Detector thresholds, watched symptoms, window sizes.
    store, records
        Where the points are read and the incidents written.
    submit
        Starts the analysis of an incident's window.
    """

    def __init__(self, settings: Settings, store: Store, records: Records, submit: Submit) -> None:
        self.settings = settings
        self.store = store
        self.records = records
        self.submit = submit
        self.detector = IncidentDetector(
            threshold=settings.detector_threshold,
            open_after=settings.detector_open_after,
            close_after=settings.detector_close_after,
        )
        self._open_incident: str | None = None
        self._watch_from: float | None = None

    def symptoms(self, columns: list[str]) -> list[str]:
        """The watched symptom series among ``columns``."""
        configured = self.settings.symptom_list
        if configured:
            return [c for c in columns if c in configured]
        return [c for c in columns if AUTO_SYMPTOM.search(c)]

    def watch_once(self) -> list[IncidentEvent]:
        """Feed the points stored since the last poll to the detector; act on its events."""
        newest = self.store.newest()
        if newest is None:
            return []
        INGEST_LAG.set(max(time.time() - newest, 0.0))
        start = None if self._watch_from is None else self._watch_from - 5 * self.settings.span_bucket_seconds
        frame, _ = self.store.read_points(start, None)
        columns = self.symptoms([str(c) for c in frame.columns])
        events: list[IncidentEvent] = []
        for t, row in zip(frame.index.to_numpy(), frame[columns].to_numpy(), strict=True):
            for column, value in zip(columns, row, strict=True):
                if np.isfinite(value):
                    events += self.detector.update(column, float(t), float(value))
        if not frame.empty:  # with or without symptoms among them: the next poll reads only what is newer
            self._watch_from = float(frame.index[-1])
        for event in events:
            self._on_event(event)
        return events

    def _on_event(self, event: IncidentEvent) -> None:
        summary: dict[str, Any] = {"onset": event.onset, "symptoms": event.symptoms}
        if event.kind == "opened":
            incident = self.records.open_incident(event.time, summary)
            self._open_incident = incident["id"]
            INCIDENTS.inc()
            INCIDENTS_OPEN.inc()
            symptom = max(event.symptoms, key=lambda s: event.symptoms[s])
            start = event.onset - self.settings.baseline_seconds
            end = event.time + 2 * self.settings.span_bucket_seconds
            log.info(
                "incident opened id=%s onset=%.3f data_time=%.3f symptom=%s z=%.1f window=%.3f..%.3f",
                incident["id"],
                event.onset,
                event.time,
                symptom,
                event.symptoms[symptom],
                start,
                end,
            )
            try:
                case = window_case(self.store, self.settings, start, end, anomaly_time=event.onset, symptom=symptom)
                record = self.submit(case, "incident")
                self.records.update_incident(incident["id"], analysis_id=record["id"])
                log.info("incident analysis started id=%s analysis_id=%s", incident["id"], record["id"])
            except RCAError as exc:
                self.records.update_incident(incident["id"], summary={**summary, "analysis_error": str(exc)})
                log.warning("incident not analysed id=%s error=%s", incident["id"], exc)
        elif self._open_incident is not None:
            self.records.update_incident(self._open_incident, status="closed", closed_at=event.time, summary=summary)
            log.info("incident closed id=%s data_time=%.3f", self._open_incident, event.time)
            self._open_incident = None
            INCIDENTS_OPEN.dec()
