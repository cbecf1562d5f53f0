"""Granger causality by a component-wise group lasso, fitted by proximal gradient (all targets at once).

Each series ``j`` is forecast one step ahead from the last ``lags`` values of every series,

.. math::

    \\hat x_j(t) = b_j + \\sum_i \\sum_{l=1}^{L} W_{jil} x_i(t-l),

and the weights through which series ``i`` enters target ``j`` form one group ``W_{ji\\cdot}``,
penalised by its Euclidean norm (own lags are not penalised). The proximal step of that penalty
sets a whole group to exactly zero when it does not lower the forecast error enough, so the fitted
Granger matrix ``G[i, j] = ||W_{ji\\cdot}||`` is zero for every series that is not a cause of ``j``:
Tank et al.'s component-wise models with a group penalty on each target's input weights per source
series, optimised with proximal gradient steps (FISTA, step ``1 / Lipschitz`` of the squared error);
here the component networks are linear, which is what fits the 30-600 rows a case's history has
(the nonlinear heads of :class:`rca.causal.neural_granger.NeuralGranger` overfit there, see
``docs/method.md``). The penalty is set per target in units of the largest gradient a non-cause
shows by chance (its own-lag forecast's noise times ``sqrt(2 log(N) lags / rows)``: the universal
threshold of Donoho and Johnstone applied per group), so ``alpha`` is free of the data's scale and size.
How many of a target's candidate causes enter is chosen per target along a path of such penalties
(largest first, each fit warm-started from the last) by the extended Bayesian information criterion
of Chen and Chen, which charges a model of ``k`` causes for the ``C(N - 1, k)`` models of that size it
was picked from: one universal threshold is too strict where causes are weak (recall 0.13-0.46 on the
synthetic benchmark, docs/method.md), a fixed smaller one lets spurious causes in.

References
----------
Tank, Covert, Foti, Shojaie, Fox. "Neural Granger Causality", IEEE TPAMI 2021.
Beck, Teboulle. "A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse Problems",
SIAM J. Imaging Sciences 2009.
Yuan, Lin. "Model selection and estimation in regression with grouped variables", JRSS B 2006.
Chen, Chen. "Extended Bayesian information criteria for model selection with large model spaces",
Biometrika 2008.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import numpy as np
import torch


def lagged_design(values: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Lagged inputs ``(T - lags, N, lags)`` (lag 1 last; missing = 0) and targets ``(T - lags, N)`` (NaN kept)."""
    t_len = values.shape[0]
    index = np.arange(lags, t_len)[:, None] - np.arange(lags, 0, -1)
    inputs = np.nan_to_num(values[index].transpose(0, 2, 1), nan=0.0)
    return inputs, values[lags:]


def extended_bic(rss: np.ndarray, rows: np.ndarray, df: np.ndarray, k: np.ndarray, p: int, gamma: float) -> np.ndarray:
    """Chen and Chen's extended BIC of least-squares models: lower is better.

    ``rows * log(rss / rows) + df * log(rows) + 2 * gamma * log C(p, k)``: BIC plus the log of how many
    models with ``k`` of ``p`` candidate groups there are, weighted by ``gamma`` (0: plain BIC; 0.5,
    the usual choice when ``p`` is below ``rows``; 1: consistent as ``p`` grows like a power of ``rows``).

    Parameters
    ----------
    rss, rows, df, k
        Broadcastable arrays: residual sums of squares, rows fitted, parameters, groups selected.
    p
        Candidate groups.
    gamma
        Weight of the model-space term, in [0, 1].

    References
    ----------
    Chen, Chen. "Extended Bayesian information criteria for model selection with large model spaces",
    Biometrika 95(3), 2008.
    """
    k = np.asarray(k, dtype=float)
    log_models = math.lgamma(p + 1) - np.vectorize(math.lgamma)(k + 1) - np.vectorize(math.lgamma)(p - k + 1)
    rows = np.maximum(np.asarray(rows, dtype=float), 1.0)
    fit = rows * np.log(np.maximum(np.asarray(rss, dtype=float), 1e-12) / rows)
    return np.asarray(fit + np.asarray(df) * np.log(rows) + 2.0 * gamma * log_models, dtype=float)


def group_soft_threshold(weights: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """The group-lasso proximal operator: each group ``weights[j, i, :]`` shrunk in norm by ``threshold[j, i]``.

    Groups whose norm is at most the threshold become exactly zero (Parikh, Boyd, "Proximal Algorithms",
    2014, section 6.5.4).
    """
    norms = torch.linalg.vector_norm(weights, dim=-1, keepdim=True)
    return weights * torch.clamp(1.0 - threshold.unsqueeze(-1) / norms.clamp(min=1e-12), min=0.0)


@dataclass
class GroupLassoGranger:
    """Component-wise linear Granger model with a group lasso per (target, source); see the module docstring.

    Parameters
    ----------
    lags
        Granger lag window (steps).
    alphas
        The penalty path, in units of the largest gradient a non-cause's group shows by chance
        (``noise * sqrt(2 log(N) lags / rows)``, the noise of the target's own-lag forecast; 0: least
        squares); each target keeps the fit of lowest extended BIC (:func:`extended_bic`). One value:
        that penalty, no selection.
    gamma
        The extended BIC's weight on the number of models of each size (0.5, Chen and Chen's usual choice).
    iterations
        FISTA iterations per penalty of the path.
    device
        Torch device of the computation (``"cpu"``, ``"cuda"``, ...).

    Attributes
    ----------
    coef_
        ``(N, N, lags)``: ``coef_[j, i, l]`` weighs ``x_i(t - lags + l)`` in the forecast of ``x_j(t)``.
    intercept_
        ``(N,)``.
    residual_scale_
        ``(N,)``: standard deviation of the in-sample one-step errors (1 where it is 0).
    alpha_
        ``(N,)``: the penalty of ``alphas`` each target kept.
    """

    lags: int = 3
    alphas: tuple[float, ...] = (2.0, 1.4, 1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12)
    gamma: float = 0.5
    iterations: int = 100
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.alphas or min(self.alphas) < 0:
            raise ValueError(f"alphas must be one or more penalties >= 0, got {self.alphas}")
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self.residual_scale_: np.ndarray | None = None
        self.alpha_: np.ndarray | None = None

    def fit(self, values: np.ndarray) -> Self:
        """Fit on standardised ``values`` ``(T, N)`` (NaN = missing; a missing target skips its row for that target)."""
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[0] < self.lags + 2:
            raise ValueError(f"need a (rows, series) array with more than {self.lags + 1} rows, got {values.shape}")
        inputs, targets = lagged_design(values, self.lags)
        device = torch.device(self.device)
        x = torch.as_tensor(inputs, dtype=torch.float32, device=device)  # (S, N, L)
        y = torch.as_tensor(targets, dtype=torch.float32, device=device)  # (S, N)
        observed = torch.isfinite(y)
        weight = observed.to(x.dtype) / observed.sum(0).clamp(min=1)  # per-target mean over observed rows
        y = torch.nan_to_num(y)
        s, n, lags = x.shape
        flat = x.reshape(s, n * lags)
        x_mean = (weight.T @ flat).reshape(n, n, lags)  # (target, source, lag): each target's own row set
        y_mean = (weight * y).sum(0)

        def residual(coef: torch.Tensor) -> torch.Tensor:
            """Forecast minus target ``(S, N)``, each target centred on its observed rows (rubbish where missing)."""
            return flat @ coef.reshape(n, -1).T - (x_mean * coef).sum((1, 2)) - (y - y_mean)

        def gradient(coef: torch.Tensor) -> torch.Tensor:
            weighted = residual(coef) * weight
            return (weighted.T @ flat).reshape(n, n, lags) - weighted.sum(0)[:, None, None] * x_mean

        step = 1.0 / self._lipschitz(flat)
        off = 1.0 - torch.eye(n, dtype=x.dtype, device=device)
        # own lags first, by least squares (every other group at zero): the noise each target's causes must beat
        own = x - torch.diagonal(x_mean).T  # (S, N, L): each target's own lags, centred on its rows
        gram = torch.einsum("sjl,sjm,sj->jlm", own, own, weight) + 1e-6 * torch.eye(lags, dtype=x.dtype, device=device)
        moment = torch.einsum("sjl,sj->jl", own, (y - y_mean) * weight)
        coef = torch.zeros(n, n, lags, dtype=x.dtype, device=device)
        coef[torch.arange(n, device=device), torch.arange(n, device=device)] = torch.linalg.solve(gram, moment)
        noise = torch.sqrt((residual(coef) ** 2 * weight).sum(0))  # standard deviation of each target's errors
        rows = observed.sum(0).clamp(min=1)
        # a non-cause's gradient group has norm about noise * sqrt(lags / rows); the largest of N of them
        # about sqrt(2 log N) times that (the universal threshold of Donoho and Johnstone, per group)
        unit = step * noise * torch.sqrt(2.0 * math.log(max(n, 2)) * lags / rows)
        coef, self.alpha_ = self._path(gradient, residual, coef, step, unit[:, None] * off, observed)
        intercept = y_mean - (x_mean * coef).sum((1, 2))
        self.coef_ = coef.cpu().numpy()
        self.intercept_ = intercept.cpu().numpy()
        errors = self.residuals_raw(values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a series missing on every row has no spread
            spread = np.nanstd(errors, axis=0) if len(errors) else np.ones(n)
        self.residual_scale_ = np.where(np.nan_to_num(spread) > 0, np.nan_to_num(spread), 1.0)
        return self

    def _path(
        self,
        gradient: Callable[[torch.Tensor], torch.Tensor],
        residual: Callable[[torch.Tensor], torch.Tensor],
        coef: torch.Tensor,
        step: float,
        unit: torch.Tensor,
        observed: torch.Tensor,
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Fit along ``alphas`` (largest first, each from the last); per target the fit of lowest extended BIC."""
        n, _, lags = coef.shape
        rows = observed.sum(0).cpu().numpy()
        off = ~torch.eye(n, dtype=torch.bool, device=coef.device)
        best, best_alpha = coef, np.full(n, np.nan)
        best_score = np.full(n, np.inf)
        for alpha in sorted(self.alphas, reverse=True):
            coef = self._fista(gradient, coef, step, alpha * unit)
            if len(self.alphas) == 1:
                return coef, np.full(n, alpha)
            rss = (residual(coef) ** 2 * observed).sum(0).cpu().numpy()
            k = ((torch.linalg.vector_norm(coef, dim=-1) > 0) & off).sum(1).cpu().numpy()  # causes besides itself
            score = extended_bic(rss, rows, lags * (k + 1), k, n - 1, self.gamma)
            better = score < best_score
            best_score = np.where(better, score, best_score)
            best_alpha = np.where(better, alpha, best_alpha)
            keep = torch.as_tensor(better, device=coef.device)[:, None, None]
            best = torch.where(keep, coef, best)
        return best, best_alpha

    def _fista(
        self,
        gradient: Callable[[torch.Tensor], torch.Tensor],
        coef: torch.Tensor,
        step: float,
        threshold: torch.Tensor,
    ) -> torch.Tensor:
        """``iterations`` accelerated proximal gradient steps from ``coef`` (Beck and Teboulle's FISTA)."""
        momentum, t = coef, 1.0
        for _ in range(self.iterations):
            updated = group_soft_threshold(momentum - step * gradient(momentum), threshold)
            t_next = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
            momentum = updated + ((t - 1.0) / t_next) * (updated - coef)
            coef, t = updated, t_next
        return coef

    @staticmethod
    def _lipschitz(flat: torch.Tensor) -> float:
        """Largest eigenvalue of ``flat^T flat / S`` by power iteration (about the gradient's Lipschitz constant)."""
        vector = torch.ones(flat.shape[1], dtype=flat.dtype, device=flat.device)
        value = 1.0
        for _ in range(30):
            product = flat.T @ (flat @ vector) / flat.shape[0]
            value = float(torch.linalg.vector_norm(product))
            if value == 0:
                return 1.0
            vector = product / value
        return 1.05 * value  # power iteration approaches from below

    def predict(self, values: np.ndarray) -> np.ndarray:
        """One-step forecasts ``(T - lags, N)`` from observed ``values`` ``(T, N)`` (row ``k``: row ``k + lags``)."""
        coef, intercept = self._require_fitted()
        inputs, _ = lagged_design(np.asarray(values, dtype=float), self.lags)
        flat = inputs.reshape(len(inputs), -1)  # one matrix product: einsum would loop in C without BLAS
        return np.asarray(flat @ coef.reshape(len(coef), -1).T + intercept, dtype=float)

    def residuals_raw(self, values: np.ndarray) -> np.ndarray:
        """Observed minus forecast, ``(T - lags, N)`` (NaN where the value is missing)."""
        return np.asarray(np.asarray(values, dtype=float)[self.lags :] - self.predict(values), dtype=float)

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """One-step forecast errors ``(T - lags, N)`` in units of the in-sample errors' standard deviation."""
        self._require_fitted()
        assert self.residual_scale_ is not None
        return np.asarray(self.residuals_raw(values) / self.residual_scale_, dtype=float)

    def granger_matrix(self) -> np.ndarray:
        """``G[i, j] = ||coef_[j, i, :]||``: the weight of cause ``i`` on effect ``j`` (0: not a cause); 0 diagonal."""
        coef, _ = self._require_fitted()
        matrix = np.linalg.norm(coef, axis=-1).T
        np.fill_diagonal(matrix, 0.0)
        return np.asarray(matrix, dtype=float)

    def _require_fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.coef_ is None or self.intercept_ is None:
            raise RuntimeError("GroupLassoGranger is not fitted: call fit(values) first")
        return self.coef_, self.intercept_


__all__ = ["GroupLassoGranger", "extended_bic", "group_soft_threshold", "lagged_design"]
