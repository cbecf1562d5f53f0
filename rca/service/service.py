"""The running service: analyses, the incident watcher, scheduled retraining, optional ingestion.

Everything slow runs off the request path: analyses in worker processes (a request waits for its
result up to ``sync_analysis_seconds``, then answers 202), the incident watcher, the retraining
scheduler and the ingest worker in their own threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from croniter import croniter
from prometheus_client import Counter, Histogram

from rca.analysis import AnalysisResult
from rca.data.case import Case
from rca.errors import RCAError
from rca.explain import Explanation, make_explainer
from rca.graphview import layered
from rca.methods import get_method
from rca.plots import render_graph
from rca.registry.models import ModelRegistry
from rca.service.ingest import IngestSupervisor
from rca.service.pool import AnalysisPool
from rca.service.retrain import Retrainer, schedule
from rca.service.watcher import IncidentWatcher, window_case
from rca.settings import Settings
from rca.store.records import Records
from rca.store.store import Store

log = logging.getLogger("rca.service")

ANALYSES = Counter("rca_analyses_total", "Analyses finished, by outcome.", ["status"])
ANALYSIS_SECONDS = Histogram(
    "rca_analysis_seconds", "Wall time of analyses.", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
)
EXPLANATIONS = Counter("rca_explanations_total", "Explanations, by source and fallback reason.", ["source", "fallback"])

RECENT_ANALYSES = 64
"""Analyses whose case stays in memory for explanations."""
WATCH_INTERVAL_SECONDS = 1.0
"""How often the incident watcher reads newly stored points."""


class Service:
    """State and workers of one ``rca serve`` process.

    Parameters
    ----------
    settings
        The configuration.
    store
        The store to use (default: opened from ``settings``).
    ingest
        Also consume Kafka into the store in this process (``rca serve --ingest``).
    on_fatal
        Called with a reason when a worker failed for good (the ingest thread after its restarts):
        ``rca serve`` stops with a non-zero exit status.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        *,
        ingest: bool = False,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings.resolved_store_url, span_step_seconds=settings.span_bucket_seconds)
        self.records = Records(self.store)
        self.registry = ModelRegistry(settings.models_dir)
        self.analyses = AnalysisPool(settings.models_dir, settings.analysis_processes)
        self.explainer = make_explainer(
            settings.llm_base_url, settings.llm_model, settings.llm_key, **settings.llm_limits
        )
        self.watcher = IncidentWatcher(
            settings, self.store, self.records, self._submit_incident, registry=self.registry
        )
        self.retrainer = Retrainer(settings, self.store, self.records, self.registry)
        self.ingest = IngestSupervisor(settings, on_fatal=on_fatal) if ingest else None
        # one waiting thread per worker process: analyses beyond that queue here, as pending
        self._executor = ThreadPoolExecutor(settings.analysis_processes, thread_name_prefix="rca-analysis")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._svg: dict[str, bytes] = {}
        self._recent: OrderedDict[str, tuple[Case, AnalysisResult]] = OrderedDict()

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, watch: bool = True, schedule_retraining: bool = True) -> None:
        """Start the analysis processes and the background workers."""
        self.analyses.warm_up()
        if self.ingest is not None:
            self.ingest.start()
        if watch:
            self._spawn("rca-incident-watcher", self._watch_loop)
        cron = self.settings.retrain_cron
        if schedule_retraining and cron:
            croniter(cron)  # raises on a bad expression before the thread starts
            self._spawn("rca-retrain-scheduler", lambda: schedule(self.retrainer, cron, self._stop))

    def stop(self) -> None:
        """Stop the workers and wait for running analyses."""
        self._stop.set()
        if self.ingest is not None:
            self.ingest.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.analyses.close()
        self.store.close()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watch_loop(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_SECONDS):
            try:
                self.watcher.watch_once()
            except Exception:
                log.exception("incident watcher poll failed")

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
        summary: dict[str, Any] = {"method": method, "k": k, "source": source, "window": window}
        if source == "inline":
            summary["series"] = case.frame.shape[1]
        record = self.records.create_analysis(summary)
        future = self._executor.submit(self._run, record, case, method, k)
        return record, future

    def _submit_incident(self, case: Case, source: str) -> dict[str, Any]:
        return self.submit(case, source=source)[0]

    def window_case(
        self, start: float, end: float, *, anomaly_time: float | None = None, symptom: str | None = None
    ) -> Case:
        """The case of ingested data between ``start`` and ``end`` (see :func:`rca.service.watcher.window_case`)."""
        return window_case(self.store, self.settings, start, end, anomaly_time=anomaly_time, symptom=symptom)

    def _run(self, record: dict[str, Any], case: Case, method: str, k: int) -> dict[str, Any]:
        analysis_id = record["id"]
        started = time.perf_counter()
        self.records.update_analysis(analysis_id, status="running")
        try:
            result, document = self.analyses.analyze(case, method, k, svg_url=f"/v1/analyses/{analysis_id}/graph.svg")
            self._recent[analysis_id] = (case, result)
            while len(self._recent) > RECENT_ANALYSES:
                self._recent.popitem(last=False)
            changes = self.records.update_analysis(analysis_id, status="done", result=document)
            top = result.ranking.candidates[0] if result.ranking.candidates else None
            log.info(
                "analysis done id=%s source=%s method=%s seconds=%.2f top=%s",
                analysis_id,
                record.get("request", {}).get("source"),
                method,
                time.perf_counter() - started,
                None if top is None else top.metric or top.service,
            )
        except RCAError as exc:
            changes = self.records.update_analysis(analysis_id, status="failed", error=str(exc))
            log.info("analysis failed id=%s error=%s", analysis_id, exc)
        except Exception as exc:
            log.exception("analysis failed id=%s", analysis_id)
            changes = self.records.update_analysis(
                analysis_id, status="failed", error=f"internal error: {type(exc).__name__}"
            )
        finally:
            ANALYSIS_SECONDS.observe(time.perf_counter() - started)
        ANALYSES.labels(changes.get("status", "failed")).inc()
        return {**record, **changes}

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
        explanation = self.explainer.explain(case, result.ranking, k=k, numbers=result.series)
        EXPLANATIONS.labels(explanation.source, explanation.fallback_reason or "none").inc()
        return explanation
