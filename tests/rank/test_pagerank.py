"""Personalized PageRank over a reverse walk matches networkx's PageRank of the reversed graph bit for bit."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from rca.rank.pagerank import ReverseWalk, personalized_pagerank, root_cause_pagerank


def _random_graph(seed: int, nodes: int = 40, edges: int = 300) -> nx.DiGraph:
    rng = np.random.default_rng(seed)
    graph = nx.DiGraph()
    graph.add_nodes_from(f"s{i}" for i in range(nodes))  # some stay without causes: dangling in the walk
    for _ in range(edges):
        a, b = rng.integers(nodes, size=2)
        if a != b:
            graph.add_edge(f"s{a}", f"s{b}", weight=float(rng.random()))
    return graph


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("uniform", [False, True])
def test_same_bits_as_networkx(seed: int, uniform: bool) -> None:
    graph = _random_graph(seed)
    restart = None if uniform else {n: float(i % 7) for i, n in enumerate(graph)}
    expected = nx.pagerank(
        graph.reverse(), alpha=0.5, personalization=restart, dangling=restart, max_iter=1000, tol=1e-10
    )
    walk = ReverseWalk.of(graph)
    assert personalized_pagerank(walk, restart, alpha=0.5) == expected
    assert root_cause_pagerank(graph, restart, alpha=0.5) == expected


def test_mass_gathers_at_the_cause_of_the_anomalous_effects() -> None:
    graph = nx.DiGraph([("root", "a"), ("root", "b"), ("a", "c"), ("other", "d")])
    ranks = root_cause_pagerank(graph, {"a": 1.0, "b": 1.0, "c": 1.0}, alpha=0.85)
    assert max(ranks, key=ranks.__getitem__) == "root"
    assert ranks["other"] == ranks["d"] == 0.0


def test_zero_or_negative_restart_is_uniform_and_empty_graph_is_empty() -> None:
    graph = _random_graph(0, nodes=10, edges=30)
    uniform = root_cause_pagerank(graph, None)
    assert root_cause_pagerank(graph, {n: -1.0 for n in graph}) == uniform
    assert root_cause_pagerank(nx.DiGraph(), {"x": 1.0}) == {}
