"""Counterfactual residuals from learned Granger causes, kept only where those causes forecast.

The lagged counterpart of :mod:`rca.causal.structural`, for systems whose causes act over more than
one sample. :class:`LaggedCounterfactual` fits a component-wise group-lasso Granger model
(:class:`rca.causal.group_lasso.GroupLassoGranger`) on the first ``train`` share of normal history and
one with each series' own lags only, and measures on the rest how much each series' learned causes
cut its one-step forecast error (:func:`out_of_sample_gain`) and whether that cut is more than chance
(:func:`diebold_mariano`, Bonferroni-corrected for the number of series tested). Only series whose
causes gain more than ``min_gain``, significantly, keep them: where no cause forecasts anything out of
sample, as on nearly every series of the real datasets measured (``bench/granger_gain.py``), nothing
changes.

For each kept series the counterfactual is what it would have done had only its causes changed
(:func:`counterfactual_run`): run forward from the window's first rows on its causes' *observed*
past and its *own counterfactual* past. A one-step forecast reads the series' own last value, so it
follows the series' own shift after one step and leaves only its onset in the residual; run forward,
the series' own shift stays in its residual while the part its causes pushed into it does not. The
residual replaces the series for scoring, as CIRCA's regression-based hypothesis test scores the
part of a change its parents do not explain.

References
----------
Li, Chen, Lin, Zhang, Dong, Li, Zhao, Liu, Pei. "Causal Inference-Based Root Cause Analysis for Online
Service Systems with Intervention Recognition" (CIRCA), KDD 2022.
Tank, Covert, Foti, Shojaie, Fox. "Neural Granger Causality", IEEE TPAMI 2021.
Granger. "Investigating causal relations by econometric models and cross-spectral methods",
Econometrica 1969 (causality as out-of-sample predictive gain).
Diebold, Mariano. "Comparing Predictive Accuracy", Journal of Business & Economic Statistics 1995.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from scipy.stats import norm

OWN_PAST_ONLY = (1e6,)
"""A group-lasso penalty no cross-series group survives: each series forecast from its own lags alone."""


def out_of_sample_gain(errors: np.ndarray, own_errors: np.ndarray) -> np.ndarray:
    """Granger gain per series: ``1 - MSE(causes and own past) / MSE(own past)`` on held-out rows.

    Parameters
    ----------
    errors, own_errors
        ``(T, N)`` one-step forecast errors on rows neither model was fitted on, of the model with
        causes and of the model with each series' own lags only (NaN: missing).

    Returns
    -------
    ``(N,)``: 0 where the causes add nothing, negative where they mislead; 0 for a series whose own
    past forecasts it exactly (nothing is left to gain).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # series missing on every held-out row
        mse = np.nanmean(np.asarray(errors, dtype=float) ** 2, axis=0)
        own = np.nanmean(np.asarray(own_errors, dtype=float) ** 2, axis=0)
    varies = np.nan_to_num(own) > 1e-9
    return np.where(varies, 1.0 - np.nan_to_num(mse) / np.where(varies, own, 1.0), 0.0)


def diebold_mariano(errors: np.ndarray, own_errors: np.ndarray) -> np.ndarray:
    """Diebold and Mariano's statistic per series: how many standard errors the causes cut the squared error by.

    The mean over held-out rows of ``own_errors ** 2 - errors ** 2`` divided by its standard error (one-step
    forecasts: no autocorrelation correction). Asymptotically standard normal when the causes forecast no
    better than the series' own past; large and positive when they forecast better.

    Parameters
    ----------
    errors, own_errors
        As for :func:`out_of_sample_gain` (NaN: missing, skipped).
    """
    loss = np.asarray(own_errors, dtype=float) ** 2 - np.asarray(errors, dtype=float) ** 2
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # series missing on (nearly) every held-out row
        rows = np.isfinite(loss).sum(axis=0)
        mean = np.nanmean(loss, axis=0)
        spread = np.nanstd(loss, axis=0, ddof=1) / np.sqrt(rows)
        z = np.where(spread > 0, mean / spread, 0.0)
    return np.asarray(np.nan_to_num(z), dtype=float)


def counterfactual_run(
    coef: np.ndarray, intercept: np.ndarray, values: np.ndarray, targets: np.ndarray | None = None
) -> np.ndarray:
    """Each series run forward on its causes' observed past and its own counterfactual past.

    ``hat_j(t) = b_j + sum_l own_jl hat_j(t - l) + sum_{i != j} sum_l w_jil x_i(t - l)``, started from the
    observed first ``lags`` rows: what series ``j`` would have done had only its causes moved.

    Parameters
    ----------
    coef
        ``(N, N, lags)``: ``coef[j, i, l]`` weighs ``x_i(t - lags + l)`` in ``x_j(t)`` (as
        :attr:`rca.causal.group_lasso.GroupLassoGranger.coef_`).
    intercept
        ``(N,)``.
    values
        ``(T, N)`` observed, in the units the model was fitted in (NaN: missing, read as 0, the centre).
    targets
        The series to run (all when ``None``).

    Returns
    -------
    ``(T, len(targets))``: the counterfactual of each target (its first ``lags`` rows are the observed ones).
    """
    observed = np.nan_to_num(np.asarray(values, dtype=float))
    t_len, n = observed.shape
    lags = coef.shape[-1]
    targets = np.arange(n) if targets is None else np.asarray(targets, dtype=int)
    own = coef[targets, targets]  # (K, lags)
    cross = coef[targets].copy()
    cross[np.arange(len(targets)), targets] = 0.0
    hat: np.ndarray = observed[:, targets].copy()
    if t_len <= lags:
        return hat
    windows = np.lib.stride_tricks.sliding_window_view(observed, lags, axis=0)[:-1]  # (T - lags, N, lags)
    # the causes' part is known up front: one matrix product
    driven = windows.reshape(t_len - lags, -1) @ cross.reshape(len(targets), -1).T + intercept[targets]
    for t in range(lags, t_len):
        step = driven[t - lags].copy()
        for lag in range(lags):
            step += own[:, lag] * hat[t - lags + lag]
        hat[t] = step
    return hat


@dataclass
class LaggedCounterfactual:
    """Learned Granger causes, kept per series where they forecast out of sample; see the module docstring.

    Parameters
    ----------
    lags
        Granger lag window (steps).
    train
        Share of the history the models are fitted on; the rest measures the gain.
    min_gain, significance
        A series keeps its causes when they cut its held-out one-step error by more than ``min_gain``
        (a share) and the cut is significant at level ``significance`` over all the series tested (one-sided
        Diebold-Mariano test, Bonferroni-corrected): a system of hundreds of series otherwise lets a few
        through by chance.
    alphas, iterations
        The group lasso's penalty path, halving from 2 units, and FISTA iterations per penalty
        (:class:`rca.causal.group_lasso.GroupLassoGranger`; its own path of 9 penalties kept one more
        synthetic case of 64 and cost 4/5 more).
    device, threads
        Torch device of the fit (``"auto"``: the GPU when there is one) and CPU threads; torch's
        process-wide settings come back as they were.

    Attributes
    ----------
    coef_, intercept_
        The group-lasso model's weights (:class:`rca.causal.group_lasso.GroupLassoGranger`).
    gain_
        ``(N,)``: each series' out-of-sample gain (:func:`out_of_sample_gain`).
    targets_
        Indices of the series whose causes are kept (at least one cause, a significant gain above ``min_gain``).
    """

    lags: int = 3
    train: float = 0.75
    min_gain: float = 0.05
    significance: float = 0.05
    alphas: tuple[float, ...] = (2.0, 1.0, 0.5, 0.25, 0.12)
    iterations: int = 100
    device: str = "cpu"
    threads: int = 2

    def __post_init__(self) -> None:
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self.gain_: np.ndarray | None = None
        self.targets_: np.ndarray = np.zeros(0, dtype=int)

    @property
    def min_rows(self) -> int:
        """History rows :meth:`fit` needs: at least ``lags + 2`` on each side of the ``train`` split."""
        return max(int(np.ceil((self.lags + 2) / min(self.train, 1.0 - self.train))), 2 * (self.lags + 2))

    def fit(self, values: np.ndarray) -> Self:
        """Fit on standardised normal history ``(T, N)`` (NaN: missing) of at least :attr:`min_rows` rows."""
        from rca.causal.group_lasso import GroupLassoGranger  # torch: the ``ml`` extra
        from rca.causal.neural_granger import torch_device, torch_settings

        values = np.asarray(values, dtype=float)
        split = int(len(values) * self.train)
        if split < self.lags + 2 or len(values) - split < self.lags + 2:
            raise ValueError(f"need at least {self.min_rows} rows to fit and measure, got {len(values)}")
        device = str(torch_device(self.device))
        with torch_settings(self.threads, seed=0):
            model = GroupLassoGranger(lags=self.lags, alphas=self.alphas, iterations=self.iterations, device=device)
            model.fit(values[:split])
            # own lags start at their least-squares fit and no other group survives: one step is the fit
            own = GroupLassoGranger(lags=self.lags, alphas=OWN_PAST_ONLY, iterations=1, device=device)
            own.fit(values[:split])
        held_out = values[split - self.lags :]
        errors, own_errors = model.residuals_raw(held_out), own.residuals_raw(held_out)
        self.gain_ = out_of_sample_gain(errors, own_errors)
        significant = diebold_mariano(errors, own_errors) > norm.ppf(1.0 - self.significance / max(values.shape[1], 1))
        caused = (model.granger_matrix() > 0).any(axis=0)
        self.targets_ = np.flatnonzero(caused & significant & (self.gain_ > self.min_gain))
        assert model.coef_ is not None and model.intercept_ is not None
        self.coef_, self.intercept_ = model.coef_, model.intercept_
        return self

    def causes(self) -> dict[int, list[int]]:
        """Kept series -> indices of their learned causes."""
        coef = self._require_fitted()
        weights = np.linalg.norm(coef[self.targets_], axis=-1)  # (kept effect, cause)
        kept = zip(self.targets_.tolist(), weights, strict=True)
        return {j: [int(i) for i in np.flatnonzero(row) if i != j] for j, row in kept}

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """``values`` with each kept series replaced by itself minus its counterfactual (:func:`counterfactual_run`).

        The first ``lags`` rows of a kept series become missing; other series are returned as they are.
        """
        coef = self._require_fitted()
        assert self.intercept_ is not None
        values = np.asarray(values, dtype=float)
        out = values.copy()
        if not self.targets_.size:
            return out
        hat = counterfactual_run(coef, self.intercept_, values, self.targets_)
        out[:, self.targets_] = values[:, self.targets_] - hat
        out[: self.lags, self.targets_] = np.nan
        return out

    def state(self) -> dict[str, Any]:
        """The fitted state as plain JSON data (kept series' weights only)."""
        coef = self._require_fitted()
        assert self.intercept_ is not None and self.gain_ is not None
        return {
            "lags": self.lags,
            "n": int(coef.shape[0]),
            "gain": self.gain_.tolist(),
            "targets": self.targets_.tolist(),
            "intercept": self.intercept_.tolist(),
            "coef": {str(j): coef[j].tolist() for j in self.targets_},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LaggedCounterfactual:
        """The model :meth:`state` wrote (series that were not kept forecast from nothing: they are not used)."""
        model = cls(lags=int(state["lags"]))
        n = int(state["n"])
        coef = np.zeros((n, n, model.lags))
        for j, weights in state["coef"].items():
            coef[int(j)] = np.asarray(weights, dtype=float)
        model.coef_ = coef
        model.intercept_ = np.asarray(state["intercept"], dtype=float)
        model.gain_ = np.asarray(state["gain"], dtype=float)
        model.targets_ = np.asarray(state["targets"], dtype=int)
        return model

    def _require_fitted(self) -> np.ndarray:
        if self.coef_ is None:
            raise RuntimeError("LaggedCounterfactual is not fitted: call fit(values) first")
        return self.coef_


__all__ = ["OWN_PAST_ONLY", "LaggedCounterfactual", "counterfactual_run", "diebold_mariano", "out_of_sample_gain"]
