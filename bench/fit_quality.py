"""What ``run``'s neural Granger model learns on synthetic cases, and at what CPU cost.

Per case (generated as :mod:`bench.synthetic` generates them, see :func:`synthetic.make_case`): CPU
seconds of ``run``'s fit on one thread, the forecaster's held-out one-step MSE over the naive
forecast's, the epochs run and kept, and the learned graph's edge precision and recall against the
true graph (at the method's ``edge_threshold``; ``precision@#edges``: the strongest weights, as many as
there are true edges). A quicker check than the full benchmark when only the fit changes.

Reproduce (from the project root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/fit_quality.py --size 20x120 --cases 8 [-p pretrain_steps=1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import edge_scores, make_case, parse_size

from rca.causal.graph import granger_digraph
from rca.methods import get_method


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=(20, 120), metavar="NxROWS")
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a run parameter")
    args = parser.parse_args(argv)
    params = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    n, rows = args.size
    rng = np.random.default_rng([0, n, rows, 3])
    rows_out = []
    for k in range(args.cases):
        sc = make_case(k, n, rows, rng, cycles=3)
        method = get_method("run", threads=1, **params)
        cpu = time.process_time()
        method.fit(sc.case.normal())
        cpu = time.process_time() - cpu
        report = method.fit_report()  # type: ignore[attr-defined]
        matrix = method.model_.granger.granger_matrix()  # type: ignore[attr-defined]
        learned = granger_digraph(matrix, list(range(n)), threshold=method.edge_threshold)  # type: ignore[attr-defined]
        true = set(sc.edges)
        precision, recall = edge_scores({(int(a), int(b)) for a, b in learned.edges}, true)
        strongest = np.argsort(matrix, axis=None)[::-1][: len(true)]
        top = {(int(i), int(j)) for i, j in zip(*np.unravel_index(strongest, matrix.shape), strict=True)}
        row = {
            "cpu": cpu,
            "mse/naive": report["validation_mse"] / report["naive_mse"],
            "epochs": report["forecaster_epochs"],
            "kept": report.get("forecaster_best_epoch", float("nan")),
            "precision": precision,
            "recall": recall,
            "precision@#edges": edge_scores(top, true)[0],
        }
        rows_out.append(row)
        print(f"case {k}: " + ", ".join(f"{key} {value:.4g}" for key, value in row.items()), flush=True)
    means = {key: float(np.mean([r[key] for r in rows_out])) for key in rows_out[0]}
    print(f"mean over {args.cases} cases {n}x{rows}: " + ", ".join(f"{k} {v:.4g}" for k, v in means.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
