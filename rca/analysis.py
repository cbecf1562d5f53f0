"""Running one analysis: a case in, a ranking with evidence and a graph out.

The API and the CLI call this; it owns the choice between a registered model and fitting on the
case's own baseline.
"""

from __future__ import annotations

import itertools
import multiprocessing
import operator
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rca.data.case import Case
from rca.data.preprocess import preprocess
from rca.errors import RCAError
from rca.graphview import by_service, layered
from rca.methods import get_method
from rca.rank.ranking import Ranking
from rca.registry.models import ModelRegistry, RegistryError

CHART_CAUSES = 5
"""Top candidates whose series an analysis keeps for charts."""
CHART_POINTS = 150
"""Points per charted series."""
CHART_BEFORE = 3
"""A chart shows up to this many times as much baseline as it shows data after the anomaly ..."""
CHART_MIN_BEFORE = 30
"""... and at least this many baseline samples."""


@dataclass
class AnalysisResult:
    """A finished analysis.

    Attributes
    ----------
    ranking
        The method's ranking.
    method
        The method's registry name.
    model_version
        The registered model used, or ``None`` when the method was fitted on the case's baseline
        (or learns nothing).
    timings
        Seconds spent in each phase (``prepare``, ``fit``, ``rank``).
    windows
        The symptom's and the top candidates' series around the anomaly (:func:`series_windows`).
    """

    ranking: Ranking
    method: str
    model_version: str | None
    timings: dict[str, float] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)

    def ranking_json(self, k: int) -> list[dict[str, Any]]:
        """The top ``k`` distinct candidates as the API returns them."""
        out = []
        for position, candidate in enumerate(self.ranking.candidates[:k], start=1):
            out.append(
                {
                    "rank": position,
                    "service": candidate.service,
                    "metric": candidate.metric,
                    "score": candidate.score,
                    "evidence": dict(candidate.evidence),
                }
            )
        return out

    def graph_json(self, k: int, *, max_nodes: int = 40, max_edges: int = 60) -> dict[str, Any]:
        """The part of the causal graph a person can read: the top ``k`` candidates, their evidence paths,
        and the strongest edges around them (at most ``max_nodes`` nodes and ``max_edges`` edges; the
        edges of the evidence paths always stay)."""
        top = [c.metric or c.service for c in self.ranking.candidates[:k]]
        keep: list[str] = list(dict.fromkeys(top))
        path_edges: set[tuple[str, str]] = set()
        for candidate in self.ranking.candidates[:k]:
            path = [str(node) for node in candidate.evidence.get("path", []) or []]
            path_edges.update(itertools.pairwise(path))
            keep += [node for node in path if node not in keep]
        strongest = sorted(self.ranking.graph, key=operator.itemgetter(2), reverse=True)
        chosen = set(keep)
        for source, target, _ in strongest:
            if len(keep) >= max_nodes:
                break
            if source in chosen or target in chosen:
                for node in (source, target):
                    if node not in chosen and len(keep) < max_nodes:
                        keep.append(node)
                        chosen.add(node)
        on_paths = [e for e in strongest if (e[0], e[1]) in path_edges]
        others: list[tuple[str, str, float]] = []
        room = max(0, max_edges - len(on_paths))
        for edge in strongest:
            if len(others) >= room:
                break
            if edge[0] in chosen and edge[1] in chosen and (edge[0], edge[1]) not in path_edges:
                others.append(edge)
        by_node = {c.metric or c.service: c for c in self.ranking.candidates}
        symptom = self.ranking.info.get("symptom")
        if symptom in by_node and symptom not in chosen:
            keep.append(symptom)  # the layers are counted from it
        nodes = []
        for n in keep:
            found = by_node.get(n)
            nodes.append(
                {
                    "id": n,
                    "service": found.service if found else n.split("_", 1)[0],
                    "score": found.score if found else None,
                    "anomaly_score": found.evidence.get("anomaly_score") if found else None,
                    "root_cause_rank": top.index(n) + 1 if n in top else None,
                }
            )
        kinds = self.ranking.edge_kinds
        edges = [
            {"source": s, "target": t, "weight": round(float(w), 6), "kinds": list(kinds.get((s, t), ()))}
            for s, t, w in on_paths + others
        ]
        first = self.ranking.candidates[:1]
        path = [str(p) for p in first[0].evidence.get("path", []) or []] if first else []
        return {
            **layered(nodes, edges, symptom, path),
            "services": by_service(nodes, edges, symptom, path),
            "total_edges": len(self.ranking.graph),
            "series": [w for w in self.windows if w["symptom"] or w["rank"] <= k],
        }


def series_windows(
    case: Case, ranking: Ranking, *, causes: int = CHART_CAUSES, points: int = CHART_POINTS
) -> list[dict[str, Any]]:
    """The symptom's and the top ``causes`` candidates' series, each cut to at most ``points`` points,
    with its baseline band (the range and median of its values before the anomaly time).

    The window shows up to ``CHART_BEFORE`` times as much baseline as there is data after the anomaly
    (at least ``CHART_MIN_BEFORE`` samples), so a short incident is not squeezed against the edge; the
    band still comes from the whole baseline.

    Each bucket of consecutive samples keeps the one furthest from the baseline median, so that a
    spike survives the thinning.
    """
    frame = case.frame
    times = frame.index.to_numpy(dtype=float)
    before = times < case.inject_time
    symptom = ranking.info.get("symptom") or case.symptom
    ranks = {c.metric: i for i, c in enumerate(ranking.candidates[:causes], start=1) if c.metric in frame.columns}
    chosen = [str(symptom)] if symptom in frame.columns else []
    chosen += [str(c) for c in ranks if c != symptom]
    after = int((~before).sum())
    first = max(0, int(before.sum()) - max(CHART_BEFORE * after, CHART_MIN_BEFORE))  # the anomaly is what to see
    buckets = np.array_split(np.arange(first, len(times)), min(points, len(times) - first))
    windows = []
    for column in chosen:
        values = frame[column].to_numpy(dtype=float)
        baseline = values[before][np.isfinite(values[before])]
        median = float(np.median(baseline)) if len(baseline) else float("nan")
        picked = [int(b[np.argmax(np.nan_to_num(np.abs(values[b] - median), nan=-1.0))]) for b in buckets if len(b)]
        windows.append(
            {
                "id": column,
                "service": case.telemetry.series[column][0],
                "rank": ranks.get(column),
                "symptom": column == symptom,
                "anomaly_time": case.inject_time,
                "time": [float(times[i]) for i in picked],
                "values": [float(f"{values[i]:.6g}") if np.isfinite(values[i]) else None for i in picked],
                "baseline": None
                if not len(baseline)
                else {"low": float(baseline.min()), "median": median, "high": float(baseline.max())},
            }
        )
    return windows


class Analyzer:
    """Runs analyses with a method from the registry or fitted on the spot.

    Parameters
    ----------
    registry
        Where fitted models live; ``None`` fits learning methods on each case's baseline.
    """

    def __init__(self, registry: ModelRegistry | None = None) -> None:
        self.registry = registry
        self._loaded: tuple[str, Any] | None = None
        self._lock = threading.Lock()

    def analyze(self, case: Case, method: str, *, params: dict[str, Any] | None = None) -> AnalysisResult:
        """Preprocess ``case`` as the evaluator does and rank it with ``method``.

        A learning method uses the registry's current model when one is registered for it and it
        covers at least one of the case's series; otherwise it is fitted on the case's pre-anomaly
        part (never on data after the anomaly time).
        """
        timings: dict[str, float] = {}
        started = time.perf_counter()
        prepared = preprocess(case)
        timings["prepare"] = time.perf_counter() - started
        instance = get_method(method, **(params or {}))
        version = None
        if instance.learns:
            started = time.perf_counter()
            loaded = self._registered(method, prepared)
            if loaded is not None:
                instance, version = loaded
            else:
                instance.fit(prepared.normal())
            timings["fit"] = time.perf_counter() - started
        started = time.perf_counter()
        ranking = instance.rank(prepared)
        timings["rank"] = time.perf_counter() - started
        rounded = {k: round(v, 4) for k, v in timings.items()}
        return AnalysisResult(ranking, method, version, rounded, series_windows(prepared, ranking))

    def _registered(self, method: str, case: Case) -> tuple[Any, str] | None:
        if self.registry is None:
            return None
        try:
            record = self.registry.current()
        except RegistryError:
            return None
        if record is None or record.method != method:
            return None
        with self._lock:  # a model is loaded once per version, not once per analysis
            if self._loaded is None or self._loaded[0] != record.version:
                self._loaded = (record.version, self.registry.load(record.version))
            model = self._loaded[1]
        columns = set(getattr(getattr(model, "model_", None), "columns", []) or [])
        if columns and not columns & set(case.frame.columns):
            return None
        return model, record.version


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

    def analyze(self, case: Case, method: str) -> AnalysisResult:
        """Run :meth:`Analyzer.analyze` in a worker process and wait for its result.

        A pool whose worker died while idle (killed for memory, say) is replaced before the analysis.

        Raises
        ------
        AnalysisCrashed
            When the worker process died during this analysis; the pool is replaced.
        """
        executor = self._executor
        try:
            future = executor.submit(_analyze, case, method)
        except BrokenProcessPool:
            executor = self._replace(executor)
            future = executor.submit(_analyze, case, method)
        try:
            return future.result()
        except BrokenProcessPool:
            self._replace(executor)
            raise AnalysisCrashed("the analysis worker process died during the analysis; try again") from None

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
    _worker = Analyzer(None if models_dir is None else ModelRegistry(models_dir))


def _ping() -> None:
    return None


def _analyze(case: Case, method: str) -> AnalysisResult:
    assert _worker is not None, "the pool's initializer sets the worker's analyzer"
    return _worker.analyze(case, method)
