"""The result every method returns: candidates ordered by score, with optional graph and evidence."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One suspected root cause.

    Attributes
    ----------
    service
        The suspected service.
    metric
        The suspected series (a frame column), or ``None`` for a service-level candidate.
    score
        Higher is more likely; only the order matters across candidates of one ranking.
    evidence
        What supports the candidate (anomaly score, onset time, causal path, ...).
    """

    service: str
    metric: str | None
    score: float
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ranking:
    """Candidates ordered by descending score (NaN scores last).

    Attributes
    ----------
    candidates
        The ordered candidates.
    graph
        Optional weighted cause -> effect edges ``(source, target, weight)`` between series or
        services that the method used.
    info
        Method-specific details (timings, model version, ...).
    edge_kinds
        Where each ``graph`` edge came from, where the method says: ``(source, target) -> kinds``, each
        of ``"learned"``, ``"call"`` (the call graph) or ``"service"`` (within a service).
    """

    candidates: tuple[Candidate, ...]
    graph: tuple[tuple[str, str, float], ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    edge_kinds: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_scores(
        cls,
        scores: Mapping[str, float],
        series: Mapping[str, tuple[str, str]],
        *,
        evidence: Mapping[str, Mapping[str, Any]] | None = None,
        graph: Sequence[tuple[str, str, float]] = (),
        info: Mapping[str, Any] | None = None,
    ) -> Ranking:
        """Metric-level candidates from per-series scores, ordered by score (stable for ties)."""
        evidence = evidence or {}
        candidates = [
            Candidate(series[column][0], column, float(score), evidence.get(column, {}))
            for column, score in scores.items()
        ]
        return cls(tuple(sort_candidates(candidates)), tuple(graph), dict(info or {}))

    def services(self) -> list[tuple[str, float]]:
        """Distinct services at their best score, in ranking order."""
        best: dict[str, float] = {}
        for candidate in self.candidates:
            score = _sortable(candidate.score)
            if candidate.service not in best or score > best[candidate.service]:
                best[candidate.service] = score
        return sorted(best.items(), key=lambda item: -item[1])

    def top(self, k: int) -> list[Candidate]:
        """The first ``k`` candidates."""
        return list(self.candidates[:k])


def _sortable(score: float) -> float:
    return -math.inf if math.isnan(score) else score


def sort_candidates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Order by descending score, NaN last, keeping the input order among equal scores."""
    return sorted(candidates, key=lambda c: -_sortable(c.score))
