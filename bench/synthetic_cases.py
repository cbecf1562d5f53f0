"""Synthetic causal cases with a known graph, as in CIRCA's simulation study (for ``bench/synthetic.py``).

Each case is a random sparse causal graph over ``N`` series (each series its own service), with
linear lagged dynamics (lags 1 to 3) plus noise (Li et al., "Causal Inference-Based Root Cause Analysis
for Online Service Systems with Intervention Recognition", KDD 2022):

    x_j(t) = a_j x_j(t-1) + sum_{i -> j} w_ij x_i(t - l_ij) + e_j(t) + fault_j(t)

Every node persists (``a_j`` in [0.5, 0.8]) and its noise is small beside what its causes send it, so
a sustained shift of a cause's level is integrated by its effects: the faulty node's own change is a
few of its standard deviations, while its descendants move further out of their range (a step passes
an AR(1) with gain ``1 / (1 - a)``, its noise with ``1 / sqrt(1 - a^2)``). Magnitude rankers (BARO)
then name an effect; a method that knows the graph can walk back to the cause.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from rca.data.case import Case, RootCause, Telemetry

STEP = 60.0
"""Seconds between rows."""


@dataclass(frozen=True)
class SyntheticCase:
    """A generated case and the graph that produced it (node ``i`` is column ``names[i]``)."""

    case: Case
    edges: list[tuple[int, int]]
    names: list[str]


def random_graph(n: int, rng: np.random.Generator, *, degree: float, cycles: int) -> list[tuple[int, int]]:
    """A random DAG, about ``degree`` parents per node (edges forward in a random order), plus ``cycles`` back edges."""
    order = rng.permutation(n)
    edges = set()
    p = min(1.0, 2 * degree / max(n - 1, 1))
    for a in range(n):
        for b in range(a + 1, n):
            if rng.random() < p:
                edges.add((int(order[a]), int(order[b])))
    forward = sorted(edges)
    for k in rng.permutation(len(forward))[:cycles]:
        i, j = forward[int(k)]
        # a path j ~> i closes a cycle through i -> j; the reversed edge alone is a 2-cycle
        edges.add((j, i))
    return sorted(edges)


def _spectral_radius(cross: np.ndarray, ar: np.ndarray) -> float:
    """Spectral radius of the VAR's companion matrix (``cross[l - 1, j, i]`` plus ``ar`` at lag 1): < 1 is stable."""
    lags, n, _ = cross.shape
    companion = np.zeros((lags * n, lags * n))
    companion[:n] = np.concatenate(list(cross), axis=1)
    companion[:n, :n] += np.diag(ar)
    companion[n:, :-n] = np.eye((lags - 1) * n)
    return float(np.abs(np.linalg.eigvals(companion)).max())


def simulate(
    n: int, rows: int, after: int, rng: np.random.Generator, *, degree: float, cycles: int, shift: float, noise: float
) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """Values ``(rows + after, n)``, the edges, and the faulty node (a node with at least one effect)."""
    edges = random_graph(n, rng, degree=degree, cycles=cycles)
    max_lag = 3
    weight = np.zeros((max_lag, n, n))  # weight[l - 1, j, i]: the effect of x_i(t - l) on x_j(t)
    parents = np.zeros(n)
    for _, j in edges:
        parents[j] += 1
    for i, j in edges:
        weight[rng.integers(0, max_lag), j, i] = rng.uniform(0.6, 1.0) / np.sqrt(parents[j])
    ar = rng.uniform(0.5, 0.8, n)
    # cycles of positive weights can make the system explode; shrink the cross-weights until it is stable
    while _spectral_radius(weight, ar) > 0.95:
        weight *= 0.9
    weight[0] += np.diag(ar)
    scale = np.where(parents > 0, noise, 1.0)  # roots carry the system's variance, the others little of their own
    causes = [i for i in range(n) if any(a == i for a, _ in edges)]
    faulty = int(rng.choice(causes)) if causes else int(rng.integers(0, n))
    burn = 100
    total = burn + rows + after
    x = np.zeros((total, n))
    for t in range(max_lag, total):
        x[t] = sum(weight[k] @ x[t - 1 - k] for k in range(max_lag)) + scale * rng.normal(size=n)
    spread = x[burn : burn + rows, faulty].std()
    # the fault: a sustained shift of the faulty node's innovations, ``shift`` of its level's spread
    # once integrated by its own persistence (so its own change is ``shift`` standard deviations)
    bump = shift * spread * (1 - ar[faulty])
    fault = np.zeros(n)
    fault[faulty] = bump
    for t in range(burn + rows, total):
        x[t] = sum(weight[k] @ x[t - 1 - k] for k in range(max_lag)) + scale * rng.normal(size=n) + fault
    return x[burn:], edges, faulty


def make_case(
    index: int, n: int, rows: int, rng: np.random.Generator, *, cycles: int, degree: float = 1.5, shift: float = 2.0
) -> SyntheticCase:
    """One case: ``rows`` rows before the fault, ``max(10, rows // 5)`` from it on."""
    after = max(10, rows // 5)
    x, edges, faulty = simulate(n, rows, after, rng, degree=degree, cycles=cycles, shift=shift, noise=0.3)
    names = [f"n{i:03d}" for i in range(n)]
    columns = [f"{name}_value" for name in names]
    frame = pd.DataFrame(x, columns=columns, index=np.arange(len(x), dtype=float) * STEP)
    telemetry = Telemetry.from_frame(frame)
    case = Case(
        name=f"synthetic-{n}x{rows}-{index}",
        telemetry=telemetry,
        inject_time=rows * STEP,
        root_cause=RootCause(names[faulty], columns[faulty]),
        step_seconds=STEP,
    )
    return SyntheticCase(case, edges, names)


def degree_preserving(edges: list[tuple[int, int]], n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """The edges rewired by double edge swaps that keep every node's in- and out-degree."""
    graph = nx.DiGraph(edges)
    graph.add_nodes_from(range(n))
    if graph.number_of_edges() >= 3:
        tries = 100 * graph.number_of_edges()
        seed = int(rng.integers(2**31))
        # a graph with few valid swaps runs out of tries: keep the swaps made (networkx makes them in place)
        with contextlib.suppress(nx.NetworkXAlgorithmError):
            nx.directed_edge_swap(graph, nswap=graph.number_of_edges(), max_tries=tries, seed=seed)
    return [(int(a), int(b)) for a, b in graph.edges]


def with_graph(sc: SyntheticCase, edges: list[tuple[int, int]]) -> Case:
    """The case with cause -> effect ``edges`` given as calls effect -> cause (what ``graph="call"`` reads)."""
    calls = [(sc.names[j], sc.names[i]) for i, j in edges]
    telemetry = Telemetry.from_frame(sc.case.frame, graph=calls)
    return Case(sc.case.name, telemetry, sc.case.inject_time, sc.case.root_cause, step_seconds=STEP)
