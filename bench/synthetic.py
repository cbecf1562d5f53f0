"""Synthetic causal benchmark: does the learned graph find the cause where magnitude ranking cannot?

The cases (``bench/synthetic_cases.py``) are random sparse causal graphs over ``N`` series with linear
lagged dynamics, as in CIRCA's simulation study: a fault at one node whose own change is small while
its effects amplify it, so magnitude rankers (BARO) name an effect and a method that knows the graph
can walk back to the cause.

Per size it reports the precision and recall of the graph :class:`~rca.causal.neural_granger.NeuralGranger`
learns inside ``run`` (the edges ``run`` uses: :func:`rca.causal.graph.granger_digraph` at the method's
``edge_threshold``; ``precision@#edges``: of the strongest weights, as many as there are true edges),
and AC@1 (top-1 service = the faulty node) of:

- ``baro``;
- ``run``: its defaults, fitted on the rows before the fault (no call graph, so the learned graph,
  with the counterfactual residuals of the series whose learned Granger causes forecast held-out
  rows, :class:`rca.causal.lagged.LaggedCounterfactual`);
- ``run, no learned causes``: the same fitted model ranking with ``lagged=False`` (so the same
  forecaster and walk); ``learned causes: wins / losses``: the cases ``run`` puts first and this does
  not, and the reverse; ``series with learned causes``: their median number per case;
- ``run, no graph``: anomaly scores alone (``pagerank=False``, no forecaster);
- ``run, random graph``: the true graph's edges rewired by degree-preserving swaps;
- ``run, no levels``: the same fitted model scoring each series by its peaks alone
  (``scoring="exceedance"``, not ``"levels"``: :func:`rca.anomaly.scores.level_exceedance`);
  ``levels: wins / losses`` as for the learned causes;
- ``run, true causes``: the same fitted model ranking with its learned causes replaced by the true
  parents of every node that has any, weighted by least squares on the rows before the fault
  (:func:`true_causes`): the ceiling of the learned causes;
- ``run, true graph``: the true edges given as the call graph (``graph="call"``, without a fit): they
  enter the walk only, since these series carry no request, error or latency kind for the call-graph
  counterfactual;
- ``RHT, no / learned / true graph``: a reference scorer that uses the graph the way CIRCA does
  (:func:`regression_hypothesis_scores`: least squares on each node's parents, then
  :func:`rca.causal.rht.regression_hypothesis_test`), over no edges, the edges ``run`` learned, and
  the true ones;
- ``RHT, neural Granger``: the same test with ``run``'s fitted neural Granger forecaster as the
  regressor (its one-step residuals);
- ``RHT+DA, true graph``: the true-graph scores with CIRCA's descendant adjustment over the true
  graph (:func:`rca.causal.rht.descendant_adjustment`);
- ``RHT, group lasso`` and ``RHT+DA, group lasso``: with :class:`rca.causal.group_lasso.GroupLassoGranger`
  (its penalty chosen per target by extended BIC) fitted on the rows before the fault as the
  regressor, without and with the descendant adjustment over its graph; ``lasso precision/recall``:
  its non-zero groups against the true edges.

The known graphs enter ``run`` as a case's call graph: a call ``caller -> callee`` is read as the
edge ``callee -> caller`` (:func:`rca.causal.graph.call_digraph`), and with one series per service
this is exactly the node-level edge.

Reproduce (from the project root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/synthetic.py --sizes 20x120 50x300 --cases 8 --seed 0 --cycles 3

Writes a markdown table to stdout, to ``bench/results/synthetic.md`` and to the ``synthetic`` block of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Collection
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import commit, machine, replace_block
from synthetic_cases import SyntheticCase, degree_preserving, make_case, with_graph

from rca.anomaly.scores import robust_scale
from rca.causal.graph import granger_digraph
from rca.causal.group_lasso import GroupLassoGranger, lagged_design
from rca.causal.lagged import LaggedCounterfactual
from rca.causal.rht import descendant_adjustment, granger_edges, regression_hypothesis_test
from rca.data.case import Case
from rca.eval.metrics import service_rank
from rca.methods import get_method
from rca.methods.base import RCAMethod


def top1(method: RCAMethod, case: Case, fit_on: Case) -> bool:
    """Whether ``method``, fitted on the rows before the fault, names the faulty service first."""
    if method.learns:
        method.fit(fit_on.normal())
    assert case.root_cause is not None
    return service_rank(method.rank(case), case.root_cause.service) == 1


def edge_scores(learned: set[tuple[int, int]], true: set[tuple[int, int]]) -> tuple[float, float]:
    """Precision and recall of ``learned`` edges against ``true`` ones."""
    hits = len(learned & true)
    return (hits / len(learned) if learned else 0.0, hits / len(true) if true else 0.0)


def lagged_least_squares(
    values: np.ndarray, rows: int, edges: Collection[tuple[int, int]], lags: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Each node regressed by least squares on its own and its parents' last ``lags`` values (``edges``:
    ``(cause, effect)`` pairs).

    Fitted on the first ``rows`` rows of ``values`` ``(T, N)`` (a missing target skips its row; missing
    inputs read as 0). Returns ``coef`` ``(N, N, lags)`` and ``intercept`` ``(N,)`` laid out as
    :attr:`rca.causal.group_lasso.GroupLassoGranger.coef_` (zero for every input that is not a regressor).
    """
    inputs, targets = lagged_design(values[:rows], lags)
    n = values.shape[1]
    coef, intercept = np.zeros((n, n, lags)), np.zeros(n)
    for j in range(n):
        regressors = sorted({j, *(i for i, effect in edges if effect == j)})
        observed = np.isfinite(targets[:, j])
        lagged = inputs[observed][:, regressors, :].reshape(int(observed.sum()), -1)
        design = np.column_stack([lagged, np.ones(len(lagged))])
        weights, *_ = np.linalg.lstsq(design, targets[observed, j], rcond=None)
        coef[j, regressors] = weights[:-1].reshape(len(regressors), lags)
        intercept[j] = weights[-1]
    return coef, intercept


def regression_hypothesis_scores(
    values: np.ndarray, rows: int, edges: set[tuple[int, int]], lags: int = 3
) -> np.ndarray:
    """CIRCA's regression-based hypothesis testing, linear, over given parents: a bench-only reference.

    Each node is regressed on its own and its parents' last ``lags`` values over the ``rows`` rows
    before the fault (:func:`lagged_least_squares`); the residuals, in units of their spread before the
    fault, go to :func:`rca.causal.rht.regression_hypothesis_test`. Reference: Li et al., KDD 2022.
    """
    coef, intercept = lagged_least_squares(values, rows, edges, lags)
    inputs, targets = lagged_design(values, lags)
    residuals = targets - (inputs.reshape(len(inputs), -1) @ coef.reshape(len(coef), -1).T + intercept)
    spread = residuals[: rows - lags].std(axis=0)
    residuals = residuals / np.where(spread > 0, spread, 1.0)
    return regression_hypothesis_test(residuals, np.arange(len(residuals)) >= rows - lags)


def first(scores: np.ndarray, sc: SyntheticCase) -> bool:
    """Whether the faulty node has the highest score."""
    assert sc.case.root_cause is not None
    faulty = sc.names.index(sc.case.root_cause.service)
    return bool(scores[faulty] > np.delete(scores, faulty).max())


def rows_before(sc: SyntheticCase) -> int:
    return int(np.sum(sc.case.frame.index.to_numpy() < sc.case.inject_time))


def nodes(n: int) -> list[str]:
    """Node names ``"0"`` .. ``"n-1"`` for the graph functions, which name nodes by strings."""
    return [str(i) for i in range(n)]


def adjusted(scores: np.ndarray, graph: nx.DiGraph) -> np.ndarray:
    """``scores`` after :func:`rca.causal.rht.descendant_adjustment` over ``graph`` (nodes :func:`nodes`)."""
    out = descendant_adjustment(dict(zip(nodes(len(scores)), scores.tolist(), strict=True)), graph)
    return np.array([out[i] for i in nodes(len(scores))])


def rht_top1(sc: SyntheticCase, edges: set[tuple[int, int]], *, adjust: bool = False) -> bool:
    """Whether RHT over ``edges`` (with the descendant adjustment over them if ``adjust``) puts the fault first."""
    scores = regression_hypothesis_scores(sc.case.frame.to_numpy(), rows_before(sc), edges)
    if adjust:
        graph = nx.DiGraph([(str(i), str(j)) for i, j in sorted(edges)])
        graph.add_nodes_from(nodes(len(scores)))
        scores = adjusted(scores, graph)
    return first(scores, sc)


def lasso_rht(sc: SyntheticCase, lags: int = 3) -> tuple[bool, bool, set[tuple[int, int]]]:
    """RHT with a group-lasso Granger model as the regressor, without and with descendant adjustment; its edges."""
    values, rows = sc.case.frame.to_numpy(), rows_before(sc)
    center, scale = robust_scale(values[:rows])
    z = (values - center) / scale
    model = GroupLassoGranger(lags=lags).fit(z[:rows])
    residuals = model.residuals(z)
    scores = regression_hypothesis_test(residuals, np.arange(len(residuals)) >= rows - lags)
    matrix = model.granger_matrix()
    graph = granger_edges(matrix, nodes(len(scores)))
    learned = {(int(i), int(j)) for i, j in zip(*np.nonzero(matrix > 0), strict=True)}
    return first(scores, sc), first(adjusted(scores, graph), sc), learned


def true_causes(method: RCAMethod, sc: SyntheticCase) -> LaggedCounterfactual:
    """The lagged counterfactual over the true parents of every node that has any, weighted by least
    squares (:func:`lagged_least_squares`) on ``run``'s standardised rows before the fault."""
    model = method.model_  # type: ignore[attr-defined]
    lags = LaggedCounterfactual().lags
    history = method._standardise(model, sc.case.normal().frame.to_numpy(dtype=float))  # type: ignore[attr-defined]
    coef, intercept = lagged_least_squares(history, len(history), sc.edges, lags)
    caused = sorted({j for _, j in sc.edges})
    state = {
        "lags": lags, "n": history.shape[1], "gain": np.zeros(history.shape[1]).tolist(), "targets": caused,
        "intercept": intercept.tolist(), "coef": {str(j): coef[j].tolist() for j in caused},
    }  # fmt: skip
    return LaggedCounterfactual.from_state(state)


def neural_rht(sc: SyntheticCase, method: RCAMethod) -> bool:
    """RHT with ``run``'s fitted neural Granger forecaster as the regressor (its standardised residuals)."""
    model = method.model_  # type: ignore[attr-defined]
    values, rows = sc.case.frame.to_numpy(), rows_before(sc)
    residuals = model.granger.residuals(method._standardise(model, values))  # type: ignore[attr-defined]
    after = np.arange(len(residuals)) >= rows - model.granger.lags
    return first(regression_hypothesis_test(residuals, after), sc)


VARIANTS = (
    "baro",
    "run",
    "run, no learned causes",
    "run, no levels",
    "run, true causes",
    "run, no graph",
    "run, random graph",
    "run, true graph",
    "RHT, no graph",
    "RHT, learned graph",
    "RHT, true graph",
    "RHT+DA, true graph",
    "RHT, neural Granger",
    "RHT, group lasso",
    "RHT+DA, group lasso",
)


def run_size(n: int, rows: int, cases: int, seed: int, cycles: int) -> dict[str, float | str]:
    """AC@1 of each variant and the learned graph's edge precision/recall over ``cases`` cases."""
    rng = np.random.default_rng([seed, n, rows, cycles])
    wins = dict.fromkeys(VARIANTS, 0)
    precision, recall, precision_k, lasso_precision, lasso_recall = [], [], [], [], []
    fit_seconds, kept = [], []
    learned_wins = learned_losses = levels_wins = levels_losses = 0
    for k in range(cases):
        sc = make_case(k, n, rows, rng, cycles=cycles)
        true = set(sc.edges)
        wins["baro"] += top1(get_method("baro"), sc.case, sc.case)
        full = get_method("run", threads=1)
        started = time.perf_counter()
        with_causes = top1(full, sc.case, sc.case)
        fit_seconds.append(time.perf_counter() - started)
        assert sc.case.root_cause is not None and full.model_ is not None  # type: ignore[attr-defined]
        full.scoring = "exceedance"  # type: ignore[attr-defined]
        peaks = service_rank(full.rank(sc.case), sc.case.root_cause.service) == 1
        full.scoring = "levels"  # type: ignore[attr-defined]
        wins["run, no levels"] += peaks
        levels_wins += with_causes and not peaks
        levels_losses += peaks and not with_causes
        learned_causes = full.model_.lagged  # type: ignore[attr-defined]
        full.model_.lagged = true_causes(full, sc)  # type: ignore[attr-defined]
        wins["run, true causes"] += service_rank(full.rank(sc.case), sc.case.root_cause.service) == 1
        full.model_.lagged = learned_causes  # type: ignore[attr-defined]
        full.lagged = False  # type: ignore[attr-defined]  # the same fitted model, ranked without them
        without = service_rank(full.rank(sc.case), sc.case.root_cause.service) == 1
        wins["run"] += with_causes
        wins["run, no learned causes"] += without
        learned_wins += with_causes and not without
        learned_losses += without and not with_causes
        kept.append(full.fit_report().get("lagged_series", 0))
        granger = full.model_.granger if full.model_ is not None else None  # type: ignore[attr-defined]
        if granger is not None:
            matrix = granger.granger_matrix()
            learned = granger_digraph(matrix, nodes(n), threshold=full.edge_threshold)  # type: ignore[attr-defined]
            p, r = edge_scores({(int(a), int(b)) for a, b in learned.edges}, true)
            precision.append(p)
            recall.append(r)
            strongest = np.argsort(matrix, axis=None)[::-1][: len(true)]
            top = {(int(i), int(j)) for i, j in zip(*np.unravel_index(strongest, matrix.shape), strict=True)}
            precision_k.append(edge_scores(top, true)[0])
            wins["RHT, learned graph"] += rht_top1(sc, {(int(a), int(b)) for a, b in learned.edges})
            wins["RHT, neural Granger"] += neural_rht(sc, full)
        plain, adjusted, lasso_edges = lasso_rht(sc)
        wins["RHT, group lasso"] += plain
        wins["RHT+DA, group lasso"] += adjusted
        p, r = edge_scores(lasso_edges, true)
        lasso_precision.append(p)
        lasso_recall.append(r)
        wins["RHT, no graph"] += rht_top1(sc, set())
        wins["RHT, true graph"] += rht_top1(sc, true)
        wins["RHT+DA, true graph"] += rht_top1(sc, true, adjust=True)
        no_fit = {"min_fit_rows": 10**9, "threads": 1}
        wins["run, no graph"] += top1(get_method("run", pagerank=False, graph="call", **no_fit), sc.case, sc.case)
        rewired = with_graph(sc, degree_preserving(sc.edges, n, rng))
        wins["run, random graph"] += top1(get_method("run", graph="call", **no_fit), rewired, rewired)
        given = with_graph(sc, sc.edges)
        wins["run, true graph"] += top1(get_method("run", graph="call", **no_fit), given, given)
    row: dict[str, float | str] = {name: wins[name] / cases for name in VARIANTS}
    row["edge precision"] = float(np.mean(precision)) if precision else float("nan")
    row["edge recall"] = float(np.mean(recall)) if recall else float("nan")
    row["precision@#edges"] = float(np.mean(precision_k)) if precision_k else float("nan")
    row["lasso precision"] = float(np.mean(lasso_precision))
    row["lasso recall"] = float(np.mean(lasso_recall))
    row["learned causes: wins / losses"] = f"{learned_wins} / {learned_losses}"
    row["levels: wins / losses"] = f"{levels_wins} / {levels_losses}"
    row["series with learned causes"] = float(np.median(kept))
    row["run seconds (fit+rank)"] = float(np.median(fit_seconds))
    return row


def fit_speed(n: int, rows: int, *, seed: int = 0, threads: int = 2) -> int:
    """Print CPU and wall seconds of ``run``'s fit and rank and of a :class:`GroupLassoGranger` fit at this size.

    One synthetic case of ``n`` series, fitted on its ``rows`` rows before the fault, on ``threads``
    threads; with the load average, since figures from a shared machine are not final.
    """
    import torch

    sc = make_case(0, n, rows, np.random.default_rng(seed), cycles=3)
    values = sc.case.frame.to_numpy()[:rows]
    center, scale = robust_scale(values)
    torch.set_num_threads(threads)  # a command of its own: nothing else runs in this process
    timings = []
    cpu, wall = time.process_time(), time.perf_counter()
    GroupLassoGranger().fit((values - center) / scale)
    timings.append(("GroupLassoGranger.fit", time.process_time() - cpu, time.perf_counter() - wall))
    method = get_method("run", threads=threads)
    cpu, wall = time.process_time(), time.perf_counter()
    method.fit(sc.case.normal())
    timings.append(("run fit", time.process_time() - cpu, time.perf_counter() - wall))
    cpu, wall = time.process_time(), time.perf_counter()
    method.rank(sc.case)
    timings.append(("run rank", time.process_time() - cpu, time.perf_counter() - wall))
    for name, cpu, wall in timings:
        print(f"{name} {n}x{rows} on {threads} threads: {cpu:.2f} s CPU, {wall:.2f} s wall")
    report = method.fit_report()
    keys = ("pretrain_steps", "forecaster_epochs", "forecaster_best_epoch", "validation_mse", "naive_mse")
    print("run fit report: " + ", ".join(f"{k} {report[k]:.4g}" for k in keys if k in report))
    print("load average (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


def _cell(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.2f}"


def parse_size(text: str) -> tuple[int, int]:
    """``"20x300"`` -> 20 series, 300 rows before the fault."""
    try:
        n, rows = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: write SERIESxROWS, e.g. 20x300") from None
    if n < 3 or rows < 30:
        raise argparse.ArgumentTypeError(f"size {text!r}: need at least 3 series and 30 rows")
    return n, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(20, 120), (50, 300)], metavar="NxROWS")
    parser.add_argument("--cases", type=int, default=10, help="cases per size and graph kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cycles", type=int, default=3, help="back edges in the variant with cycles")
    parser.add_argument(
        "--fit-speed", type=parse_size, metavar="NxROWS",
        help="only time run's fit and rank and GroupLassoGranger.fit (--threads) on one case of this size",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="torch threads for --fit-speed")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synthetic.md")
    args = parser.parse_args(argv)
    if args.fit_speed is not None:
        return fit_speed(*args.fit_speed, seed=args.seed, threads=args.threads)
    columns = (
        *VARIANTS, "learned causes: wins / losses", "levels: wins / losses", "series with learned causes",
        "edge precision", "edge recall", "precision@#edges", "lasso precision", "lasso recall",
        "run seconds (fit+rank)",
    )  # fmt: skip
    sizes = " ".join(f"{n}x{rows}" for n, rows in args.sizes)
    command = f"bench/synthetic.py --sizes {sizes} --cases {args.cases} --seed {args.seed} --cycles {args.cycles}"
    lines = [
        f"Measured on {machine()}, commit {commit()}. Reproduce: `OMP_NUM_THREADS=1 .venv/bin/python {command}`.",
        f"{args.cases} cases per row; AC@1 per variant, then the learned graph against the true one.",
        "",
        "| series x rows | graph | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for n, rows in args.sizes:
        for kind, cycles in (("DAG", 0), (f"{args.cycles} cycles", args.cycles)):
            row = run_size(n, rows, args.cases, args.seed, cycles)
            lines.append(f"| {n}x{rows} | {kind} | " + " | ".join(_cell(row[c]) for c in columns) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    replace_block("synthetic", "## Synthetic causal benchmark (known graph)\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
