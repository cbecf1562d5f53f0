"""Counterfactual attribution on a real dataset: does the synthetic benchmark's winner carry over?

Per case, a :class:`~rca.causal.group_lasso.GroupLassoGranger` is fitted on the robustly standardised
rows before the anomaly time, and every series is scored by
:func:`rca.causal.rht.regression_hypothesis_test` over the model's one-step residuals (``rht``), then
with :func:`rca.causal.rht.descendant_adjustment` over its graph (``rht+da``); ``level`` regresses each
series' level on its learned causes' levels at the same step, as CIRCA does (least squares, no own
past; a series without causes is scored by its shift; rises only), ``level+da`` adjusts that. A
service takes its best series; AC@1 is the share of cases whose root-cause service comes first (ties
are not broken in its favour).

Reproduce (from the project root)::

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python bench/attribution.py ../shared/data/sock-shop-rcd
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from rca.anomaly.scores import robust_scale
from rca.causal.group_lasso import GroupLassoGranger
from rca.causal.rht import descendant_adjustment, granger_edges, regression_hypothesis_test
from rca.data.datasets import load_cases


def level_residuals(z: np.ndarray, before: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Each series minus its least-squares fit on its causes' values at the same step, in baseline sds."""
    out = np.zeros_like(z)
    for j in range(z.shape[1]):
        parents = np.nonzero(matrix[:, j] > 0)[0]
        design = np.column_stack([z[:, parents], np.ones(len(z))])
        coef, *_ = np.linalg.lstsq(design[before], z[before, j], rcond=None)
        residual = z[:, j] - design @ coef
        out[:, j] = residual / (residual[before].std() or 1.0)
    return out


def first(scores: np.ndarray, services: Sequence[str], truth: str) -> bool:
    best: dict[str, float] = {}
    for service, value in zip(services, np.nan_to_num(scores).tolist(), strict=True):
        best[service] = max(best.get(service, -np.inf), value)
    top = max(best.values())
    return bool(best.get(truth) == top and sum(v == top for v in best.values()) == 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    args = parser.parse_args(argv)
    wins = {"rht": 0, "rht+da": 0, "level": 0, "level+da": 0}
    cases = 0
    for case in load_cases(args.dataset):
        before = case.frame.index.to_numpy() < case.inject_time
        if before.sum() < 10 or case.root_cause is None:
            continue
        values = case.frame.to_numpy(dtype=float)
        center, scale = robust_scale(values[before])
        z = np.nan_to_num(np.clip((values - center) / scale, -10, 10))
        columns = [str(c) for c in case.frame.columns]
        services = [case.telemetry.series[c][0] for c in columns]
        model = GroupLassoGranger(lags=3).fit(z[before])
        graph = granger_edges(model.granger_matrix(), columns)
        residuals = model.residuals(z)
        rht = regression_hypothesis_test(residuals, np.arange(len(residuals)) >= before.sum() - model.lags)
        level = level_residuals(z, before, model.granger_matrix())
        rises = np.where(level[~before].mean(0) > 0, regression_hypothesis_test(level, ~before), 0.0)
        for name, scores in (("rht", rht), ("level", rises)):
            adjusted = descendant_adjustment(dict(zip(columns, scores.tolist(), strict=True)), graph)
            wins[name] += first(scores, services, case.root_cause.service)
            wins[f"{name}+da"] += first(np.array([adjusted[c] for c in columns]), services, case.root_cause.service)
        cases += 1
    print(f"{args.dataset}: {cases} cases; AC@1 " + ", ".join(f"{k} {v / max(cases, 1):.2f}" for k, v in wins.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
