"""Running one analysis: a case in, a ranking with evidence and a graph out.

The API and the CLI call this; it owns the choice between a registered model and fitting on the
case's own baseline.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rca.data.case import Case
from rca.data.preprocess import preprocess
from rca.methods import get_method
from rca.rank.ranking import Ranking
from rca.registry.models import ModelRegistry, RegistryError


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
    """

    ranking: Ranking
    method: str
    model_version: str | None
    timings: dict[str, float] = field(default_factory=dict)

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
        strongest = sorted(self.ranking.graph, key=lambda e: -e[2])
        for source, target, _ in strongest:
            if len(keep) >= max_nodes:
                break
            if source in keep or target in keep:
                keep += [node for node in (source, target) if node not in keep][: max_nodes - len(keep)]
        chosen = set(keep)
        inside = [(s, t, w) for s, t, w in strongest if s in chosen and t in chosen]
        on_paths = [e for e in inside if (e[0], e[1]) in path_edges]
        others = [e for e in inside if (e[0], e[1]) not in path_edges][: max(0, max_edges - len(on_paths))]
        scores = {c.metric or c.service: c.score for c in self.ranking.candidates}
        return {
            "nodes": [
                {"id": n, "score": scores.get(n), "root_cause_rank": top.index(n) + 1 if n in top else None}
                for n in keep
            ],
            "edges": [{"source": s, "target": t, "weight": round(float(w), 6)} for s, t, w in on_paths + others],
            "total_edges": len(self.ranking.graph),
        }


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
        return AnalysisResult(ranking, method, version, {k: round(v, 4) for k, v in timings.items()})

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
