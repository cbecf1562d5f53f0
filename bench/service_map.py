"""Service-map benchmark: does the method hold on a system seen only through RED metrics and a call graph?

The cases (``bench/service_map_cases.py``) are simulated systems of the kind a managed, serverless-style
deployment gives: per component only request count, latency (average and percentiles) and
availability every 5 minutes, plus the call graph; faults of latency, availability and overload in one
component spread to every caller. Nothing of the shared datasets is in them, and no parameter of
``run`` was chosen on them: it is a check of how the method carries to another kind of system.

Per case ``run`` is fitted once on the rows before the fault; every variant ranks with that one fit:

- ``run``: the method as registered;
- ``no traversal``: without the call-graph frontier (:func:`rca.rank.fusion.traversal_frontier`);
- ``no counterfactual``: each series scored as it is, not by what its neighbours in the calls do not
  explain (:func:`rca.causal.structural.counterfactual_residuals`);
- ``rises only``: ``direction="up"``, falls of a series do not count (an availability that drops);
- ``peaks only (no levels)``: ``scoring="exceedance"``, each series scored by how far its samples leave
  its baseline's range, not also its level (:func:`rca.anomaly.scores.level_exceedance`);
- ``no label guard``: ``guard=0``, the baseline's last rows count in its normal range;
- ``learned graph only``: the graph the neural Granger model learned, no call graph (so no frontier and
  no counterfactual);
- ``call graph only``: the call graph without the learned one;
- ``no graph``: anomaly scores and peer margins alone (no walk, no frontier, no counterfactual);
- ``random call graph``: the service map rewired by degree-preserving swaps (for the walk, the frontier
  and the counterfactual);
- peers on the same cases: BARO and N-sigma counting rises only (their published form) and both
  directions, and random.

Paired counts (wins/losses against ``run`` at AC@1, McNemar's exact p) say which part earns what.

Reproduce (from the project root; about 8 minutes per seed on 2 cores)::

    .venv/bin/python bench/service_map.py --cases 60 --seeds 0 2 3

``--label-lag N`` labels every case ``N`` rows after its fault began, as a late alert or a late note of
the injection does: the fault's first rows then sit at the end of the baseline. Its results go to
``bench/results/service-map-lagN.json``, the ``service-map-lag`` block and ``docs/img/service-map-lag.png``.

Writes the cases to ``--out`` (default ``bench/results/service-map-cases``, git-ignored: replay them
with ``rca eval DIR``), a markdown table to stdout, ``bench/results/service-map.json`` and the
``service-map`` block of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from rich.progress import Progress

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import paired
from report import commit, machine, replace_block
from service_map_cases import FAULTS, STEP, make_case
from synthetic_cases import degree_preserving

from rca.data.case import Case, Telemetry
from rca.data.casedir import write_case_dir
from rca.data.datasets import discover
from rca.data.preprocess import preprocess
from rca.eval.metrics import accuracy_at_k, service_rank
from rca.eval.runner import fit_data
from rca.methods import get_method
from rca.methods.base import RCAMethod
from rca.methods.run import RUN

RUN_VARIANTS: dict[str, dict[str, Any]] = {
    "run": {},
    "no traversal": {"traversal": False},
    "no counterfactual": {"counterfactual": False},
    "rises only": {"direction": "up"},
    "peaks only (no levels)": {"scoring": "exceedance"},
    "no label guard": {"guard": 0},
    "learned graph only": {"graph": "learned", "traversal": False},
    "call graph only": {"graph": "call"},
    "no graph": {"graph": "learned", "pagerank": False, "traversal": False},
    "random call graph": {},
}
PEERS: dict[str, tuple[str, dict[str, Any]]] = {
    "baro": ("baro", {}),
    "baro, both directions": ("baro", {"direction": "both"}),
    "nsigma": ("nsigma", {}),
    "nsigma, both directions": ("nsigma", {"direction": "both"}),
    "random": ("random", {}),
}


def rewired(case: Case, rng: np.random.Generator) -> Case:
    """The case with its call graph rewired by degree-preserving swaps."""
    graph = list(case.telemetry.graph or ())
    names = sorted({s for edge in graph for s in edge})
    index = {name: i for i, name in enumerate(names)}
    edges = degree_preserving([(index[a], index[b]) for a, b in graph], len(names), rng)
    telemetry = Telemetry.from_frame(
        case.frame, series=case.telemetry.series, graph=[(names[a], names[b]) for a, b in edges]
    )
    return Case(case.name, telemetry, case.inject_time, case.root_cause, case.symptom, case.step_seconds)


def rank_of(method: RCAMethod, case: Case) -> int | None:
    assert case.root_cause is not None
    return service_rank(method.rank(case), case.root_cause.service)


def evaluate(directory: Path, seed: int, ranks: dict[str, dict[str, int | None]]) -> None:
    """Add the rank of the root cause per variant and case of ``directory`` to ``ranks`` (cases as ``seed/name``)."""
    refs = discover(directory)
    rng = np.random.default_rng(seed)
    fit_seconds: list[float] = []
    with Progress() as progress:
        task = progress.add_task(f"seed {seed}", total=len(refs))
        for ref in refs:
            case = preprocess(ref.load())
            started = time.perf_counter()
            fitted = RUN().fit(fit_data(case, history=False))
            fit_seconds.append(time.perf_counter() - started)
            for label, params in RUN_VARIANTS.items():
                method = RUN(**{**fitted.get_params(), **params})
                method.model_ = fitted.model_
                key = f"{seed}/{case.name}"
                ranks[label][key] = rank_of(method, rewired(case, rng) if label == "random call graph" else case)
            for label, (name, params) in PEERS.items():
                ranks[label][f"{seed}/{case.name}"] = rank_of(get_method(name, **params), case)
            progress.update(task, advance=1, description=ref.name)
    print(f"seed {seed}: run fit median {np.median(fit_seconds):.2f} s per case", file=sys.stderr)


def _kind(case: str) -> str:
    return case.split("/")[-1].split("-")[0]


def table(ranks: dict[str, dict[str, int | None]], seeds: list[int]) -> list[str]:
    """Pooled AC@k per variant, AC@1 per fault kind and per seed, paired counts against ``run``."""
    cases = list(ranks["run"])
    kinds = Counter(_kind(c) for c in cases)
    header = [
        "variant", "AC@1", "AC@3", "Avg@5", *(f"AC@1 {k} ({kinds[k]})" for k in FAULTS),
        *(f"AC@1 seed {s}" for s in seeds), "wins / losses vs run (p)",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, by_case in ranks.items():
        values = [by_case[c] for c in cases]
        avg5 = sum(accuracy_at_k(values, k) for k in range(1, 6)) / 5
        per_kind = [accuracy_at_k([by_case[c] for c in cases if _kind(c) == k], 1) for k in FAULTS]
        per_seed = [accuracy_at_k([by_case[c] for c in cases if c.startswith(f"{s}/")], 1) for s in seeds]
        versus = "" if label == "run" else _versus(by_case, ranks["run"])
        row = [label, accuracy_at_k(values, 1), accuracy_at_k(values, 3), avg5, *per_kind, *per_seed]
        lines.append("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + f" | {versus} |")
    return lines


def chart(ranks: dict[str, dict[str, int | None]], path: Path, title: str) -> None:
    """AC@1 per variant, overall and per fault kind, as horizontal bars (``docs/img/service-map.png``)."""
    labels = list(ranks)
    cases = list(ranks["run"])
    groups = {"all": cases} | {k: [c for c in cases if _kind(c) == k] for k in FAULTS}
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.2))
    height = 0.8 / len(groups)
    for offset, (group, members) in enumerate(groups.items()):
        values = [accuracy_at_k([ranks[label][c] for c in members], 1) for label in labels]
        ax.barh([i + (offset - 1.5) * height for i in range(len(labels))], values, height, label=group)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("AC@1")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{title[0].upper()}{title[1:]} ({len(cases)} cases)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _versus(a: dict[str, int | None], b: dict[str, int | None]) -> str:
    result = paired(a, b, k=1)
    return f"{result.wins} / {result.losses} (p {result.p_value:.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 2, 3], help="one set of cases per seed")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "service-map-cases")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the block in docs/benchmarks.md")
    parser.add_argument("--label-lag", type=int, default=0, help="label each case this many rows after its fault began")
    parser.add_argument(
        "--from-json", action="store_true", help="rebuild the table and chart from bench/results/service-map.json"
    )
    args = parser.parse_args(argv)
    results = Path(__file__).parent / "results"
    name = f"service-map-lag{args.label_lag}" if args.label_lag else "service-map"
    if args.from_json:
        saved = json.loads((results / f"{name}.json").read_text())
        args.seeds, args.cases, ranks = saved["seeds"], saved["cases"], saved["ranks"]
    else:
        ranks = {label: {} for label in [*RUN_VARIANTS, *PEERS]}
        for seed in args.seeds:
            directory = args.out / (f"lag{args.label_lag}" if args.label_lag else "") / f"seed-{seed}"
            shutil.rmtree(directory, ignore_errors=True)
            rng = np.random.default_rng(seed)
            for index in range(args.cases):
                case = make_case(index, rng)
                case = replace(case, inject_time=case.inject_time + args.label_lag * STEP)
                write_case_dir(case, directory / case.name)
            evaluate(directory, seed, ranks)
        saved = {"seeds": args.seeds, "cases": args.cases, "ranks": ranks}
        (results / f"{name}.json").write_text(json.dumps(saved, indent=1) + "\n")
    seeds = " ".join(map(str, args.seeds))
    lag = f" --label-lag {args.label_lag}" if args.label_lag else ""
    reproduce = f".venv/bin/python bench/service_map.py --cases {args.cases} --seeds {seeds}{lag}"
    block = "service-map-lag" if args.label_lag else "service-map"
    folder = f"lag{args.label_lag}/" if args.label_lag else ""
    title = "simulated RED-only systems with a call graph"
    if args.label_lag:
        title += f", labelled {args.label_lag} row(s) late"
    lines = [
        f"## Service-map benchmark ({title})",
        f"Measured on {machine()}, commit {commit()}. Reproduce: `{reproduce}`; the cases are written to "
        f"`bench/results/service-map-cases/{folder}seed-N` (`rca eval` reads them). "
        f"{args.cases} cases per seed, pooled; AC@1 per fault kind and per seed; "
        "paired wins and losses against `run` at AC@1 (McNemar's exact p).",
        "",
        *table(ranks, args.seeds),
        "",
        f"![AC@1 per variant on the simulated systems](img/{block}.png)",
    ]
    text = "\n".join(lines)
    print(text)
    chart(ranks, Path(__file__).resolve().parents[1] / "docs" / "img" / f"{block}.png", title)
    if not args.no_docs:
        replace_block(block, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
