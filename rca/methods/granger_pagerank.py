"""Granger causality + PageRank, the classic causal-graph baseline (as benchmarked in RCAEval)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rca.anomaly.scores import baseline_zscores, max_abs
from rca.causal.granger import granger_graph
from rca.data.case import Case
from rca.methods.base import RCAMethod
from rca.rank.pagerank import root_cause_pagerank
from rca.rank.ranking import Ranking


@dataclass
class GrangerPageRank(RCAMethod):
    """Pairwise Granger tests build a cause -> effect graph; PageRank walks it back to the causes.

    Pairwise tests grow with the square of the number of series, so at most ``max_series`` series
    enter the graph: the most anomalous by BARO's robust score (a documented departure that keeps
    Train Ticket cases, with hundreds of series, tractable). Restarts are uniform: this baseline
    uses the graph only, not the anomaly scores.
    """

    name = "granger-pagerank"
    maxlag: int = 2
    alpha: float = 0.05
    max_series: int = 40
    damping: float = 0.85

    def rank(self, case: Case) -> Ranking:
        frame = case.frame
        normal, anomalous = case.normal().frame, case.anomalous().frame
        strength = max_abs(baseline_zscores(normal.to_numpy(), anomalous.to_numpy()))
        order = np.argsort(-np.nan_to_num(strength, nan=-1.0), kind="stable")[: self.max_series]
        selected = [frame.columns[i] for i in order]
        graph = granger_graph(frame[selected], maxlag=self.maxlag, alpha=self.alpha)
        scores: dict[str, float] = root_cause_pagerank(graph, alpha=self.damping)
        edges = tuple((str(a), str(b), float(w)) for a, b, w in graph.edges(data="weight"))
        return Ranking.from_scores(
            {str(k): v for k, v in scores.items()},
            case.telemetry.series,
            graph=edges,
            info={"method": self.name, "edges": len(edges)},
        )
