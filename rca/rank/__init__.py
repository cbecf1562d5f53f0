"""Ranking root causes: the :class:`Ranking` type and personalized PageRank."""

from rca.rank.ranking import Candidate, Ranking, sort_candidates

__all__ = ["Candidate", "Ranking", "sort_candidates"]
