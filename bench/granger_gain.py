"""How much a series' causes add to its forecast: out-of-sample Granger gain per dataset.

The counterfactual attribution of ``rca.causal.rht`` can only tell a cause from an effect where the
learned causes forecast a series better than its own past does. Per case this fits two models of
:class:`~rca.causal.group_lasso.GroupLassoGranger` on the first ``--train`` share of the fault-free
rows a learning method fits on (``rca eval``'s fit data; with ``--history`` the case's longer
history where it has one), robustly standardised: the default one (every series may enter every
target, penalty path chosen by extended BIC) and one with own lags only. On the remaining rows it
compares their one-step errors: a series' *gain* is ``1 - MSE(causes and own past) / MSE(own past)``
(0: its causes add nothing; negative: they mislead). The table gives, per dataset, the median over
cases of the median series' gain, the share of series with a gain above 0.05, and the learned
causes per series.

Reproduce (from the project root; ``--synthetic`` adds the rows of ``bench/synthetic.py`` at seed 0,
``--service-map N`` N systems of ``bench/service_map.py``'s simulator at seed 0)::

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python bench/granger_gain.py ../shared/data/sock-shop-rcd \\
        ../shared/data/nezha-train-ticket --history --cases 12 --synthetic 8 --service-map 12
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_map_cases import make_case as make_service_map
from synthetic_cases import make_case as make_synthetic

from rca.anomaly.scores import robust_scale
from rca.causal.group_lasso import GroupLassoGranger
from rca.causal.lagged import OWN_PAST_ONLY, LaggedCounterfactual, out_of_sample_gain
from rca.data.case import Case
from rca.data.datasets import load_cases
from rca.eval.runner import fit_data

GAINING = LaggedCounterfactual().min_gain
"""A series whose causes cut its one-step error by more than this share counts as gaining (and ``run``
keeps its causes for counterfactual residuals)."""


def series_gains(values: np.ndarray, *, train: float, lags: int = 3) -> tuple[np.ndarray, float]:
    """Out-of-sample gain of each series (NaN where it does not vary) and learned causes per series."""
    split = int(len(values) * train)
    center, scale = robust_scale(values[:split])
    z = np.nan_to_num(np.clip((values - center) / scale, -10, 10))
    full = GroupLassoGranger(lags=lags).fit(z[:split])
    own = GroupLassoGranger(lags=lags, alphas=OWN_PAST_ONLY).fit(z[:split])
    held_out = z[split - lags :]
    own_errors = own.residuals_raw(held_out)
    varies = np.mean(own_errors**2, axis=0) > 1e-9
    gains = np.where(varies, out_of_sample_gain(full.residuals_raw(held_out), own_errors), np.nan)
    return gains, float((full.granger_matrix() > 0).sum(0).mean())


def summarise(name: str, cases: Iterable[tuple[str, np.ndarray]], *, train: float) -> str:
    """One table row: cases, rows fitted, median case gain, share of gaining series, causes per series."""
    medians, shares, causes, rows = [], [], [], []
    for label, values in cases:
        gains, per_series = series_gains(values, train=train)
        finite = gains[np.isfinite(gains)]
        if not finite.size:
            continue
        medians.append(float(np.median(finite)))
        shares.append(float(np.mean(finite > GAINING)))
        causes.append(per_series)
        rows.append(len(values))
        print(f"  {label}: {len(values)} rows x {values.shape[1]} series, median gain {medians[-1]:.3f}", flush=True)
    if not medians:
        return f"| {name} | 0 | | | | |"
    return (
        f"| {name} | {len(medians)} | {int(np.median(rows))} | {np.median(medians):.3f} "
        f"({min(medians):.3f} to {max(medians):.3f}) | {np.median(shares):.2f} | {np.median(causes):.2f} |"
    )


def dataset_cases(
    path: str, *, history: bool, limit: int, min_rows: int, seen: list[bool]
) -> Iterable[tuple[str, np.ndarray]]:
    """The fit data of up to ``limit`` cases of a dataset with at least ``min_rows`` rows (``seen``: whether
    each had a history to add)."""
    taken = 0
    for case in load_cases(path):
        data = fit_data(case, history=history)
        seen.append(history and case.history is not None)
        if len(data.frame) < min_rows:
            continue
        yield case.name, data.frame.to_numpy(dtype=float)
        taken += 1
        if taken >= limit:
            return


def synthetic_cases(n: int, rows: int, cycles: int, count: int) -> Iterable[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    for index in range(count):
        case = make_synthetic(index, n, rows, rng, cycles=cycles).case
        yield case.name, _before(case)


def service_map_cases(count: int) -> Iterable[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    for index in range(count):
        case = make_service_map(index, rng)
        yield case.name, _before(case)


def _before(case: Case) -> np.ndarray:
    frame = case.frame
    return frame.loc[frame.index < case.inject_time].to_numpy(dtype=float)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="*")
    parser.add_argument("--history", action="store_true", help="fit on each case's fault-free history too")
    parser.add_argument("--cases", type=int, default=12, help="cases per dataset")
    parser.add_argument("--min-rows", type=int, default=60, help="skip cases with fewer fit rows")
    parser.add_argument("--train", type=float, default=0.75, help="share of the rows fitted on (the rest scores)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N", help="N cases per synthetic row")
    parser.add_argument("--service-map", type=int, default=0, metavar="N", help="N simulated service-map cases")
    args = parser.parse_args(argv)
    lines = [
        "| data | cases | rows (median) | median series' gain, median case (range) | share of series gaining > 0.05 "
        "| learned causes per series |",
        "|---|---|---|---|---|---|",
    ]
    for path in args.datasets:
        histories: list[bool] = []
        cases = dataset_cases(path, history=args.history, limit=args.cases, min_rows=args.min_rows, seen=histories)
        row = summarise(Path(path).name, cases, train=args.train)
        lines.append(row.replace(" |", " (with history) |", 1) if any(histories) else row)
    if args.service_map:
        lines.append(summarise("service-map simulator", service_map_cases(args.service_map), train=args.train))
    for n, rows in ((20, 120), (50, 300)):
        for cycles in (0, 3):
            if args.synthetic:
                shape = "DAG" if cycles == 0 else f"{cycles} cycles"
                cases = synthetic_cases(n, rows, cycles, args.synthetic)
                lines.append(summarise(f"synthetic {n}x{rows} {shape}", cases, train=args.train))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
