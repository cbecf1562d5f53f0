"""Personalized PageRank from symptoms back to their causes."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

import networkx as nx

Node = TypeVar("Node", bound=Hashable)


def root_cause_pagerank(
    graph: nx.DiGraph,
    personalization: Mapping[Node, float] | None = None,
    *,
    alpha: float = 0.85,
    weight: str | None = "weight",
) -> dict[Node, float]:
    """PageRank over the reversed causal graph, so that mass flows from effects to their causes.

    ``graph`` holds cause -> effect edges. A random walker that starts at anomalous series
    (``personalization``) and follows edges backwards, effect -> cause, gathers at the series that
    explain the anomalies: the root causes. This is the direction MicroCause (Meng et al., IWQoS 2020)
    and RUN (Lin et al., AAAI 2024) intend; RUN's published code walks the other way (see
    ``docs/method.md``).

    Parameters
    ----------
    graph
        Cause -> effect edges, optionally weighted.
    personalization
        Restart distribution over nodes (need not sum to 1; missing nodes get 0). ``None`` or all
        zeros restarts uniformly.
    alpha
        Damping: the probability of following an edge rather than restarting.
    weight
        Edge attribute used as transition weight, or ``None`` for unweighted.

    Returns
    -------
    dict
        Node -> stationary probability.

    References
    ----------
    Page, Brin, Motwani, Winograd. "The PageRank citation ranking", 1999; Jeh and Widom,
    "Scaling personalized web search", WWW 2003.
    """
    if graph.number_of_nodes() == 0:
        return {}
    reverse = graph.reverse(copy=False)
    restart = None
    if personalization is not None:
        restart = {n: max(float(personalization.get(n, 0.0)), 0.0) for n in graph.nodes}
        if sum(restart.values()) <= 0:
            restart = None
    result: dict[Node, float] = nx.pagerank(
        reverse, alpha=alpha, personalization=restart, dangling=restart, weight=weight, max_iter=1000, tol=1e-10
    )
    return result
