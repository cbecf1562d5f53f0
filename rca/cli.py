"""The `rca` command line: a thin shell over the package."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperCommand

from rca.cli_stream import ingest_command, progress_bar, replay_command
from rca.errors import RCAError

app = typer.Typer(
    help="Root-cause analysis for microservices.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help: option values named by their metavars, flags without a type
)
console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())  # redirected output: long lines (URLs) stay whole


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"rca {version('rca')}")
        except PackageNotFoundError:
            print("rca (not installed: run from a checkout)")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    _version_flag: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Root-cause analysis for microservices."""
    from rca.runtime import distinct_messages

    ctx.with_resource(distinct_messages("rca.data"))  # a loader's note once per run, not once per case


class _MethodsInHelp(TyperCommand):
    """A command whose help ends with the method names (imported only when the help is shown)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from rca.methods import METHODS

        self.help = f"{self.help}\n\nMethods: {', '.join(METHODS)}."
        super().format_help(ctx, formatter)


def _parse_param(text: str) -> tuple[str, str, Any]:
    """``baro.direction=up`` -> ("baro", "direction", "up").

    Values are JSON when they parse as JSON; true/false/none in any case are booleans and None.
    """
    target, sep, raw = text.partition("=")
    method, dot, key = target.partition(".")
    if not sep or not dot:
        raise typer.BadParameter(f"{text!r}: expected METHOD.PARAM=VALUE, e.g. baro.direction=up")
    words = {"true": True, "false": False, "none": None, "null": None}
    if raw.strip().lower() in words:  # Python's True/False too: the string "False" would count as true
        return method, key, words[raw.strip().lower()]
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


@app.command("eval", cls=_MethodsInHelp)
def eval_command(
    dataset: Annotated[
        Path, typer.Argument(metavar="DATASET", help="A case, a directory of cases, or a Nezha/RCD dataset root.")
    ],
    method: Annotated[
        list[str], typer.Option("--method", "-m", metavar="METHOD", help="Method name (below); repeat for several.")
    ],
    json_out: Annotated[Path | None, typer.Option("--json", metavar="FILE", help="Write the full report here.")] = None,
    limit: Annotated[int | None, typer.Option(metavar="N", help="Evaluate only the first N cases.")] = None,
    seed: Annotated[int | None, typer.Option(metavar="SEED", help="Seed for methods that draw random numbers.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="METHOD.PARAM=VALUE", help="A method parameter; repeat for several."),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Fit learning methods on each case's fault-free history, if it has one.")
    ] = False,
    variant: Annotated[
        str | None, typer.Option(metavar="NAME", help="Evaluate a reduced variant of every case: red-only.")
    ] = None,
) -> None:
    """Rank every case's root causes with each method and score them.

    Scores: AC@1, AC@3, AC@5 and Avg@5 of the service, AC@1 and Avg@5 of the metric, seconds per case.
    """
    from rca.data.variants import VARIANTS
    from rca.eval.runner import MethodSpec, evaluate
    from rca.methods import METHODS

    if variant is not None and variant not in VARIANTS:
        raise typer.BadParameter(f"unknown variant {variant!r}; choose from {', '.join(sorted(VARIANTS))}")

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
    with progress_bar("eval", console) as progress:
        task = progress.add_task("", total=None)
        report = evaluate(
            dataset,
            specs,
            limit=limit,
            history=history,
            variant=variant,
            on_start=lambda total: progress.update(task, total=total),
            progress=lambda case, name: progress.update(task, advance=1, description=f"{name} {case}"),
        )
    Console(width=None if sys.stdout.isatty() else 160).print(results_table(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=1) + "\n")
        console.print(f"wrote {json_out}")


@app.command("convert")
def convert_command(
    source: Annotated[Path, typer.Argument(metavar="SOURCE", help="Any supported dataset or case.")],
    destination: Annotated[Path, typer.Argument(metavar="DESTINATION", help="Where to write case directories.")],
    limit: Annotated[int | None, typer.Option(metavar="N", help="Convert only the first N cases.")] = None,
) -> None:
    """Write any supported dataset as case directories.

    Layouts: RCAEval, RCD sock-shop, Nezha, and case directories themselves.
    """
    from rca.data.datasets import convert

    written = convert(source, destination, limit=limit)
    console.print(f"wrote {len(written)} case(s) under {destination}")


app.command("replay")(replay_command)
app.command("ingest")(ingest_command)


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Bind address (RCA_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Port (RCA_PORT, 8080).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Store and models directory (RCA_DATA_DIR).")
    ] = None,
    ingest: Annotated[bool, typer.Option("--ingest", help="Also consume Kafka in this process.")] = False,
) -> None:
    """Run the HTTP API with the incident watcher and retraining.

    Analyses, incidents, models and jobs over HTTP; with --ingest this process also consumes Kafka.
    """
    import ipaddress
    import logging

    from rca.api.app import serve
    from rca.settings import Settings

    overrides: dict[str, Any] = {"host": host, "port": port, "data_dir": data_dir}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    if not settings.key_scopes:
        loopback = settings.host == "localhost" or _is_loopback(settings.host, ipaddress)
        if not loopback:
            raise typer.BadParameter(
                f"refusing to bind {settings.host} without API keys: set RCA_API_KEYS='<key>:read,<key>:admin' "
                "or bind 127.0.0.1"
            )
        console.print("[yellow]no API keys configured (RCA_API_KEYS): serving on loopback only, without auth[/yellow]")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console.print(f"rca API on http://{settings.host}:{settings.port} (docs at /docs)")
    failure = serve(settings, ingest=ingest)
    if failure is not None:
        console.print(f"[red]error:[/red] {escape(str(failure))}", highlight=False)
        raise SystemExit(1)


def _is_loopback(host: str, ipaddress: Any) -> bool:
    try:
        return bool(ipaddress.ip_address(host).is_loopback)
    except ValueError:
        return False


@app.command("train")
def train_command(
    dataset: Annotated[
        Path | None,
        typer.Argument(
            metavar="DATASET", help="Fit on the normal part of this case/dataset's first case; default the store."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Store and models directory (RCA_DATA_DIR).")
    ] = None,
    promote: Annotated[bool, typer.Option(help="Make the new model current.")] = True,
) -> None:
    """Fit the default method on normal history and register it.

    The method is RCA_DEFAULT_METHOD; the model goes to the registry in DIR/models.
    """
    from rca.data.datasets import discover
    from rca.data.preprocess import preprocess
    from rca.registry.models import ModelRegistry
    from rca.registry.training import train_and_register
    from rca.settings import Settings

    overrides: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
    settings = Settings(**overrides)
    if dataset is None:
        from rca.service.retrain import Retrainer
        from rca.store import Store
        from rca.store.records import Records

        store = Store(settings.resolved_store_url, span_step_seconds=settings.span_bucket_seconds)
        records = Records(store)
        job = records.create_job("retrain")
        Retrainer(settings, store, records, ModelRegistry(settings.models_dir)).run(job["id"])
        console.print(records.get_job(job["id"]))
        store.close()
        return
    history = preprocess(discover(dataset)[0].load()).normal()
    record, promoted = train_and_register(
        ModelRegistry(settings.models_dir), settings.default_method, history, promote="always" if promote else "never"
    )
    state = "current" if promoted else "not promoted"
    console.print(
        f"registered {record.version} ({record.method}, {record.series} series, {state}) in {settings.models_dir}"
    )


@app.command("settings")
def settings_command(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the README's configuration table.")] = False,
) -> None:
    """Show the effective configuration.

    From the RCA_* environment, the TOML file named by RCA_CONFIG, and the defaults.
    """
    from rca.settings import Settings, variables

    if markdown:
        print("| variable | default | meaning |\n|---|---|---|")
        for variable in variables():
            default = "(unset)" if variable.default is None else str(variable.default)
            print(f"| `{variable.name}` | `{default}` | {variable.description} |")
        return
    current: Any = Settings()
    for variable in variables():
        value = current
        for part in variable.path:
            value = getattr(value, part)
        print(f"{variable.name}={'' if value is None else value}")  # secrets print as **********


@app.command("demo")
def demo_command(
    dataset: Annotated[Path, typer.Option(metavar="DIR", help="The dataset a case is chosen from at random.")] = Path(
        "../shared/data/sock-shop-rcd"
    ),
    case: Annotated[
        str | None,
        typer.Option(
            metavar="CASE", help="Replay this case instead: a name in the dataset (carts-cpu/1) or a directory."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(metavar="SEED", help="Seed of the random choice (default: a new case each run).")
    ] = None,
    bootstrap: Annotated[str, typer.Option(metavar="HOST:PORT", help="Kafka bootstrap servers.")] = "127.0.0.1:9092",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port of the demo API.")] = 8080,
    speed: Annotated[float, typer.Option(metavar="FACTOR", help="Replay time factor.")] = 20.0,
    data_dir: Annotated[Path, typer.Option(metavar="DIR", help="Fresh data directory of the demo server.")] = Path(
        ".demo"
    ),
    stop: Annotated[bool, typer.Option("--stop", help="Stop the demo server and exit.")] = False,
) -> None:
    """The end-to-end demo: serve, replay a fault, show its causes.

    Starts rca serve --ingest, replays the case, waits for the incident and prints its top-5 causes.
    """
    from rca import demo

    if stop:
        demo.stop(data_dir, console)
        return
    source, ref = demo.choose_case(dataset, case, seed=seed)
    demo.run(source, ref, bootstrap=bootstrap, port=port, speed=speed, data_dir=data_dir, console=Console())


def main() -> None:
    """Entry point: run the app, turning expected errors into a one-line message and exit code 2."""
    from pydantic import ValidationError

    from rca.runtime import passive_openmp, without_triton
    from rca.settings import describe_error

    passive_openmp()
    without_triton()
    try:
        app()
    except RCAError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
    except ValidationError as exc:  # only settings are validated outside the API
        console.print(f"[red]error:[/red] {escape(describe_error(exc))}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
