"""Accuracy and speed of every method on the shared datasets, written into docs/benchmarks.md.

Reproduce (from the project root, about 15 minutes on 2 cores)::

    .venv/bin/python bench/accuracy.py                      # all methods, both datasets
    .venv/bin/python bench/accuracy.py --method baro --dataset sock-shop-rcd

Each dataset's full report (the ``rca eval`` JSON contract) goes to ``bench/results/accuracy-<dataset>.json``;
the tables and a bar chart (``docs/img/accuracy.png``) go into docs/benchmarks.md. The random ranking
is also run with seeds 0..9 to show its spread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, ROOT, commit, machine, replace_block

from rca.eval.runner import MethodSpec, evaluate
from rca.methods import METHODS

DATASETS = {
    "sock-shop-rcd": ROOT.parent / "shared" / "data" / "sock-shop-rcd",
    "nezha-train-ticket": ROOT.parent / "shared" / "data" / "nezha-train-ticket",
}
COLUMNS = [
    "AC@1",
    "AC@3",
    "AC@5",
    "Avg@5",
    "metric_AC@1",
    "metric_Avg@5",
    "seconds_median",
    "rank_seconds_median",
    "errors",
]


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(report: dict[str, Any], random_spread: tuple[float, float] | None) -> str:
    lines = ["| method | cases | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for result in report["results"]:
        s = result["summary"]
        lines.append(f"| {result['method']} | {s['cases']} | " + " | ".join(fmt(s.get(c)) for c in COLUMNS) + " |")
    if random_spread:
        lines.append("")
        lines.append(f"random over seeds 0..9: Avg@5 {random_spread[0]:.3f} ± {random_spread[1]:.3f} (mean ± std).")
    return "\n".join(lines)


def fault_table(report: dict[str, Any]) -> str:
    """AC@1 and AC@3 per fault type (the label's), one row per method; empty for a single type."""
    faults = sorted({str(r["fault"]) for res in report["results"] for r in res["cases"] if r.get("fault")})
    if len(faults) < 2:
        return ""
    header = "| method | " + " | ".join(f"{f} AC@1 | {f} AC@3" for f in faults) + " |"
    lines = [header, "|---" * (2 * len(faults) + 1) + "|"]
    for result in report["results"]:
        cells = []
        for fault in faults:
            ranks = [r["rank"] for r in result["cases"] if r.get("fault") == fault]
            for k in (1, 3):
                hits = sum(1 for r in ranks if r is not None and r <= k)
                cells.append(f"{hits}/{len(ranks)}")
        lines.append(f"| {result['method']} | " + " | ".join(cells) + " |")
    return "Per fault type (cases ranked within the top k / cases):\n\n" + "\n".join(lines)


def chart(reports: dict[str, dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, len(reports), figsize=(6 * len(reports), 4), squeeze=False)
    for ax, (name, report) in zip(axes[0], reports.items(), strict=True):
        methods = [r["method"] for r in report["results"]]
        width = 0.25
        for offset, key in enumerate(("AC@1", "AC@3", "Avg@5")):
            values = [r["summary"][key] for r in report["results"]]
            ax.bar([i + (offset - 1) * width for i in range(len(methods))], values, width, label=key)
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_title(name)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_with_progress(dataset: Path, specs: list[MethodSpec], label: str) -> dict[str, Any]:
    """``evaluate`` with a progress bar."""
    with Progress() as progress:
        task = progress.add_task(label, total=None)

        def advance(case: str, method: str) -> None:
            progress.update(task, advance=1, description=f"{label} {method} {case}")

        return evaluate(dataset, specs, on_start=lambda total: progress.update(task, total=total), progress=advance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", action="append", help="methods to run (default: all registered)")
    parser.add_argument("--dataset", action="append", choices=sorted(DATASETS), help="default: both")
    args = parser.parse_args()
    methods = args.method or list(METHODS)
    datasets = args.dataset or list(DATASETS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    reports: dict[str, dict[str, Any]] = {}
    sections = []
    for name in datasets:
        started = time.time()
        report = evaluate_with_progress(DATASETS[name], [MethodSpec(m) for m in methods], name)
        report["dataset"] = name
        (RESULTS / f"accuracy-{name}.json").write_text(json.dumps(report, indent=1) + "\n")
        reports[name] = report
        spread = None
        if "random" in methods:
            seeds = [MethodSpec("random", {"seed": s}) for s in range(10)]
            runs = evaluate(DATASETS[name], seeds)["results"]
            values = [r["summary"]["Avg@5"] for r in runs]
            spread = (statistics.mean(values), statistics.stdev(values))
        per_fault = fault_table(report)
        sections.append(
            f"### {name}\n\n{table(report, spread)}\n\n"
            + (f"{per_fault}\n\n" if per_fault else "")
            + f"({time.time() - started:.0f} s in all)"
        )
    chart(reports, ROOT / "docs" / "img" / "accuracy.png")
    methods_arg = " ".join(f"--method {m}" for m in methods)
    body = "\n\n".join(
        [
            "## Accuracy and speed per method",
            f"Measured on {machine()}, commit {commit()}. Reproduce: `.venv/bin/python bench/accuracy.py "
            f"{methods_arg}`; per-case results in `bench/results/accuracy-<dataset>.json`. `seconds_median` is "
            "per case (fit + rank for learning methods), one process; `rank_seconds_median` is the rank "
            "step alone, with the fitted model (what an incident waits for).",
            *sections,
            "![accuracy per method](img/accuracy.png)",
        ]
    )
    replace_block("accuracy", body)
    print(f"updated docs/benchmarks.md and docs/img/accuracy.png for {', '.join(datasets)}")


if __name__ == "__main__":
    main()
