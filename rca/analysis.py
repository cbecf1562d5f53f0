"""Running one analysis: a case in, a ranking with evidence and a graph out.

The API and the CLI call this; it owns the choice between a registered model and fitting on the
case's own baseline.
"""

from __future__ import annotations

import itertools
import json
import operator
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from rca.charts import series_windows
from rca.data.case import Case
from rca.data.preprocess import preprocess
from rca.explain.evidence import series_numbers
from rca.explain.model import SeriesNumbers
from rca.graphview import by_service, layered
from rca.methods import get_method
from rca.rank.ranking import Candidate, Ranking
from rca.registry.models import ModelRegistry, RegistryError


class RankedCause(BaseModel):
    """One root-cause candidate."""

    rank: int
    service: str
    metric: str | None
    score: float
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "robust_z (the analysis' score of the series: its largest deviation from the anomaly time on, in "
            "IQRs of its baseline before the anomaly time, signed; what the explanation and the incident show), "
            "anomaly_score (the method's own measure it ranks by; for run, the rise in multiples of the "
            "baseline's widest swing), onset_time, path (cause -> symptom), ..."
        ),
    )


class GraphNode(BaseModel):
    """A node of the causal graph (a series, or a service)."""

    id: str
    service: str | None = None
    score: float | None = None
    anomaly_score: float | None = Field(None, description="How far it moved (1 = its baseline's own largest swing).")
    root_cause_rank: int | None = None
    layer: int | None = Field(None, description="Hops to the symptom along cause -> effect edges (0: the symptom).")
    order: int | None = Field(None, description="Position within the layer.")
    series: list[str] | None = Field(None, description="A service node's series.")


class GraphEdge(BaseModel):
    """A weighted cause -> effect edge."""

    source: str
    target: str
    weight: float
    kinds: list[Literal["learned", "call", "service"]] = Field(
        default_factory=list, description="Where it came from: learned, the call graph, within a service."
    )
    on_path: bool = Field(False, description="On the evidence path from the top cause to the symptom.")


class Baseline(BaseModel):
    """The range and median of a series before the anomaly time."""

    low: float
    median: float
    high: float


class SeriesWindow(BaseModel):
    """A series around the anomaly, thinned for a chart."""

    id: str
    service: str
    rank: int | None = Field(description="Its service's rank among the causes (null: the symptom, not a top cause).")
    symptom: bool
    anomaly_time: float
    time: list[float]
    values: list[float | None]
    baseline: Baseline | None


class ServiceGraph(BaseModel):
    """The causal graph collapsed to services."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    symptom: str | None = None


class Graph(BaseModel):
    """The causal graph around the top candidates, layered from the symptom."""

    nodes: list[GraphNode]
    edges: list[GraphEdge] = Field(description="The evidence paths' edges and the strongest others.")
    symptom: str | None = Field(None, description="The series the layers are counted from.")
    services: ServiceGraph | None = Field(None, description="The same graph collapsed to services.")
    total_edges: int | None = Field(None, description="Edges in the method's whole graph.")
    series: list[SeriesWindow] = Field(
        default_factory=list, description="The symptom's and the top causes' series around the anomaly."
    )
    svg_url: str | None = None


ROBUST_Z = (
    "Every series -> its robust z: the largest deviation from the anomaly time on, in IQRs of the series' "
    "baseline (its values before the anomaly time) from the baseline median; signed, negative for a drop; "
    "null where the series has no baseline. Computed once per analysis: the ranking's evidence, the "
    "explanation and the incident's symptoms all show this number."
)


class AnalysisDocument(BaseModel):
    """What a finished analysis stores: the ranking, the readable graph, where the time went."""

    model_version: str | None = None
    ranking: list[RankedCause]
    graph: Graph
    robust_z: dict[str, float | None] = Field(default_factory=dict, description=ROBUST_Z)
    timings: dict[str, float] = Field(default_factory=dict)


SERIES_PER_SERVICE = 3
"""Series listed beneath each ranked service (its strongest evidence; the rest stay in the graph)."""


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
        Seconds spent in each phase (``prepare``, ``fit``, ``rank``); ``fit`` is 0 when the fit of an
        earlier analysis of the same baseline was reused.
    windows
        The symptom's and the top causes' series around the anomaly (:func:`rca.charts.series_windows`).
    series
        How every series moved (:func:`rca.explain.evidence.series_numbers`), computed once on the
        ranked case: its ``robust_z`` is the score every view of the analysis shows.
    """

    ranking: Ranking
    method: str
    model_version: str | None
    timings: dict[str, float] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, SeriesNumbers] = field(default_factory=dict)

    def robust_z(self) -> dict[str, float | None]:
        """Series -> its robust z (see :data:`ROBUST_Z`)."""
        return {column: numbers.robust_z for column, numbers in self.series.items()}

    def top_services(self, k: int, *, per_service: int = SERIES_PER_SERVICE) -> list[tuple[int, Candidate]]:
        """The candidates of the first ``k`` distinct services, each with its service's rank.

        ``k`` counts services, as an SRE counts causes: the series of one service are evidence for
        one cause, so up to ``per_service`` of them (in ranking order) come beneath its rank.
        """
        ranks: dict[str, int] = {}
        taken: dict[str, int] = {}
        out: list[tuple[int, Candidate]] = []
        for candidate in self.ranking.candidates:
            if candidate.service not in ranks:
                if len(ranks) == k:
                    continue
                ranks[candidate.service] = len(ranks) + 1
            if taken.get(candidate.service, 0) < per_service:
                taken[candidate.service] = taken.get(candidate.service, 0) + 1
                out.append((ranks[candidate.service], candidate))
        return out

    def ranked(self, k: int) -> list[RankedCause]:
        """The top ``k`` services with their strongest series beneath, as the API returns them."""
        return [
            RankedCause(
                rank=rank,
                service=candidate.service,
                metric=candidate.metric,
                score=candidate.score,
                evidence=self._evidence(candidate),
            )
            for rank, candidate in self.top_services(k)
        ]

    def _evidence(self, candidate: Candidate) -> dict[str, Any]:
        """The candidate's evidence with its series' robust z (absent for a series not in the data)."""
        numbers = self.series.get(str(candidate.metric))
        if numbers is None:
            return dict(candidate.evidence)
        return {"robust_z": numbers.robust_z, **candidate.evidence}

    def graph_view(self, k: int, *, max_nodes: int = 40, max_edges: int = 60) -> Graph:
        """The part of the causal graph a person can read: the top ``k`` candidates, their evidence paths,
        and the strongest edges around them (at most ``max_nodes`` nodes and ``max_edges`` edges; the
        edges of the evidence paths always stay)."""
        selected = self.top_services(k)
        rank_of = {c.metric or c.service: rank for rank, c in reversed(selected)}
        top = [c.metric or c.service for _, c in selected]
        keep: list[str] = list(dict.fromkeys(top))
        path_edges: set[tuple[str, str]] = set()
        for _, candidate in selected:
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
                    "root_cause_rank": rank_of.get(n),
                }
            )
        kinds = self.ranking.edge_kinds
        edges = [
            {"source": s, "target": t, "weight": round(float(w), 6), "kinds": list(kinds.get((s, t), ()))}
            for s, t, w in on_paths + others
        ]
        first = self.ranking.candidates[:1]
        path = [str(p) for p in first[0].evidence.get("path", []) or []] if first else []
        return Graph(
            **layered(nodes, edges, symptom, path),
            services=ServiceGraph(**by_service(nodes, edges, symptom, path)),
            total_edges=len(self.ranking.graph),
            series=[SeriesWindow(**w) for w in self.windows if w["symptom"] or w["rank"] <= k],
        )

    def document(self, k: int, *, svg_url: str | None = None) -> dict[str, Any]:
        """The stored result of an analysis (the ``result`` part of :class:`rca.api.schemas.Analysis`)."""
        graph = self.graph_view(k)
        graph.svg_url = svg_url
        return AnalysisDocument(
            model_version=self.model_version,
            ranking=self.ranked(k),
            graph=graph,
            robust_z=self.robust_z(),
            timings=self.timings,
        ).model_dump()


FITS_KEPT = 4
"""Methods fitted on the spot that an :class:`Analyzer` keeps for analyses of the same baseline."""


class Analyzer:
    """Runs analyses with a method from the registry or fitted on the spot.

    Parameters
    ----------
    registry
        Where fitted models live; ``None`` fits learning methods on each case's baseline (keeping the
        last :data:`FITS_KEPT` fits for analyses of the same baseline).
    """

    def __init__(self, registry: ModelRegistry | None = None) -> None:
        self.registry = registry
        self._loaded: tuple[str, Any] | None = None
        self._fits: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
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
                timings["fit"] = time.perf_counter() - started
            else:
                instance, reused = self._fitted(instance, method, params or {}, prepared)
                timings["fit"] = 0.0 if reused else time.perf_counter() - started
        started = time.perf_counter()
        ranking = instance.rank(prepared)
        timings["rank"] = time.perf_counter() - started
        rounded = {k: round(v, 4) for k, v in timings.items()}
        windows = series_windows(prepared, ranking)
        return AnalysisResult(ranking, method, version, rounded, windows, series_numbers(prepared))

    def _fitted(self, instance: Any, method: str, params: dict[str, Any], case: Case) -> tuple[Any, bool]:
        """``instance`` fitted on the case's baseline, or the fit of an earlier analysis of the same baseline.

        An incident is analysed on windows that share their baseline (at its horizon, at its close, when
        an SRE asks the window again); the fit is deterministic, so the same baseline gives the same model.
        Returns the fitted method and whether it was reused.
        """
        normal = case.normal()
        key = (method, json.dumps(params, sort_keys=True, default=str), normal.fingerprint())
        with self._lock:
            if key in self._fits:
                self._fits.move_to_end(key)
                return self._fits[key], True
        instance.fit(normal)
        with self._lock:
            self._fits[key] = instance
            while len(self._fits) > FITS_KEPT:
                self._fits.popitem(last=False)
        return instance, False

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
        columns = set(model.fitted_columns())
        if columns and not columns & set(case.frame.columns):
            return None
        return model, record.version
