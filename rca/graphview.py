"""The causal graph as a person reads it: layered from the symptom back to its causes, or per service.

A force layout scatters a graph of forty series so that nobody finds the root cause in it. Here
every node sits in the layer of its hop distance to the symptom along cause -> effect edges (the
symptom alone in layer 0, its direct causes in layer 1, ...), and within a layer nodes are ordered by
the barycentre of the effects they point at, which keeps edges between adjacent layers from crossing
much (Sugiyama, Tagawa, Toda, "Methods for Visual Understanding of Hierarchical System Structures",
IEEE SMC 1981). The browser page and ``graph.svg`` draw these same positions.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

EDGE_KINDS = {
    "learned": "learned (Granger)",
    "call": "call graph",
    "service": "within a service",
}
"""Where an edge came from -> how the legend names it."""
SCORE_BINS: tuple[tuple[float, str, str], ...] = (
    (0.0, "#f4f4f4", "< 1 (within normal)"),
    (1.0, "#fdd49e", "1 - 3"),
    (3.0, "#fc8d59", "3 - 10"),
    (10.0, "#d7301f", "10 - 30"),
    (30.0, "#7f0000", ">= 30"),
)
"""Anomaly-score bins: lower bound, fill colour, legend label (1 = the baseline's own largest swing)."""


def score_colour(score: float | None) -> str:
    """The fill colour of an anomaly score (white-grey when unknown)."""
    colour = "#ffffff"
    if score is None:
        return colour
    for lower, fill, _ in SCORE_BINS:
        if score >= lower:
            colour = fill
    return colour


def symptom_layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]], symptom: str | None) -> dict[str, int]:
    """Each node's hop distance to ``symptom`` along cause -> effect edges (breadth-first, backwards).

    Nodes without a path to the symptom (or all, when there is no symptom) share one layer beyond the
    deepest.
    """
    causes: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        if source in causes and target in causes:
            causes[target].append(source)
    layer: dict[str, int] = {}
    if symptom in causes:
        layer[symptom] = 0
        queue = deque([symptom])
        while queue:
            node = queue.popleft()
            for cause in causes[node]:
                if cause not in layer:
                    layer[cause] = layer[node] + 1
                    queue.append(cause)
    beyond = max(layer.values(), default=-1) + 1
    return {n: layer.get(n, beyond) for n in nodes}


def layer_order(
    layers: Mapping[str, int], edges: Sequence[tuple[str, str]], rank: Mapping[str, float]
) -> dict[str, int]:
    """Each node's position within its layer: by the mean position of its effects one layer nearer
    the symptom (barycentre), ties by ``rank`` (smaller first)."""
    effects: dict[str, list[str]] = {n: [] for n in layers}
    for source, target in edges:
        if source in layers and target in layers and layers[target] == layers[source] - 1:
            effects[source].append(target)
    order: dict[str, int] = {}
    for depth in sorted(set(layers.values())):
        members = [n for n in layers if layers[n] == depth]

        def barycentre(node: str) -> float:
            placed = [order[e] for e in effects[node] if e in order]
            return sum(placed) / len(placed) if placed else 0.0

        members.sort(key=lambda n: (barycentre(n), rank.get(n, float("inf")), n))
        order.update({n: i for i, n in enumerate(members)})
    return order


def layered(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], symptom: str | None, path: Sequence[str]
) -> dict[str, Any]:
    """Nodes with ``layer`` and ``order``, edges with ``on_path`` (an edge of the top cause's ``path``)."""
    ids = [n["id"] for n in nodes]
    pairs = [(e["source"], e["target"]) for e in edges]
    layers = symptom_layers(ids, pairs, symptom)
    rank = {n["id"]: _rank_key(n) for n in nodes}
    order = layer_order(layers, pairs, rank)
    on_path = set(itertools.pairwise(path))
    return {
        "nodes": [{**n, "layer": layers[n["id"]], "order": order[n["id"]]} for n in nodes],
        "edges": [{**e, "on_path": (e["source"], e["target"]) in on_path} for e in edges],
        "symptom": symptom,
    }


def _rank_key(node: Mapping[str, Any]) -> float:
    if node.get("root_cause_rank") is not None:
        return float(node["root_cause_rank"])
    return 1e6 - float(node.get("anomaly_score") or 0.0)  # unranked: the more anomalous first


def by_service(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], symptom: str | None, path: Sequence[str]
) -> dict[str, Any]:
    """The graph collapsed to services, layered: a service takes its series' best rank and highest
    scores, edges between two services merge (largest weight, all kinds), edges within one vanish."""
    service_of = {n["id"]: n.get("service") or n["id"] for n in nodes}
    merged: dict[str, dict[str, Any]] = {}
    for node in nodes:
        service = service_of[node["id"]]
        into = merged.setdefault(
            service,
            {"id": service, "service": service, "score": None, "anomaly_score": None, "root_cause_rank": None},
        )
        into["series"] = [*into.get("series", []), node["id"]]
        for key, best in (("score", max), ("anomaly_score", max), ("root_cause_rank", min)):
            if node.get(key) is not None:
                into[key] = node[key] if into[key] is None else best(into[key], node[key])
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for edge in edges:
        source, target = service_of.get(edge["source"]), service_of.get(edge["target"])
        if source is None or target is None or source == target:
            continue
        link = links.setdefault((source, target), {"source": source, "target": target, "weight": 0.0, "kinds": []})
        link["weight"] = max(link["weight"], edge["weight"])
        link["kinds"] = sorted(set(link["kinds"]) | set(edge.get("kinds", [])))
    services_path = [service_of[p] for p in path if p in service_of]
    collapsed = [s for i, s in enumerate(services_path) if i == 0 or s != services_path[i - 1]]
    return layered(list(merged.values()), list(links.values()), service_of.get(symptom) if symptom else None, collapsed)
