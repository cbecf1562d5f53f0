"""Counterfactual attribution over a causal graph: regression-based hypothesis testing and descendant adjustment.

A fitted Granger model forecasts each series one step ahead from the observed past of its causes
(and its own); after the anomaly time that forecast is what the series would have done had only its
causes changed. :func:`regression_hypothesis_test` scores the part of each series' change that its
causes do not explain; :func:`descendant_adjustment` then lets an anomalous node collect the scores
of the descendants it explains, so the cause, not the effect its change was amplified into, comes
first.

References
----------
Li, Chen, Lin, Zhang, Dong, Li, Zhao, Liu, Pei. "Causal Inference-Based Root Cause Analysis for Online
Service Systems with Intervention Recognition" (CIRCA), KDD 2022.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np


def regression_hypothesis_test(residuals: np.ndarray, after: np.ndarray) -> np.ndarray:
    """CIRCA's regression-based hypothesis test: how far each series leaves what its causes predict.

    Parameters
    ----------
    residuals
        ``(T, N)`` one-step forecast errors of a model fitted on the normal period, each series in units
        of its normal errors' spread (NaN where missing).
    after
        ``(T,)`` boolean: the rows after the anomaly time.

    Returns
    -------
    ``(N,)``: the absolute mean standardised residual after the anomaly time, times the square root of
    the rows it averages (a z statistic of a sustained shift; 0 where nothing is observed). A series
    whose change its causes explain scores like a normal one.
    """
    tail = np.asarray(residuals, dtype=float)[np.asarray(after, dtype=bool)]
    counts = np.isfinite(tail).sum(axis=0)
    total = np.nansum(tail, axis=0)
    return np.asarray(np.abs(total) / np.sqrt(np.maximum(counts, 1)), dtype=float)


def descendant_adjustment(
    scores: Mapping[str, float], graph: nx.DiGraph, *, threshold: float = 3.0
) -> dict[str, float]:
    """CIRCA's descendant adjustment: an anomalous node adds the largest score among the descendants it explains.

    For a node scoring at least ``threshold``, the candidates are its children and, through children
    scoring below ``threshold`` (whose change their parents explain), their descendants in turn; the
    node's score grows by the largest candidate score. A fault whose own change is small but whose
    effects amplify it then outranks those effects, each of which its cause explains.

    CIRCA assumes a DAG. In a cycle every member is an ancestor as much as a descendant of every other,
    so none of them is counted as a descendant (a node's strongly connected component is skipped, not
    walked through): otherwise two anomalous members of a cycle would each collect the other's score
    and tie, and a parent the fault feeds back into would collect the fault's.

    Parameters
    ----------
    scores
        Node -> regression-based score (:func:`regression_hypothesis_test`).
    graph
        Cause -> effect edges (nodes without a score are skipped).
    threshold
        The score above which a node's change counts as its own (3: three standard errors).
    """
    component = {v: k for k, nodes in enumerate(nx.strongly_connected_components(graph)) for v in nodes}
    adjusted = dict(scores)
    for node, score in scores.items():
        if score < threshold or node not in graph:
            continue
        best, seen, frontier = 0.0, {node}, list(graph.successors(node))
        while frontier:
            child = frontier.pop()
            if child in seen or child not in scores or component[child] == component[node]:
                continue
            seen.add(child)
            best = max(best, scores[child])
            if scores[child] < threshold:
                frontier.extend(graph.successors(child))
        adjusted[node] = score + best
    return adjusted


def granger_edges(matrix: np.ndarray, nodes: Sequence[str]) -> nx.DiGraph:
    """Cause -> effect edges for the non-zero entries of a Granger matrix (``matrix[i, j]``: ``i`` causes ``j``)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    for i, j in zip(*np.nonzero(np.asarray(matrix) > 0), strict=True):
        if i != j:
            graph.add_edge(nodes[int(i)], nodes[int(j)], weight=float(matrix[i, j]))
    return graph


__all__ = ["descendant_adjustment", "granger_edges", "regression_hypothesis_test"]
