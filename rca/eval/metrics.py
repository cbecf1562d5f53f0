"""Accuracy of rankings: the rank of the true root cause, AC@k and Avg@k.

Conventions (those of RCD, NeurIPS 2022, and RCAEval, ASE 2024), with ties broken pessimistically:

- The rank of the true service is its 1-based position among distinct services, a service taking
  the best score of its candidates. A service tied with others takes the worst of their positions,
  so a constant ranking puts everyone last, never first. A service absent from the ranking has no
  rank and counts as a miss.
- AC@k is the share of cases whose rank is at most k; Avg@k is the mean of AC@1 .. AC@k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rca.rank.ranking import Ranking


def _pessimistic_rank(scores: dict[str, float], key: str) -> int | None:
    if key not in scores:
        return None
    target = scores[key]
    return sum(1 for value in scores.values() if value >= target)


def _clean(score: float) -> float:
    return -math.inf if math.isnan(score) else score


def service_rank(ranking: Ranking, service: str) -> int | None:
    """The pessimistic 1-based rank of ``service`` among the distinct services of ``ranking``."""
    best: dict[str, float] = {}
    for candidate in ranking.candidates:
        score = _clean(candidate.score)
        best[candidate.service] = max(best.get(candidate.service, -math.inf), score)
    return _pessimistic_rank(best, service)


def metric_rank(ranking: Ranking, metric: str) -> int | None:
    """The pessimistic 1-based rank of the series ``metric`` among the metric candidates."""
    scores: dict[str, float] = {}
    for candidate in ranking.candidates:
        if candidate.metric is not None:
            scores[candidate.metric] = max(scores.get(candidate.metric, -math.inf), _clean(candidate.score))
    return _pessimistic_rank(scores, metric)


def accuracy_at_k(ranks: Sequence[int | None], k: int) -> float:
    """AC@k: the share of ranks that are at most ``k`` (a missing rank is a miss)."""
    if not ranks:
        return math.nan
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def average_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Avg@k: the mean of AC@1 .. AC@k."""
    return sum(accuracy_at_k(ranks, j) for j in range(1, k + 1)) / k
