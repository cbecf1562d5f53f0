"""Explanations of rankings: a deterministic template by default, optionally an LLM recursion-of-thought.

The ranking is computed by the engine; an explainer only narrates it and never changes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from rca.data.case import Case
from rca.explain.llm import LLMExplainer
from rca.explain.model import Explanation, SeriesNumbers
from rca.explain.template import TemplateExplainer
from rca.rank.ranking import Ranking


class Explainer(Protocol):
    """Anything that narrates a ranking."""

    def explain(
        self, case: Case, ranking: Ranking, k: int = 5, *, numbers: Mapping[str, SeriesNumbers] | None = None
    ) -> Explanation:
        """Explain ``ranking`` of ``case``, narrating its top ``k`` candidates (with the analysis' ``numbers``)."""
        ...


def make_explainer(base_url: str | None, model: str | None, api_key: str | None = None, **limits: Any) -> Explainer:
    """The explainer the configuration asks for.

    Parameters
    ----------
    base_url
        ``RCA_LLM_BASE_URL``; ``None`` or empty selects the template explainer (the LLM is opt-in).
    model
        ``RCA_LLM_MODEL``; required with a base URL.
    api_key
        ``RCA_LLM_API_KEY``, sent as a bearer token when set.
    **limits
        :class:`LLMExplainer` keyword arguments (``max_depth``, ``max_calls``, ``timeout_s``, ``k``,
        ``max_turns``, ``max_tokens``, ``max_tool_result_chars``, ``max_total_tokens``).

    Raises
    ------
    ValueError
        With a base URL but no model, or with an unknown or invalid limit.
    """
    if not base_url:
        return TemplateExplainer()
    if not model:
        raise ValueError("RCA_LLM_BASE_URL is set but RCA_LLM_MODEL is not: set the model name the endpoint serves")
    try:
        return LLMExplainer(base_url, model, api_key, **limits)
    except TypeError as exc:
        raise ValueError(f"unknown LLM explainer setting: {exc}") from None


__all__ = ["Explainer", "Explanation", "LLMExplainer", "TemplateExplainer", "make_explainer"]
