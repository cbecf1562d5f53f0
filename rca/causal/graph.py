"""Causal graphs between series: from a Granger matrix, from an observed call graph, and both.

Edges point cause -> effect and carry a positive ``weight``. There are never self-loops. Cycles are
kept: feedback between services is real (a slow callee slows its caller, whose retries load the
callee), and personalized PageRank handles cycles; RUN's published code instead deletes edges until
the graph is acyclic, choosing them by signed correlation, also off the cycles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import networkx as nx
import numpy as np

from rca.data.case import Telemetry, is_symptom_metric
from rca.data.spans import call_graph


def granger_digraph(matrix: np.ndarray, columns: Sequence[str], *, threshold: float = 0.1) -> nx.DiGraph:
    """Edges ``i -> j`` for ``matrix[i, j] >= threshold * max(matrix)``, weighted by ``matrix[i, j] / max``.

    Parameters
    ----------
    matrix
        ``(N, N)`` non-negative Granger weights, cause on the rows, effect on the columns.
    columns
        The node name of each row/column.
    threshold
        Relative cut-off in ``[0, 1]``: edges weaker than this share of the strongest are dropped.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(columns)
    weights = np.array(matrix, dtype=float, copy=True)
    np.fill_diagonal(weights, 0.0)
    top = float(weights.max()) if weights.size else 0.0
    if top <= 0:
        return graph
    weights /= top
    for i, j in zip(*np.nonzero(weights >= threshold), strict=True):
        graph.add_edge(columns[int(i)], columns[int(j)], weight=float(weights[i, j]))
    return graph


def columns_by_service(series: Mapping[str, tuple[str, str]]) -> dict[str, list[str]]:
    """The columns of each service, from ``column -> (service, metric)``."""
    by_service: dict[str, list[str]] = {}
    for column, (service, _) in series.items():
        by_service.setdefault(service, []).append(column)
    return by_service


def observed_calls(telemetry: Telemetry) -> list[tuple[str, str, float]]:
    """Caller -> callee service calls with counts, from spans, else from the known call graph (count 1)."""
    if telemetry.traces is not None and len(telemetry.traces):
        edges = call_graph(telemetry.traces)
        return [(str(a), str(b), float(c)) for a, b, c in edges[["source", "target", "count"]].itertuples(index=False)]
    if telemetry.graph:
        return [(a, b, 1.0) for a, b in telemetry.graph]
    return []


def call_digraph(
    calls: Iterable[tuple[str, str, float]], series: Mapping[str, tuple[str, str]], *, weight: float = 1.0
) -> nx.DiGraph:
    """Series-level cause -> effect edges implied by service calls.

    A fault in a callee shows in its callers (their requests wait or fail), so a call ``caller ->
    callee`` becomes edges from every series of the callee to every series of the caller, weighted
    ``weight * share`` where ``share`` is the call's count relative to the busiest call (1 when counts
    are unknown). Calls within one service add nothing.
    """
    by_service = columns_by_service(series)
    calls = [(a, b, float(c)) for a, b, c in calls if a != b]
    graph = nx.DiGraph()
    graph.add_nodes_from(series)
    if not calls:
        return graph
    busiest = max(c for _, _, c in calls) or 1.0
    for caller, callee, count in calls:
        # log-scaled share, so rarely used calls still carry the fault, if less strongly
        share = math.log1p(count) / math.log1p(busiest) if busiest > 0 else 1.0
        for cause in by_service.get(callee, []):
            for effect in by_service.get(caller, []):
                w = weight * max(share, 1e-3)
                if graph.has_edge(cause, effect):
                    graph[cause][effect]["weight"] = max(graph[cause][effect]["weight"], w)
                else:
                    graph.add_edge(cause, effect, weight=w)
    return graph


def resource_symptom_digraph(series: Mapping[str, tuple[str, str]], *, weight: float = 1.0) -> nx.DiGraph:
    """Within each service, edges from its resource metrics to its symptom metrics.

    A service's latency and errors (RED: rate, errors, duration) are what its resources' utilisation
    and saturation (USE) produce, not the other way round: when both are anomalous, the resource is
    the nearer cause (Gregg, "The USE Method", 2013; Wilkie, "The RED Method", 2018). Symptom metrics
    are recognised by name (:func:`rca.data.case.is_symptom_metric`).
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(series)
    by_service = columns_by_service(series)
    for columns in by_service.values():
        symptoms = [c for c in columns if is_symptom_metric(series[c][1])]
        for cause in columns:
            if cause not in symptoms:
                graph.add_edges_from(((cause, effect) for effect in symptoms), weight=weight)
    return graph


def merge(*graphs: nx.DiGraph, kinds: Sequence[str] = ()) -> nx.DiGraph:
    """The union of the graphs; an edge in several takes the sum of its weights. No self-loops.

    With ``kinds`` (one name per graph), every edge carries the sorted names of the graphs it came
    from as its ``kinds`` attribute.
    """
    merged = nx.DiGraph()
    for i, graph in enumerate(graphs):
        merged.add_nodes_from(graph.nodes)
        kind = {kinds[i]} if kinds else set()
        for a, b, w in graph.edges(data="weight", default=1.0):
            if a == b:
                continue
            if merged.has_edge(a, b):
                merged[a][b]["weight"] += float(w)
                merged[a][b]["kinds"] = tuple(sorted(set(merged[a][b]["kinds"]) | kind))
            else:
                merged.add_edge(a, b, weight=float(w), kinds=tuple(sorted(kind)))
    return merged


def causal_graph(
    columns: Sequence[str],
    series: Mapping[str, tuple[str, str]],
    *,
    learned: nx.DiGraph | None = None,
    calls: Iterable[tuple[str, str, float]] | None = None,
    prior: bool = True,
) -> nx.DiGraph:
    """The graph over ``columns``: ``learned`` edges, call-graph edges and the within-service prior, merged;
    each edge's ``kinds`` says which of them (``"learned"``, ``"call"``, ``"service"``) it came from.

    Parameters
    ----------
    columns
        The nodes (series) of the graph; learned edges of other series are left out.
    series
        Column -> (service, metric) of every column.
    learned
        Learned cause -> effect edges (e.g. :func:`granger_digraph`), or ``None``.
    calls
        Observed caller -> callee calls with counts (:func:`call_digraph`), or ``None`` for no call edges.
    prior
        Add the resource -> symptom edges within each service (:func:`resource_symptom_digraph`).
    """
    parts, kinds = [], []
    if learned is not None:
        parts.append(learned if set(learned) <= set(columns) else learned.subgraph(columns))
        kinds.append("learned")
    if calls is not None:
        parts.append(call_digraph(calls, series))
        kinds.append("call")
    if prior:
        parts.append(resource_symptom_digraph(series))
        kinds.append("service")
    graph = merge(*parts, kinds=kinds) if parts else nx.DiGraph()
    graph.add_nodes_from(columns)
    return graph


def evidence_paths(graph: nx.DiGraph, causes: Iterable[str], symptom: str) -> dict[str, list[str]]:
    """The strongest cause -> ... -> symptom path of each cause (``[]`` where none).

    Strongest means cheapest under the edge cost ``-log(weight / max weight)``: one Dijkstra search
    from the symptom against the edges' direction (Dijkstra, 1959) serves every cause at once.
    """
    causes = list(causes)
    if symptom not in graph:
        return {c: [c] if c == symptom else [] for c in causes}
    top = max((float(w) for _, _, w in graph.edges(data="weight", default=1.0)), default=1.0)

    def cost(_a: str, _b: str, data: Mapping[str, float]) -> float:
        return 1e-6 - math.log(max(float(data.get("weight", 1.0)), 1e-12) / top)

    _, backwards = nx.single_source_dijkstra(graph.reverse(copy=False), symptom, weight=cost)
    return {c: list(reversed(backwards[c])) if c in backwards else [] for c in causes}
