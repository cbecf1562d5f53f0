"""Counterfactual residuals over the call graph: the part of a series its neighbours in the calls do not explain.

A structural model in the sense of CIRCA: the service architecture says which series may cause
which, and a regression learned on the normal rows says how much. A service's latency and errors
are caused by those of the services it calls (it waits on them and passes their failures on); its
request rate by the request rates of its callers (load flows down the calls). Each such series is
regressed on its parents' values *at the same step*, on the rows before the anomaly time: at the
sampling of these systems (one to five minutes) a fault reaches the callers within a sample, so a
lagged (Granger) model has nothing to learn (``bench/granger_gain.py``). After the anomaly time the
residual, the series minus what its parents predict, is what the series did on its own: a caller
whose latency rose by the time it waited on a failing callee stays within its range, the callee's
own rise does not. Scoring the residuals instead of the series is CIRCA's regression-based
hypothesis test; the scorer (:func:`rca.anomaly.scores.series_scores`) stays the same.

References
----------
Li, Chen, Lin, Zhang, Dong, Li, Zhao, Liu, Pei. "Causal Inference-Based Root Cause Analysis for Online
Service Systems with Intervention Recognition" (CIRCA), KDD 2022.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from rca.data.case import red_kind

RIDGE = 1e-3
"""Ridge penalty of the standardised regressions: keeps the fit defined when parents are collinear."""


def call_graph_parents(series: Mapping[str, tuple[str, str]], calls: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The parents of each RED series (:func:`rca.data.case.red_kind`) in the call graph.

    Latency and error series take the latency and error series of every service their service calls;
    a request rate takes the request rates of every service that calls its service. Series of
    other kinds (resources), and those with no such neighbour, have no parents.

    Parameters
    ----------
    series
        Column -> ``(service, metric)``.
    calls
        ``(caller, callee)`` service pairs.
    """
    callees: dict[str, set[str]] = {}
    callers: dict[str, set[str]] = {}
    for caller, callee in calls:
        if caller != callee:
            callees.setdefault(caller, set()).add(callee)
            callers.setdefault(callee, set()).add(caller)
    # a request rate is explained by its callers' rates, latency and errors by the callees' latency and errors
    roles = {c: "rate" if kind == "rate" else "symptom" for c, (_, m) in series.items() if (kind := red_kind(m))}
    by_role: dict[tuple[str, str], list[str]] = {}
    for column, role in roles.items():
        by_role.setdefault((series[column][0], role), []).append(column)
    parents: dict[str, list[str]] = {}
    for column, role in roles.items():
        neighbours = (callers if role == "rate" else callees).get(series[column][0], set())
        found = [p for other in sorted(neighbours) for p in by_role.get((other, role), [])]
        if found:
            parents[column] = found
    return parents


def counterfactual_residuals(
    values: np.ndarray, fit_rows: np.ndarray, parents: Mapping[int, Sequence[int]], *, ridge: float = RIDGE
) -> np.ndarray:
    """``values`` with each column that has parents replaced by its residual from its parents' same-step values.

    Every column is standardised by its median and standard deviation over ``fit_rows``; a column
    with parents is regressed on them (ridge least squares with an intercept, over the ``fit_rows``
    where it is observed; a missing parent value counts as its median), and replaced by the observed
    value minus the prediction, in units of the column's spread. Other columns are returned as they
    are. Scale-free scorers then read a residual as they read a series.

    Parameters
    ----------
    values
        ``(T, N)``; NaN is missing (and stays missing in a residual).
    fit_rows
        ``(T,)`` boolean: the normal rows to learn from.
    parents
        Column index -> indices of its parents.
    ridge
        Penalty on the standardised coefficients.
    """
    values = np.asarray(values, dtype=float)
    fit_rows = np.asarray(fit_rows, dtype=bool)
    out = values.copy()
    if not parents or not fit_rows.any():
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns
        center = np.nan_to_num(np.nanmedian(values[fit_rows], axis=0))
        spread = np.nan_to_num(np.nanstd(values[fit_rows], axis=0))
    spread = np.where(spread > 0, spread, 1.0)
    z = (values - center) / spread
    filled = np.nan_to_num(z)
    for column, sources in parents.items():
        design = np.column_stack([filled[:, list(sources)], np.ones(len(z))])
        rows = fit_rows & np.isfinite(z[:, column])
        if rows.sum() <= 1:
            continue
        a = design[rows]
        coef = np.linalg.solve(a.T @ a + ridge * rows.sum() * np.eye(a.shape[1]), a.T @ z[rows, column])
        out[:, column] = z[:, column] - design @ coef
    return out


__all__ = ["RIDGE", "call_graph_parents", "counterfactual_residuals"]
