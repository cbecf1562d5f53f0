"""Retraining on the store's recent history: jobs (``POST /v1/models/retrain``, ``rca train``) and the cron schedule."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from croniter import croniter
from prometheus_client import Counter, Gauge

from rca.data.preprocess import clean_history
from rca.methods import get_method
from rca.registry.models import ModelRegistry
from rca.registry.training import train_and_register
from rca.settings import Settings
from rca.store.records import Records
from rca.store.store import Store

log = logging.getLogger("rca.retrain")

MODEL_AGE = Gauge("rca_model_age_seconds", "Age of the current model (NaN when none).")
RETRAINS = Counter("rca_retrains_total", "Retraining jobs, by outcome.", ["status"])


class Retrainer:
    """Runs retraining jobs, one at a time, recording each as a job.

    Parameters
    ----------
    settings
        The method (``default_method``) and the history length (``training_hours``).
    store, records, registry
        Where the history is read, the jobs recorded, the models registered.
    """

    def __init__(self, settings: Settings, store: Store, records: Records, registry: ModelRegistry) -> None:
        self.settings = settings
        self.store = store
        self.records = records
        self.registry = registry
        self._lock = threading.Lock()

    def run(self, job_id: str) -> None:
        """Fit the default method on recent history, register it, promote it if not worse."""
        with self._lock:
            self.records.update_job(job_id, status="running")
            try:
                detail = self._retrain()
            except Exception as exc:
                log.exception("retraining failed job_id=%s", job_id)
                self.records.update_job(job_id, status="failed", detail={"error": f"{type(exc).__name__}: {exc}"})
                RETRAINS.labels("failed").inc()
                return
            self.records.update_job(job_id, status="done", detail=detail)
            RETRAINS.labels("done").inc()
            log.info("retraining done job_id=%s detail=%s", job_id, detail)

    def start(self) -> dict[str, Any]:
        """Queue a retraining job and run it in a background thread; returns the job."""
        job = self.records.create_job("retrain")
        threading.Thread(target=self.run, args=(job["id"],), name="rca-retrain", daemon=True).start()
        return job

    def update_model_age(self) -> None:
        """Refresh the model-age gauge."""
        current = self.registry.current()
        MODEL_AGE.set(float("nan") if current is None else time.time() - current.created)

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


def schedule(retrainer: Retrainer, cron: str, stop: threading.Event) -> None:
    """Start a retraining job at every time of the cron expression ``cron`` until ``stop`` is set."""
    times = croniter(cron, time.time())
    next_run = times.get_next(float)
    while not stop.wait(max(0.0, min(next_run - time.time(), 30.0))):
        if time.time() >= next_run:
            retrainer.start()
            next_run = times.get_next(float)
