"""Ablations of the ``run`` method: what each part contributes, next to BARO.

Variants (all other parameters at their defaults):

- ``full``: the method as registered (learned + call graph, anomaly-seeded PageRank, pretraining);
- ``no-pretraining``: a randomly initialised, frozen encoder under the forecaster;
- ``simsiam``: pretraining without negatives (SimSiam) instead of InfoNCE;
- ``no-pagerank``: anomaly scores alone;
- ``uniform-personalization``: PageRank restarting uniformly (graph only);
- ``learned-graph`` / ``call-graph``: one graph source instead of both;
- ``no learned causes``: no series scored on what its learned Granger causes do not explain
  (``lagged=False``);
- ``no graph at all``: the same anomaly scores of the raw series, no walk, no counterfactual over the
  call graph or the learned causes, no traversal frontier;
- ``residuals``: forecast residuals added to the anomaly scores;
- ``peaks only``: each series scored by how far its samples leave its baseline's range, not also its
  level (``scoring="exceedance"``);
- ``zscore-scoring``: BARO's robust z-score instead of the exceedance of the baseline's own range;
- ``rises only``: falls of error, success-rate and availability series do not count (``direction="up"``);
- ``no traversal frontier``: the call graph's frontier of anomalous services off (``traversal=False``);
- ``no-traces``: without the per-service call-delay scores from spans;
- ``no logs`` / ``logs only``: without the log-change signal / ranked by it alone (``logs="off"`` /
  ``"only"``); ``log-errors``: the log-only peer (rise of the error-line share).

Each variant's AC@1 is paired with the full method's, case by case (``bench/paired.py``): the cases
it puts the root cause first and the full method does not (wins), the reverse (losses), and McNemar's
exact p.

Reproduce (from the project root; about 15 minutes for sock-shop, 3 for Nezha, on 2 cores)::

    .venv/bin/python bench/ablation.py ../shared/data/sock-shop-rcd
    .venv/bin/python bench/ablation.py ../shared/data/nezha-train-ticket

Writes ``bench/results/ablation-<dataset>.md`` (a markdown table) and ``ablation-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import paired
from report import commit, machine, replace_block

from rca.eval.runner import MethodSpec, evaluate

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "run (full)": ("run", {}),
    "no-pretraining": ("run", {"pretraining": False}),
    "simsiam (no negatives)": ("run", {"objective": "simsiam"}),
    "no-pagerank (anomaly scores alone)": ("run", {"pagerank": False}),
    "uniform-personalization": ("run", {"personalization": "uniform"}),
    "learned-graph only": ("run", {"graph": "learned"}),
    "call-graph only": ("run", {"graph": "call"}),
    "no learned causes": ("run", {"lagged": False}),
    "no graph at all": (
        "run",
        {"pagerank": False, "counterfactual": False, "lagged": False, "traversal": False, "service_prior": False},
    ),
    "residuals added": ("run", {"residuals": True}),
    "peaks only (no levels)": ("run", {"scoring": "exceedance"}),
    "zscore scoring (no exceedance)": ("run", {"scoring": "zscore"}),
    "rises only (no availability falls)": ("run", {"direction": "up"}),
    "no traversal frontier": ("run", {"traversal": False}),
    "no traces (no call delays)": ("run", {"traces": False}),
    "no within-service prior (resource -> symptom)": ("run", {"service_prior": False}),
    "no logs": ("run", {"logs": "off"}),
    "logs only": ("run", {"logs": "only"}),
    "log-errors (log-only peer)": ("log-errors", {}),
    "baro": ("baro", {}),
}
COLUMNS = ("AC@1", "AC@3", "AC@5", "Avg@5", "metric_AC@1", "seconds_median", "errors")
PAIRED = ("wins / losses vs full (AC@1)", "McNemar p")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    rows = []
    for label, (name, params) in VARIANTS.items():
        result = evaluate(args.dataset, [MethodSpec(name, params)], limit=args.limit)["results"][0]
        ranks = {str(c["case"]): c.get("rank") for c in result["cases"]}
        rows.append({"variant": label, "method": name, "params": params, "summary": result["summary"], "ranks": ranks})
    for row in rows[1:]:
        versus = paired(row["ranks"], rows[0]["ranks"])
        row["summary"][PAIRED[0]] = f"{versus.wins} / {versus.losses}"
        row["summary"][PAIRED[1]] = round(versus.p_value, 3)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"ablation-{args.dataset.resolve().name}"
    (args.out / f"{stem}.json").write_text(json.dumps({"dataset": str(args.dataset), "rows": rows}, indent=1))
    lines = [
        f"Ablation on `{args.dataset.resolve().name}` ({rows[0]['summary']['cases']} cases)",
        "",
        "| variant | " + " | ".join(COLUMNS + PAIRED) + " |",
        "|---" * (len(COLUMNS + PAIRED) + 1) + "|",
    ]
    lines += [
        "| " + " | ".join([r["variant"], *(_cell(r["summary"].get(c)) for c in COLUMNS + PAIRED)]) + " |" for r in rows
    ]
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    if args.limit is None:  # a trial on a few cases leaves the documented figures alone
        replace_block(
            stem,
            "\n".join(
                [
                    f"## Ablation of `run`: {args.dataset.resolve().name}",
                    f"Measured on {machine()}, commit {commit()}. Reproduce: `.venv/bin/python bench/ablation.py "
                    f"{args.dataset}`.",
                    "",
                    *lines[2:],
                ]
            ),
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
