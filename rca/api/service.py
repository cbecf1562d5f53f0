"""The running service behind the API: analyses, the incident watcher, scheduled retraining.

Everything slow runs off the request path: analyses in worker processes (a request waits for its
result up to ``sync_analysis_seconds``, then answers 202), the incident watcher and the retraining
scheduler in their own threads.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from croniter import croniter
from prometheus_client import Counter, Gauge, Histogram

from rca.analysis import AnalysisPool, AnalysisResult
from rca.anomaly.detector import IncidentDetector, IncidentEvent
from rca.data.case import Case
from rca.data.casedir import check_inject_time
from rca.data.preprocess import clean_history
from rca.errors import DataError, RCAError
from rca.explain import Explanation, make_explainer
from rca.graphview import layered
from rca.methods import get_method
from rca.plots import render_graph
from rca.registry.models import ModelRegistry
from rca.registry.training import train_and_register
from rca.settings import Settings
from rca.store.records import Records
from rca.store.store import Store

log = logging.getLogger("rca.service")

ANALYSES = Counter("rca_analyses_total", "Analyses finished, by outcome.", ["status"])
ANALYSIS_SECONDS = Histogram(
    "rca_analysis_seconds", "Wall time of analyses.", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
)
INCIDENTS = Counter("rca_incidents_total", "Incidents opened by the detector.")
INCIDENTS_OPEN = Gauge("rca_incidents_open", "Incidents open now.")
MODEL_AGE = Gauge("rca_model_age_seconds", "Age of the current model (NaN when none).")
INGEST_LAG = Gauge("rca_ingest_lag_seconds", "Wall clock minus the newest stored data time.")
EXPLANATIONS = Counter("rca_explanations_total", "Explanations, by source and fallback reason.", ["source", "fallback"])
RETRAINS = Counter("rca_retrains_total", "Retraining jobs, by outcome.", ["status"])

RECENT_ANALYSES = 64
"""Analyses whose case stays in memory for explanations."""

AUTO_SYMPTOM = re.compile(r"(latency|lat)_p?(90|99)$|error_rate$")


class Service:
    """State and workers of one ``rca serve`` process.

    Parameters
    ----------
    settings
        The configuration.
    store
        The store to use (default: opened from ``settings``).
    """

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.resolved_store_url, span_step_seconds=settings.span_bucket_seconds)
        self.records = Records(self.store)
        self.registry = ModelRegistry(settings.models_dir)
        self.analyses = AnalysisPool(settings.models_dir, settings.analysis_processes)
        self.explainer = make_explainer(
            settings.llm_base_url, settings.llm_model, settings.llm_api_key, **settings.llm_limits
        )
        # one waiting thread per worker process: analyses beyond that queue here, as pending
        self._executor = ThreadPoolExecutor(settings.analysis_processes, thread_name_prefix="rca-analysis")
        self._retrain_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._svg: dict[str, bytes] = {}
        self._recent: OrderedDict[str, tuple[Case, AnalysisResult]] = OrderedDict()
        self.detector = IncidentDetector(
            threshold=settings.detector_threshold,
            open_after=settings.detector_open_after,
            close_after=settings.detector_close_after,
        )
        self._open_incident: str | None = None
        self._watch_from: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, watch: bool = True, schedule: bool = True) -> None:
        """Start the analysis processes and the background workers."""
        self.analyses.warm_up()
        if watch:
            self._spawn("rca-incident-watcher", self._watch_loop)
        if schedule and self.settings.retrain_cron:
            croniter(self.settings.retrain_cron)  # raises on a bad expression before the thread starts
            self._spawn("rca-retrain-scheduler", self._schedule_loop)

    def stop(self) -> None:
        """Stop the workers and wait for running analyses."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.analyses.close()
        self.store.close()

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------------ analyses
    def submit(
        self, case: Case, *, method: str | None = None, k: int | None = None, source: str = "inline"
    ) -> tuple[dict[str, Any], Future[dict[str, Any]]]:
        """Record a pending analysis of ``case`` and start it.

        Returns the pending record and a future of the finished one (status ``done`` or ``failed``).
        """
        method = method or self.settings.default_method
        get_method(method)  # an unknown name fails here, before anything is recorded
        k = k or self.settings.default_k
        window = {
            "start": float(case.frame.index[0]),
            "end": float(case.frame.index[-1]),
            "anomaly_time": case.inject_time,
        }
        summary = {"method": method, "k": k, "source": source, "window": window}
        if source == "inline":
            summary["series"] = case.frame.shape[1]
        record = self.records.create_analysis(summary)
        future = self._executor.submit(self._run, record, case, method, k)
        return record, future

    def window_case(
        self, start: float, end: float, *, anomaly_time: float | None = None, symptom: str | None = None
    ) -> Case:
        """The case of ingested data between ``start`` and ``end``.

        Without ``anomaly_time``, it is where the symptom first leaves its early baseline, else the
        window's middle.
        """
        telemetry = self.store.read_telemetry(start, end, step_seconds=self.settings.span_bucket_seconds)
        if telemetry.frame.empty:
            raise DataError(
                f"no ingested data between {start:g} and {end:g}",
                where="start/end",
                hint="GET /v1/services shows what has been ingested and when it was last seen",
            )
        if symptom is not None and symptom not in telemetry.frame.columns:
            raise DataError(f"{symptom!r} is not an ingested series in the window", where="symptom")
        if anomaly_time is None:
            anomaly_time = self._onset(telemetry.frame, symptom)
        check_inject_time(telemetry.frame, float(anomaly_time), path="anomaly_time")
        return Case(
            name=f"window {start:.0f}-{end:.0f}",
            telemetry=telemetry,
            inject_time=float(anomaly_time),
            symptom=symptom,
            step_seconds=self.settings.span_bucket_seconds,
        )

    def _onset(self, frame: Any, symptom: str | None) -> float:
        """The first time the symptom leaves its early baseline, else the window's middle."""
        index = frame.index.to_numpy()
        middle = float(index[len(index) // 2])
        if symptom is None:
            return middle
        detector = IncidentDetector(threshold=self.settings.detector_threshold, open_after=1, min_baseline=5)
        for t, value in zip(index, frame[symptom].to_numpy(), strict=True):
            if np.isfinite(value) and detector.update(symptom, float(t), float(value)):
                return float(t)
        return middle

    def _run(self, record: dict[str, Any], case: Case, method: str, k: int) -> dict[str, Any]:
        analysis_id = record["id"]
        started = time.perf_counter()
        self.records.update_analysis(analysis_id, status="running")
        try:
            result = self.analyses.analyze(case, method)
            document = self._document(analysis_id, result, k)
            self._recent[analysis_id] = (case, result)
            while len(self._recent) > RECENT_ANALYSES:
                self._recent.popitem(last=False)
            changes = self.records.update_analysis(analysis_id, status="done", result=document)
            ANALYSES.labels("done").inc()
        except RCAError as exc:
            changes = self.records.update_analysis(analysis_id, status="failed", error=str(exc))
            ANALYSES.labels("failed").inc()
        except Exception as exc:
            log.exception("analysis %s failed", analysis_id)
            error = f"internal error: {type(exc).__name__}"
            changes = self.records.update_analysis(analysis_id, status="failed", error=error)
            ANALYSES.labels("failed").inc()
        finally:
            ANALYSIS_SECONDS.observe(time.perf_counter() - started)
        return {**record, **changes}

    def _document(self, analysis_id: str, result: AnalysisResult, k: int) -> dict[str, Any]:
        graph = result.graph_json(k)
        graph["svg_url"] = f"/v1/analyses/{analysis_id}/graph.svg"
        return {
            "model_version": result.model_version,
            "ranking": result.ranking_json(k),
            "graph": graph,
            "timings": result.timings,
        }

    def graph_svg(self, analysis_id: str, view: str = "series") -> bytes | None:
        """The SVG of a finished analysis' graph (``view``: ``"series"`` or ``"services"``), drawn once."""
        key = f"{analysis_id}/{view}"
        if key in self._svg:
            return self._svg[key]
        record = self.records.get_analysis(analysis_id)
        if record is None or not record.get("result"):
            return None
        graph = record["result"]["graph"]
        if "symptom" not in graph:  # stored before graphs were layered: one layer
            graph = layered(graph["nodes"], graph["edges"], None, [])
        shown = graph["services"] if view == "services" and graph.get("services") else graph
        svg = render_graph(shown, title=f"analysis {analysis_id[:8]}: {view}")
        self._svg[key] = svg
        while len(self._svg) > 2 * RECENT_ANALYSES:
            self._svg.pop(next(iter(self._svg)))
        return svg

    def explain(self, analysis_id: str, k: int) -> Explanation | None:
        """Narrate a recent analysis of this process; ``None`` when its case is no longer held."""
        recent = self._recent.get(analysis_id)
        if recent is None:
            return None
        case, result = recent
        explanation = self.explainer.explain(case, result.ranking, k=k)
        EXPLANATIONS.labels(explanation.source, explanation.fallback_reason or "none").inc()
        return explanation

    # ------------------------------------------------------------------ incidents
    def symptoms(self, columns: list[str]) -> list[str]:
        """The watched symptom series among ``columns``."""
        configured = self.settings.symptom_list
        if configured:
            return [c for c in columns if c in configured]
        return [c for c in columns if AUTO_SYMPTOM.search(c)]

    def _watch_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.watch_once()
            except Exception:
                log.exception("incident watcher poll failed")

    def watch_once(self) -> list[IncidentEvent]:
        """Feed the points stored since the last poll to the detector; act on its events."""
        newest = self.store.newest()
        if newest is not None:
            INGEST_LAG.set(max(time.time() - newest, 0.0))
        if newest is None:
            return []
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
        summary = {"onset": event.onset, "symptoms": event.symptoms}
        if event.kind == "opened":
            incident = self.records.open_incident(event.time, summary)
            self._open_incident = incident["id"]
            INCIDENTS.inc()
            INCIDENTS_OPEN.inc()
            symptom = max(event.symptoms, key=lambda s: event.symptoms[s])
            start = event.onset - self.settings.baseline_seconds
            end = event.time + 2 * self.settings.span_bucket_seconds
            try:
                case = self.window_case(start, end, anomaly_time=event.onset, symptom=symptom)
                record, _ = self.submit(case, source="incident")
                self.records.update_incident(incident["id"], analysis_id=record["id"])
            except RCAError as exc:
                self.records.update_incident(incident["id"], summary={**summary, "analysis_error": str(exc)})
        elif self._open_incident is not None:
            self.records.update_incident(self._open_incident, status="closed", closed_at=event.time, summary=summary)
            self._open_incident = None
            INCIDENTS_OPEN.dec()

    # ------------------------------------------------------------------ models
    def retrain(self, job_id: str) -> None:
        """Fit the default method on recent history, register it, promote it if not worse."""
        with self._retrain_lock:
            self.records.update_job(job_id, status="running")
            try:
                detail = self._retrain()
            except Exception as exc:
                log.exception("retraining failed")
                self.records.update_job(job_id, status="failed", detail={"error": f"{type(exc).__name__}: {exc}"})
                RETRAINS.labels("failed").inc()
                return
            self.records.update_job(job_id, status="done", detail=detail)
            RETRAINS.labels("done").inc()

    def _retrain(self) -> dict[str, Any]:
        method = self.settings.default_method
        if not get_method(method).learns:
            return {"skipped": f"method {method!r} learns nothing"}
        newest = self.store.newest()
        if newest is None:
            return {"skipped": "the store is empty"}
        history = clean_history(self.store.read_telemetry(newest - self.settings.training_hours * 3600, newest + 1e-6))
        if history.frame.shape[1] == 0:
            return {"skipped": "no series with enough varying values in the training window"}
        record, promoted = train_and_register(self.registry, method, history)
        self.update_model_age()
        return {
            "version": record.version,
            "promoted": promoted,
            "validation": record.validation,
            "series": record.series,
        }

    def update_model_age(self) -> None:
        """Refresh the model-age gauge."""
        current = self.registry.current()
        MODEL_AGE.set(float("nan") if current is None else time.time() - current.created)

    def start_retrain(self) -> dict[str, Any]:
        """Queue a retraining job and run it in the background; returns the job."""
        job = self.records.create_job("retrain")
        threading.Thread(target=self.retrain, args=(job["id"],), name="rca-retrain", daemon=True).start()
        return job

    def _schedule_loop(self) -> None:
        assert self.settings.retrain_cron
        schedule = croniter(self.settings.retrain_cron, time.time())
        next_run = schedule.get_next(float)
        while not self._stop.wait(max(0.0, min(next_run - time.time(), 30.0))):
            if time.time() >= next_run:
                self.start_retrain()
                next_run = schedule.get_next(float)
