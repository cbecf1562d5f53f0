"""Fusing per-series signals into one order: a walk through the causal graph, then explicit sort keys.

Two steps, each a plain function:

1. :func:`walk_scores`: the normalised seed (anomaly score) of each series mixed with personalized
   PageRank from the seeds back to their causes (:func:`rca.rank.pagerank.personalized_pagerank`).
2. :func:`standout_keys`: a sort key per series, ``(cause tier, frontier, symptom tier, cause out of
   range, score)``: services first by how far their cause metrics stand out among peers, then those
   on the call graph's frontier of anomalous services (:func:`traversal_frontier`: no anomalous
   callee, no caller's load) before the rest, then by how far their symptoms stand out, then, within a service, its
   cause series out of their normal range before the rest, each by the walked score.
   :func:`key_scores` turns keys into scores that keep their order and their ties.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Literal

import networkx as nx

from rca.anomaly.signals import NORMAL_RANGE, standout_scores
from rca.data.case import is_symptom_metric
from rca.rank.pagerank import ReverseWalk, personalized_pagerank

Personalization = Literal["anomaly", "uniform"]
StandoutKey = tuple[float, bool, float, bool, float]
"""``(cause tier of the service, on the traversal frontier, symptom tier of the service, cause series out of
range, score)``."""
Spread = Callable[[Mapping[str, float]], Mapping[str, float]]
"""Series scores -> the same scores spread through the causal graph (e.g. :func:`walk_scores`)."""


def walk_scores(
    walk: ReverseWalk,
    seeds: Mapping[str, float],
    *,
    pagerank: bool = True,
    personalization: Personalization = "anomaly",
    damping: float = 0.5,
    mix: float = 0.25,
) -> tuple[dict[str, float], dict[str, float] | None]:
    """Seeds normalised to sum 1, mixed with a personalized PageRank walk from effects to causes.

    ``(1 - mix) * seed + mix * pagerank`` with the walk restarting at the seeds, so the walk
    refines but does not wash away the anomaly evidence; with ``personalization="uniform"`` the
    walk alone, restarting anywhere (an ablation); with ``pagerank=False`` the normalised seeds.
    Seeds that are all 0 (nothing anomalous) give 0 everywhere: a walk with nowhere to restart would
    rank the series by the graph's centrality alone, evidence of nothing.
    ``walk`` is the causal graph's :class:`rca.rank.pagerank.ReverseWalk`, built once per graph.

    Returns
    -------
    scores, walk
        The score of every seeded series, and the PageRank of every node (``None`` without a walk).
    """
    total = sum(seeds.values())
    seed = {c: (v / total if total > 0 else 0.0) for c, v in seeds.items()}
    if not pagerank:
        return seed, None
    if total <= 0 and personalization == "anomaly":
        # no evidence anywhere: a walk restarting uniformly would rank by centrality alone
        return seed, {str(node): 0.0 for node in walk.nodes}
    restart = seed if personalization == "anomaly" else None
    ranks = {str(k): v for k, v in personalized_pagerank(walk, restart, alpha=damping).items()}
    if personalization == "uniform":
        return {c: ranks.get(c, 0.0) for c in seeds}, ranks
    return {c: (1 - mix) * seed[c] + mix * ranks.get(c, 0.0) for c in seeds}, ranks


def service_best(scores: Mapping[str, float], series: Mapping[str, tuple[str, str]]) -> dict[str, float]:
    """Each service's best score over its series (``series``: column -> (service, metric))."""
    best: dict[str, float] = {}
    for column, value in scores.items():
        service = series[column][0]
        best[service] = max(best.get(service, value), value)
    return best


def standout_keys(
    anomaly: Mapping[str, float],
    series: Mapping[str, tuple[str, str]],
    within: Mapping[str, float],
    spread: Spread,
    *,
    normal: float = NORMAL_RANGE,
    own_normal: Collection[str] = (),
    frontier: Collection[str] | None = None,
) -> dict[str, StandoutKey]:
    """Sort keys that order services by where they stand out: causes, then symptoms, then ``within``.

    The margins of :func:`rca.anomaly.signals.standout_scores`, spread through the graph, split in two
    tiers. A service is named first by standing out in a metric where a fault arises (its resources,
    USE; the delay of the calls into it, and any other cause signal), and only where no service does,
    by standing out in a symptom (latency, errors: RED, :func:`rca.data.case.is_symptom_metric`): a
    fault raises the symptoms of every service that waits on it, and a tail percentile of a pod with
    a handful of requests leaps on one slow call, so a symptom standing out does not locate a fault
    that a saturated resource or a slow link does (symptoms propagate upstream, causes do not: the
    premise of MicroRCA, Wu et al. NOMS 2020, and of CIRCA's descendant adjustment, Li et al. KDD
    2022). The same holds within a service: its series that leave their normal range (``anomaly``
    above ``normal``) in a cause metric come before its symptoms, each group ordered by ``within``.

    Parameters
    ----------
    anomaly
        Raw anomaly score per series.
    series
        Column -> (service, metric) of every series in ``anomaly``.
    within
        The score that orders the series of a service and the services tied on both tiers.
    spread
        How a tier's margins are spread through the causal graph before a service takes its best.
    own_normal
        Cause series already measured against their own service's normal variation (a log change,
        :mod:`rca.anomaly.logs`): they form no peer family (a fault's callers change their logs too, so
        the margin over the runner-up says little); their score is added to every cause margin of their
        service before the spread, and is the margin of their own series. A service without one is
        ordered as before.
    frontier
        Services a symptom cannot be passed to from below (:func:`traversal_frontier`): among services
        tied in the cause tier whose symptoms stand out, these come before the others whatever their
        margins. Services whose symptoms stand out nowhere keep their place behind them: a service that
        left its range by a little, with nothing below it, is not promoted over every other (on noisy
        one-minute data most services leave their range somewhere). ``None``: every service is on it
        (no call graph, or the rule switched off).
    """
    peers = {c: v for c, v in anomaly.items() if c not in own_normal}
    margins = standout_scores(peers, series, normal=normal)
    # an own-normal score adds to every cause margin of its service (and is the margin of its own series)
    own = {series[c][0]: max(anomaly[c], 0.0) for c in own_normal}
    symptom = {c: is_symptom_metric(series[c][1]) for c in anomaly}
    margins = {c: m + (0.0 if symptom[c] else own.get(series[c][0], 0.0)) for c, m in margins.items()}
    margins.update({c: own[series[c][0]] for c in own_normal})
    causes = service_best(spread({c: 0.0 if symptom[c] else m for c, m in margins.items()}), series)
    symptoms = service_best(spread({c: m if symptom[c] else 0.0 for c, m in margins.items()}), series)
    return {
        c: (
            causes.get(series[c][0], 0.0),
            frontier is None or (series[c][0] in frontier and symptoms.get(series[c][0], 0.0) > 0.0),
            symptoms.get(series[c][0], 0.0),
            not symptom[c] and anomaly[c] > normal,
            within[c],
        )
        for c in within
    }


def traversal_frontier(
    onsets: Mapping[str, float], calls: Iterable[tuple[str, str]], loads: Mapping[str, float] | None = None
) -> set[str]:
    """The anomalous services nothing below or above explains: no callee went anomalous first, no caller's load.

    A service waits on its callees, so their slowness and failures show in its own latency and
    errors: a symptom travels from callee to caller, and the deepest anomalous services of the call
    graph are where it can start (the anomaly traversal of Hardt et al., "The PetShop Dataset: Finding
    Causes of Performance Issues across Microservices", 2023; the premise of MicroRCA, Wu et al., NOMS
    2020). A callee explains its caller only if its anomaly began no later than the caller's: an effect
    does not precede its cause, and a callee that goes out of range by chance after the caller did
    does not move the blame. Services that call each other (a cycle) cannot explain each other away: a
    cycle counts as one service, whose callees are those of its members outside it, each compared with
    the member it is called by.

    Load travels the other way, from caller to callee: a service whose request rate rises passes the
    extra calls down, and its callees slow down under them. So with ``loads``, a callee whose request
    rate rose no earlier than its caller's carries that caller's load: it does not explain the caller,
    and it is not on the frontier itself (a caller's load explains it). A service whose request rate
    rose while no caller's did is where the load enters, and is on the frontier: an overload is a
    cause. A callee whose request rate rose while its callers' did not (retries of a failing service)
    still explains them.

    Parameters
    ----------
    onsets
        The anomalous services (latency or errors out of their normal range), each with the time its
        anomaly began (``inf`` when unknown: it explains nothing and is explained by any callee).
    calls
        ``(caller, callee)`` service pairs.
    loads
        The services whose request rate rose out of its normal range, each with the time it began
        (``inf`` when unknown). ``None`` or empty: no load is passed on.
    """
    loads = loads or {}
    graph = nx.DiGraph((a, b) for a, b in calls if a != b)
    graph.add_nodes_from(onsets)
    graph.add_nodes_from(loads)
    condensed = nx.condensation(graph)
    component = condensed.graph["mapping"]

    def carries_load(callee: str, caller: str) -> bool:
        return callee in loads and caller in loads and loads[caller] <= loads[callee]

    explained = {
        c
        for c, members in condensed.nodes(data="members")
        if any(
            component[v] != c and v in onsets and u in onsets and onsets[v] <= onsets[u] and not carries_load(v, u)
            for u in members
            for v in graph.successors(u)
        )
    }
    loaded = {v for u, v in graph.edges if component[u] != component[v] and carries_load(v, u)}
    return {s for s in onsets.keys() | loads.keys() if component[s] not in explained and s not in loaded}


def key_scores(keys: Mapping[str, StandoutKey]) -> dict[str, float]:
    """Scores in the order of ``keys``: how many of the other keys each key beats.

    Equal keys score the same (the evaluator counts ties pessimistically), distinct keys differ.
    """
    ordered = sorted(keys.values())
    return {column: float(bisect_left(ordered, key)) for column, key in keys.items()}


__all__ = [
    "Personalization",
    "StandoutKey",
    "key_scores",
    "service_best",
    "standout_keys",
    "traversal_frontier",
    "walk_scores",
]
