"""Ingestion inside ``rca serve --ingest``: the Kafka consumer in a supervised thread.

A consumer thread that dies must not leave a server that looks healthy and ingests nothing. The
supervisor restarts the worker after an unexpected failure (with a growing pause), reports its
state to ``/readyz`` and ``/metrics``, and after ``max_failures`` failures in a row gives up and
asks the process to stop with a non-zero exit status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from rca.ingest.consumer import IngestWorker
from rca.ingest.retry import backoff_delay
from rca.settings import Settings

log = logging.getLogger("rca.ingest")

INGEST_UP = Gauge("rca_ingest_up", "1 while the ingest thread of rca serve --ingest consumes, else 0.")
INGEST_FAILURES = Counter("rca_ingest_failures_total", "Unexpected failures of the ingest thread (each restarts it).")

MAX_FAILURES = 5
"""Failures in a row after which the supervisor gives up and stops the process."""
HEALTHY_AFTER_SECONDS = 300.0
"""A worker that ran this long before failing starts a new row of failures."""
MAX_PAUSE_SECONDS = 30.0
"""The longest pause between two restarts."""


class IngestSupervisor:
    """Runs an :class:`~rca.ingest.consumer.IngestWorker` in a thread and restarts it when it fails.

    Parameters
    ----------
    settings
        The configuration (broker, topics, store).
    on_fatal
        Called with the reason once the supervisor gave up.
    max_failures
        Failures in a row before giving up.
    pause_seconds
        Pause before the first restart; doubled after each further failure, up to :data:`MAX_PAUSE_SECONDS`
        (:func:`rca.ingest.retry.backoff_delay`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        on_fatal: Callable[[str], None] | None = None,
        max_failures: int = MAX_FAILURES,
        pause_seconds: float = 1.0,
    ) -> None:
        self.ingest_settings = settings.ingest
        self.on_fatal = on_fatal
        self.max_failures = max_failures
        self.pause_seconds = pause_seconds
        self.state = "starting"
        self.failures = 0
        self.last_error: str | None = None
        self._worker: IngestWorker | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="rca-ingest", daemon=True)

    def start(self) -> None:
        """Start consuming in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker after its current batch and wait for the thread."""
        self._stop.set()
        if self._worker is not None:
            self._worker.request_stop()
        self._thread.join(timeout=30)
        INGEST_UP.set(0)

    def status(self) -> dict[str, Any]:
        """The readiness check: ``ok`` while the worker runs."""
        return {
            "ok": self.state == "running",
            "state": self.state,
            "failures": self.failures,
            "last_error": self.last_error,
        }

    def _supervise(self) -> None:
        in_a_row = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._worker = IngestWorker(self.ingest_settings)
                self.state = "running"
                INGEST_UP.set(1)
                self._worker.run()
                if self._stop.is_set():
                    break
                reason = "the ingest worker returned without being asked to stop"
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                log.exception("ingest thread failed")
            INGEST_UP.set(0)
            INGEST_FAILURES.inc()
            self.failures += 1
            self.last_error = reason
            in_a_row = 1 if time.monotonic() - started >= HEALTHY_AFTER_SECONDS else in_a_row + 1
            if in_a_row >= self.max_failures:
                self.state = "failed"
                message = f"ingestion failed {in_a_row} times in a row, last: {reason}; stopping"
                log.error(message)
                if self.on_fatal is not None:
                    self.on_fatal(message)
                return
            pause = backoff_delay(in_a_row, initial=self.pause_seconds, maximum=MAX_PAUSE_SECONDS)
            self.state = "restarting"
            log.warning("ingest thread failed (%s); restarting in %.0f s (failure %d)", reason, pause, in_a_row)
            self._stop.wait(pause)
        self.state = "stopped"
        INGEST_UP.set(0)
