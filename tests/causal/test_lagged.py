"""Counterfactual residuals from learned Granger causes, kept only where they forecast (rca.causal.lagged)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rca.causal.lagged import LaggedCounterfactual, counterfactual_run, out_of_sample_gain
from rca.data.case import Case, RootCause, Telemetry
from rca.methods.run import RUN
from tests.causal.test_rht import amplifying_chain

ROWS = 300
"""Rows of :func:`amplifying_chain` before its push."""


def standardised() -> np.ndarray:
    x = amplifying_chain(rows=ROWS)
    return np.asarray((x - x[:ROWS].mean(0)) / x[:ROWS].std(0), dtype=float)


def test_the_counterfactual_runs_on_the_causes_observed_past_and_its_own_counterfactual_past() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 2))
    coef = np.zeros((2, 2, 2))  # lag 1 last
    coef[1, 1, 1], coef[1, 0, 1], coef[1, 0, 0] = 0.8, 1.0, 0.5
    hat = counterfactual_run(coef, np.array([0.0, 0.1]), values)
    expected = values[:, 1].copy()
    for t in range(2, 6):
        expected[t] = 0.1 + 0.8 * expected[t - 1] + 1.0 * values[t - 1, 0] + 0.5 * values[t - 2, 0]
    np.testing.assert_allclose(hat[:, 1], expected)
    np.testing.assert_allclose(hat[:2], values[:2])
    np.testing.assert_allclose(counterfactual_run(coef, np.array([0.0, 0.1]), values, np.array([1]))[:, 0], expected)


def test_gain_is_the_share_of_the_own_past_error_the_causes_remove() -> None:
    own = np.array([[1.0, 2.0, 0.0], [-1.0, 2.0, 0.0]])
    full = np.array([[0.5, 2.0, 0.0], [-0.5, 4.0, 0.0]])
    np.testing.assert_allclose(out_of_sample_gain(full, own), [0.75, -1.5, 0.0])


def test_an_effect_keeps_its_cause_and_its_residual_leaves_out_what_the_cause_pushed_into_it() -> None:
    z = standardised()
    model = LaggedCounterfactual(lags=2).fit(z[:ROWS])
    assert model.targets_.tolist() == [1], "b is forecast by a; a has no cause"
    assert model.causes() == {1: [0]}
    residuals = model.residuals(z)
    assert np.all(np.isnan(residuals[:2, 1]))
    np.testing.assert_array_equal(residuals[:, 0], z[:, 0])
    after = slice(ROWS, None)
    assert z[after, 1].mean() > z[after, 0].mean(), "as series, the effect moves further than its cause"
    residual_shift = abs(residuals[after, 1].mean()) / np.nanstd(residuals[:ROWS, 1])
    assert residual_shift < 1.0, "its residual stays within its normal spread"
    assert residual_shift < z[after, 0].mean(), "and moves less than its cause, in the units of each"


def test_series_whose_causes_forecast_nothing_out_of_sample_are_left_as_they_are() -> None:
    rng = np.random.default_rng(3)
    x = np.zeros((300, 4))
    for t in range(1, 300):
        x[t] = 0.6 * x[t - 1] + rng.normal(size=4)
    model = LaggedCounterfactual().fit(x)
    assert model.targets_.size == 0
    np.testing.assert_array_equal(model.residuals(x), x)


def test_the_state_round_trips_and_a_short_history_is_refused() -> None:
    z = standardised()
    model = LaggedCounterfactual(lags=2).fit(z[:ROWS])
    again = LaggedCounterfactual.from_state(model.state())
    np.testing.assert_allclose(again.residuals(z), model.residuals(z))
    with pytest.raises(ValueError, match="at least 20 rows"):
        LaggedCounterfactual().fit(z[:12])


def amplifying_case() -> Case:
    z = standardised()
    frame = pd.DataFrame(
        {"a_m": z[:, 0], "b_m": z[:, 1]}, index=pd.Index(np.arange(len(z), dtype=float) * 60.0, name="time")
    )
    return Case("amplified", Telemetry.from_frame(frame), inject_time=ROWS * 60.0, root_cause=RootCause("a"))


def test_run_names_the_cause_whose_effect_moved_further_and_says_what_explained_the_effect(tmp_path: Path) -> None:
    case = amplifying_case()
    fitted = RUN(epochs=1, pretrain_steps=1, threads=1).fit(case.normal())
    ranking = fitted.rank(case)
    assert ranking.info["services"][0] == "a"
    assert ranking.info["lagged_series"] == 1
    effect = next(c for c in ranking.candidates if c.metric == "b_m")
    assert effect.evidence["counterfactual"] == "learned causes"
    assert effect.evidence["explained_by"] == ["a_m"]
    plain = RUN(epochs=1, pretrain_steps=1, threads=1, lagged=False).fit(case.normal()).rank(case)
    assert plain.info["services"][0] == "b", "scored as series, the effect comes first"
    loaded = RUN.load(fitted.save(tmp_path / "model"))
    assert loaded.rank(case).info["services"] == ranking.info["services"]


def test_no_causes_are_learned_for_the_call_graph_alone_or_when_switched_off() -> None:
    case = amplifying_case()
    for params in ({"graph": "call"}, {"lagged": False}):
        fitted = RUN(epochs=1, pretrain_steps=1, threads=1, **params).fit(case.normal())
        assert fitted.model_ is not None and fitted.model_.lagged is None
        assert "lagged_series" not in fitted.fit_report()
        assert not any("counterfactual" in c.evidence for c in fitted.rank(case).candidates)


def test_a_history_too_short_for_the_gain_test_fits_the_forecaster_alone() -> None:
    case = amplifying_case()
    short = case.normal().between(start=float(case.frame.index[ROWS - 16]))
    fitted = RUN(epochs=1, pretrain_steps=1, threads=1, lags=1, min_fit_rows=10).fit(short)
    assert fitted.model_ is not None and fitted.model_.granger is not None
    assert fitted.model_.lagged is None, f"{len(short.frame)} rows < {LaggedCounterfactual().min_rows}"
