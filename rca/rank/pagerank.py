"""Personalized PageRank from symptoms back to their causes."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy as sp


@dataclass(frozen=True)
class ReverseWalk:
    """The transition matrix of a causal graph walked backwards (effect -> cause), built once.

    An analysis walks the same graph from several restart vectors; building the matrix is most of the
    cost of one walk (networkx's ``pagerank`` rebuilds it on every call), so it is built here once.

    Attributes
    ----------
    nodes
        The graph's nodes, in matrix order.
    transition
        Row-stochastic transition matrix of the reversed graph (rows of dangling nodes are zero).
    dangling
        Indices of the nodes without causes (no outgoing edge in the reversed graph).
    """

    nodes: list[Hashable]
    transition: Any  # scipy.sparse.csr_array
    dangling: np.ndarray

    @classmethod
    def of(cls, graph: nx.DiGraph, weight: str | None = "weight") -> ReverseWalk:
        """The reverse walk of ``graph`` (cause -> effect edges), with ``weight`` as transition weight."""
        nodes = list(graph)
        if not nodes:
            return cls(nodes, None, np.empty(0, dtype=int))
        adjacency = nx.to_scipy_sparse_array(graph.reverse(copy=False), nodelist=nodes, weight=weight, dtype=float)
        out = adjacency.sum(axis=1)
        out[out != 0] = 1.0 / out[out != 0]
        transition = sp.sparse.dia_array((out.T, 0), shape=adjacency.shape).tocsr() @ adjacency
        return cls(nodes, transition, np.where(out == 0)[0])


def personalized_pagerank(
    walk: ReverseWalk,
    personalization: Mapping[Any, float] | None = None,
    *,
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 1000,
) -> dict[Any, float]:
    """PageRank of ``walk`` restarting at ``personalization``, by power iteration.

    The same iteration as networkx's ``pagerank`` (SciPy variant) with ``dangling`` equal to the
    restart distribution, so the results are the same to the last bit; it takes a prebuilt
    :class:`ReverseWalk` so that several walks over one graph share the matrix.

    Parameters
    ----------
    walk
        The graph's reverse walk.
    personalization
        Restart distribution over nodes (need not sum to 1; missing and negative entries count 0).
        ``None`` or all zeros restarts uniformly.
    alpha
        Damping: the probability of following an edge rather than restarting.
    tol, max_iter
        Convergence: stop once the L1 change is below ``len(nodes) * tol``.

    Returns
    -------
    dict
        Node -> stationary probability.

    Raises
    ------
    networkx.PowerIterationFailedConvergence
        When ``max_iter`` iterations do not converge.

    References
    ----------
    Page, Brin, Motwani, Winograd. "The PageRank citation ranking", 1999; Jeh and Widom,
    "Scaling personalized web search", WWW 2003; Langville and Meyer, "A survey of eigenvector
    methods of web information retrieval", 2005.
    """
    count = len(walk.nodes)
    if count == 0:
        return {}
    restart = np.repeat(1.0 / count, count)
    if personalization is not None:
        weights = np.array([max(float(personalization.get(n, 0.0)), 0.0) for n in walk.nodes])
        if weights.sum() > 0:
            restart = weights / weights.sum()
    x = np.repeat(1.0 / count, count)
    for _ in range(max_iter):
        last = x
        # builtin sum, as networkx does: the same additions in the same order give the same bits
        x = alpha * (x @ walk.transition + sum(x[walk.dangling]) * restart) + (1 - alpha) * restart
        if np.absolute(x - last).sum() < count * tol:
            return dict(zip(walk.nodes, map(float, x), strict=True))
    raise nx.PowerIterationFailedConvergence(max_iter)


def root_cause_pagerank(
    graph: nx.DiGraph,
    personalization: Mapping[Any, float] | None = None,
    *,
    alpha: float = 0.85,
    weight: str | None = "weight",
) -> dict[Any, float]:
    """PageRank over the reversed causal graph, so that mass flows from effects to their causes.

    ``graph`` holds cause -> effect edges. A random walker that starts at anomalous series
    (``personalization``) and follows edges backwards, effect -> cause, gathers at the series that
    explain the anomalies: the root causes. This is the direction MicroCause (Meng et al., IWQoS 2020)
    and RUN (Lin et al., AAAI 2024) intend; RUN's published code walks the other way (see
    ``docs/method.md``). Several walks over one graph: build :class:`ReverseWalk` once and call
    :func:`personalized_pagerank`.

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
    """
    return personalized_pagerank(ReverseWalk.of(graph, weight), personalization, alpha=alpha)
