"""Paired comparison of two evaluations: per-case wins and losses at top-k, and McNemar's exact p.

Both methods saw the same cases, so their hits are paired; only the cases where exactly one of them
names the root cause within the top ``k`` (the discordant pairs) tell them apart. Under the null
hypothesis that neither is better, each discordant case is a fair coin: McNemar's exact test is the
two-sided binomial test of the wins among the discordant cases (McNemar, Psychometrika 1947).

Reproduce (any two ``rca eval --json`` reports; ``--a``/``--b`` pick a method when a report has several)::

    .venv/bin/python bench/paired.py A.json B.json --k 1
    .venv/bin/python bench/paired.py REPORT.json REPORT.json --a run --b baro
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy.stats import binomtest


@dataclass(frozen=True)
class Paired:
    """The outcome of a paired comparison of method A against method B."""

    cases: int
    both: int
    neither: int
    wins: int
    losses: int
    p_value: float
    wins_cases: tuple[str, ...]
    losses_cases: tuple[str, ...]


def mcnemar_exact(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    discordant = wins + losses
    return 1.0 if discordant == 0 else float(binomtest(wins, discordant, 0.5).pvalue)


def paired(a: dict[str, int | None], b: dict[str, int | None], k: int = 1) -> Paired:
    """Compare per-case ranks of the root cause (``None``: not ranked) on the cases both have."""
    common = sorted(set(a) & set(b))
    hit_a = {c: a[c] is not None and a[c] <= k for c in common}  # type: ignore[operator]
    hit_b = {c: b[c] is not None and b[c] <= k for c in common}  # type: ignore[operator]
    wins = tuple(c for c in common if hit_a[c] and not hit_b[c])
    losses = tuple(c for c in common if hit_b[c] and not hit_a[c])
    return Paired(
        cases=len(common),
        both=sum(hit_a[c] and hit_b[c] for c in common),
        neither=sum(not hit_a[c] and not hit_b[c] for c in common),
        wins=len(wins),
        losses=len(losses),
        p_value=mcnemar_exact(len(wins), len(losses)),
        wins_cases=wins,
        losses_cases=losses,
    )


def ranks_of(report: dict[str, Any], method: str | None, path: Path) -> tuple[str, dict[str, int | None]]:
    """The method's name and ``case -> rank`` of an ``rca eval --json`` report (cases with errors count as misses)."""
    results = report.get("results") or []
    if method is not None:
        results = [r for r in results if r.get("method") == method]
    if not results:
        names = ", ".join(str(r.get("method")) for r in report.get("results") or []) or "none"
        raise SystemExit(f"{path}: no result for method {method!r} (methods in the report: {names})")
    if len(results) > 1:
        names = ", ".join(str(r.get("method")) for r in results)
        raise SystemExit(f"{path}: several methods ({names}); pick one with --a/--b")
    result = results[0]
    return str(result["method"]), {str(c["case"]): c.get("rank") for c in result["cases"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="rca eval --json report of method A")
    parser.add_argument("b", type=Path, help="rca eval --json report of method B")
    parser.add_argument("--a", dest="method_a", help="method of report A (when it has several)")
    parser.add_argument("--b", dest="method_b", help="method of report B (when it has several)")
    parser.add_argument("--k", type=int, default=1, help="a hit is the root cause within the top k (default 1)")
    args = parser.parse_args(argv)
    reports = []
    for path in (args.a, args.b):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise SystemExit(f"{path}: not a readable rca eval --json report ({error})") from None
    name_a, ranks_a = ranks_of(reports[0], args.method_a, args.a)
    name_b, ranks_b = ranks_of(reports[1], args.method_b, args.b)
    result = paired(ranks_a, ranks_b, args.k)
    only = len(set(ranks_a) ^ set(ranks_b))
    lines = [
        f"| A | B | cases | both hit@{args.k} | neither | A wins | A loses | McNemar exact p |",
        "|---|---|---|---|---|---|---|---|",
        f"| {name_a} | {name_b} | {result.cases} | {result.both} | {result.neither} | {result.wins} | "
        f"{result.losses} | {result.p_value:.3g} |",
    ]
    if only:
        lines.append(f"\n{only} case(s) in only one report were left out.")
    lines.append(f"\nA wins: {', '.join(result.wins_cases) or '-'}")
    lines.append(f"A loses: {', '.join(result.losses_cases) or '-'}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
