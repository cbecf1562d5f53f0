"""The ``rca`` command line: a thin shell over the package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rca.errors import RCAError

app = typer.Typer(help="Root-cause analysis for microservices.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


def _parse_param(text: str) -> tuple[str, str, Any]:
    """``baro.direction=up`` -> ("baro", "direction", "up"); values are JSON when they parse as JSON."""
    target, sep, raw = text.partition("=")
    method, dot, key = target.partition(".")
    if not sep or not dot:
        raise typer.BadParameter(f"{text!r}: expected METHOD.PARAM=VALUE, e.g. baro.direction=up")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return method, key, value


def results_table(report: dict[str, Any]) -> Table:
    """The summary of an evaluation report as a table."""
    table = Table(title=f"rca eval {report['dataset']}")
    columns = ["AC@1", "AC@3", "AC@5", "Avg@5", "metric_AC@1", "metric_Avg@5", "seconds_median", "errors"]
    table.add_column("method")
    table.add_column("cases", justify="right")
    for column in columns:
        table.add_column(column.replace("seconds_median", "s/case"), justify="right")
    for result in report["results"]:
        summary = result["summary"]
        cells = []
        for column in columns:
            value = summary.get(column)
            cells.append("-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value))
        table.add_row(result["method"], str(summary["cases"]), *cells)
    return table


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A case, a directory of cases, or a Nezha/RCD dataset root.")],
    method: Annotated[list[str], typer.Option("--method", "-m", help="Method name; repeat for several.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report here.")] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N cases.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for methods that draw random numbers.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="METHOD.PARAM=VALUE")] = None,
) -> None:
    """Rank the root causes of every case with each method and score them (AC@k, Avg@5)."""
    from rca.eval.runner import MethodSpec, evaluate
    from rca.methods import METHODS

    specs = []
    overrides: dict[str, dict[str, Any]] = {}
    for text in param or []:
        name, key, value = _parse_param(text)
        overrides.setdefault(name, {})[key] = value
    for name in method:
        if name not in METHODS:
            raise typer.BadParameter(f"unknown method {name!r}; choose from {', '.join(sorted(METHODS))}")
        params = dict(overrides.get(name, {}))
        if seed is not None and "seed" in METHODS[name].__dataclass_fields__:  # type: ignore[attr-defined]
            params["seed"] = seed
        specs.append(MethodSpec(name, params))
    with Progress(
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=None)
        report = evaluate(
            dataset,
            specs,
            limit=limit,
            on_start=lambda total: progress.update(task, total=total),
            progress=lambda case, name: progress.update(task, advance=1, description=f"{name} {case}"),
        )
    Console().print(results_table(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=1) + "\n")
        console.print(f"wrote {json_out}")


@app.command("convert")
def convert_command(
    source: Annotated[Path, typer.Argument(help="Any supported dataset or case.")],
    destination: Annotated[Path, typer.Argument(help="Where to write case directories.")],
    limit: Annotated[int | None, typer.Option(help="Convert only the first N cases.")] = None,
) -> None:
    """Write any supported layout (RCAEval, RCD sock-shop, Nezha, case dirs) as case directories."""
    from rca.data.datasets import convert

    written = convert(source, destination, limit=limit)
    console.print(f"wrote {len(written)} case(s) under {destination}")


def main() -> None:
    """Entry point: run the app, turning expected errors into a one-line message and exit code 2."""
    try:
        app()
    except RCAError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
