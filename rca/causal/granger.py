"""Pairwise Granger causality (statsmodels) as a causal graph."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import InfeasibleTestError
from statsmodels.tsa.stattools import grangercausalitytests


def granger_graph(frame: pd.DataFrame, *, maxlag: int = 2, alpha: float = 0.05) -> nx.DiGraph:
    """Cause -> effect edges between columns whose pairwise Granger test rejects non-causality.

    For each ordered pair (cause, effect) the SSR F-test of statsmodels' ``grangercausalitytests``
    is run for lags 1..``maxlag``; the edge is added when the smallest p-value, Bonferroni-corrected
    for the number of lags, is below ``alpha``. The edge weight is ``1 - p``. Missing values are
    carried forward (then backward for a leading gap); a pair too short for the lag order, or one
    the test cannot be computed for (a perfect fit), gets no edge.

    References
    ----------
    Granger, "Investigating causal relations by econometric models and cross-spectral methods",
    Econometrica 1969.
    """
    data = frame.ffill().bfill()
    columns = [c for c in data.columns if data[c].std() > 0]
    graph = nx.DiGraph()
    graph.add_nodes_from(frame.columns)
    lags = max(1, min(maxlag, (len(data) - 1) // 3 - 1))
    values = data[columns].to_numpy(dtype=float)
    for j, effect in enumerate(columns):
        for i, cause in enumerate(columns):
            if i == j:
                continue
            pair = np.column_stack([values[:, j], values[:, i]])
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = grangercausalitytests(pair, maxlag=lags)
            except (ValueError, np.linalg.LinAlgError, InfeasibleTestError):
                continue
            p = min(result[lag][0]["ssr_ftest"][1] for lag in result) * len(result)
            if np.isfinite(p) and p < alpha:
                graph.add_edge(cause, effect, weight=1.0 - p)
    return graph
