"""Analyses in worker processes: each worker has its own :class:`rca.analysis.Analyzer` and loaded model."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from rca.analysis import AnalysisResult, Analyzer
from rca.data.case import Case
from rca.errors import RCAError
from rca.registry.models import ModelRegistry
from rca.runtime import passive_openmp, without_triton


class AnalysisPool:
    """Runs analyses in worker processes, each with its own :class:`Analyzer` and loaded model.

    An analysis is CPU work in Python, numpy and torch. In separate processes analyses run on all
    cores at once, and the API process's interpreter stays free to answer requests while they run.

    Parameters
    ----------
    models_dir
        The registry the workers load models from; ``None`` fits learning methods on each case.
    processes
        Worker processes.
    """

    def __init__(self, models_dir: Path | None, processes: int) -> None:
        self.models_dir = models_dir
        self.processes = processes
        self._lock = threading.Lock()
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: forking a process that has started torch's and the server's threads can deadlock
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.models_dir,),
        )

    def warm_up(self) -> None:
        """Start every worker process and import the engine in it, so the first analyses do not wait."""
        for future in [self._executor.submit(_ping) for _ in range(self.processes)]:
            future.result()

    def analyze(
        self, case: Case, method: str, k: int, *, svg_url: str | None = None
    ) -> tuple[AnalysisResult, dict[str, Any]]:
        """Run :meth:`Analyzer.analyze` in a worker process and wait for its result and the result's
        stored document (:meth:`AnalysisResult.document` of the top ``k``, built in the worker too: its
        typed models are the heaviest work left, and the API process's interpreter serves every request).

        A worker that dies breaks the whole pool, and the pool cannot tell whether it died while idle
        (killed for memory between analyses, say) or running this analysis; so a broken pool is replaced
        and the analysis tried once more on the fresh one.

        Raises
        ------
        AnalysisCrashed
            When the worker process died again on the second try; the pool is replaced.
        """
        executor = self._executor
        for attempt in range(2):
            try:
                return executor.submit(_analyze, case, method, k, svg_url).result()
            except BrokenProcessPool:
                executor = self._replace(executor)
                if attempt:
                    break
        raise AnalysisCrashed("the analysis worker process died twice during the analysis; try again")

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is broken:
                self._executor = self._start()
            return self._executor

    def close(self) -> None:
        """Stop the workers, cancelling analyses that have not started."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class AnalysisCrashed(RCAError):
    """A worker process died while it ran an analysis."""


_worker: Analyzer | None = None
"""The analyzer of this worker process (set by :func:`_start_worker`)."""


def _start_worker(models_dir: Path | None) -> None:
    global _worker
    passive_openmp()
    without_triton()
    _worker = Analyzer(None if models_dir is None else ModelRegistry(models_dir))


def _ping() -> None:
    return None


def _analyze(case: Case, method: str, k: int, svg_url: str | None) -> tuple[AnalysisResult, dict[str, Any]]:
    assert _worker is not None, "the pool's initializer sets the worker's analyzer"
    result = _worker.analyze(case, method)
    return result, result.document(k, svg_url=svg_url)
