"""Counterfactual residuals over the call graph (CIRCA's regression-based hypothesis test, same step)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.anomaly.scores import exceedance
from rca.causal.structural import call_graph_parents, counterfactual_residuals
from rca.data.case import Case, Telemetry
from rca.methods.run import RUN

SERIES = {
    "gw_latency": ("gw", "latency"),
    "gw_requests": ("gw", "requests"),
    "gw_cpu": ("gw", "cpu"),
    "db_latency": ("db", "latency"),
    "db_availability": ("db", "availability"),
    "db_requests": ("db", "requests"),
}


def test_symptoms_take_their_callees_symptoms_and_rates_their_callers_rates() -> None:
    parents = call_graph_parents(SERIES, [("gw", "db"), ("db", "db")])
    assert parents == {
        "gw_latency": ["db_latency", "db_availability"],
        "db_requests": ["gw_requests"],
    }, "resources and series with no neighbour in the calls have no parents; a self-call adds none"


def _chain(rows: int = 200, fault: int = 190, jump: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Columns callee, caller: the caller's latency is twice the callee's plus a little of its own noise."""
    rng = np.random.default_rng(0)
    callee = 10.0 + rng.normal(0.0, 1.0, rows)
    callee[fault:] += jump
    caller = 5.0 + 2.0 * callee + rng.normal(0.0, 0.1, rows)
    return np.column_stack([callee, caller]), np.arange(rows) < fault


def test_a_caller_that_waited_on_its_callee_is_explained_by_it() -> None:
    values, before = _chain()
    residuals = counterfactual_residuals(values, before, {1: [0]})
    raw = exceedance(values[before], values[~before], persistence=2)
    cf = exceedance(residuals[before], residuals[~before], persistence=2)
    assert raw[1] > 2.0, "the caller's latency leaves its range"
    assert cf[1] < 1.5, "what its callee does not explain stays within its range"
    assert np.array_equal(residuals[:, 0], values[:, 0]), "a series without parents is scored as it is"


def test_missing_values_stay_missing_and_a_missing_parent_counts_as_its_median() -> None:
    values, before = _chain()
    values[5, 1] = np.nan
    values[7, 0] = np.nan
    residuals = counterfactual_residuals(values, before, {1: [0]})
    assert np.isnan(residuals[5, 1]) and np.isfinite(residuals[7, 1])
    assert np.isfinite(residuals[~before, 1]).all()


def _red_case(jump: float, *, rows: int = 120, fault: int = 110) -> Case:
    """gateway -> api -> db, RED series only: db's latency rises; api waits on it (x 3) and gateway on api."""
    rng = np.random.default_rng(2)
    db = 20.0 + rng.normal(0.0, 2.0, rows)
    db[fault:] += jump
    api = 5.0 + 3.0 * db + rng.normal(0.0, 0.5, rows)
    gateway = 2.0 + api + rng.normal(0.0, 0.5, rows)
    frame = pd.DataFrame(
        {
            "gateway_latency": gateway,
            "api_latency": api,
            "db_latency": db,
            "gateway_requests": rng.normal(100.0, 5.0, rows),
            "api_requests": rng.normal(100.0, 5.0, rows),
            "db_requests": rng.normal(100.0, 5.0, rows),
        },
        index=pd.Index(np.arange(rows, dtype=float) * 60.0, name="time"),
    )
    telemetry = Telemetry.from_frame(frame, graph=[("gateway", "api"), ("api", "db")])
    return Case("chain", telemetry, inject_time=fault * 60.0)


def test_run_scores_each_caller_by_what_its_callees_do_not_explain() -> None:
    case = _red_case(jump=12.0)
    run = RUN(graph="call", epochs=1, pretrain_steps=1)
    ranking = run.fit(case.normal()).rank(case)
    assert ranking.info["services"][0] == "db"
    by_metric = {c.metric: c for c in ranking.candidates}
    assert by_metric["api_latency"].evidence["counterfactual"] == "call graph"
    assert by_metric["api_latency"].evidence["explained_by"] == ["db_latency"]
    assert "counterfactual" not in by_metric["db_latency"].evidence, "db calls nothing: scored as it is"
    # how far each moves, on the samples' scale (levels are capped: the cause's would not say how far)
    peaks = RUN(graph="call", epochs=1, pretrain_steps=1, scoring="exceedance").fit(case.normal()).rank(case)
    scores = {c.metric.removesuffix("_latency"): c.evidence["anomaly_score"] for c in peaks.candidates}
    plain = RUN(graph="call", epochs=1, pretrain_steps=1, counterfactual=False, scoring="exceedance")
    raw = {c.metric: c.evidence["anomaly_score"] for c in plain.fit(case.normal()).rank(case).candidates}
    assert raw["api_latency"] > 0.9 * raw["db_latency"], "as series, the callers move as far as db"
    assert scores["gateway"] < scores["api"] < 0.6 * scores["db"], "as residuals, the callers move less, the outer less"


def test_short_baselines_and_cases_without_calls_are_scored_as_they_are() -> None:
    case = _red_case(jump=12.0)
    run = RUN(graph="call", epochs=1, pretrain_steps=1, min_fit_rows=500).fit(case.normal())
    assert not any("counterfactual" in c.evidence for c in run.rank(case).candidates)
