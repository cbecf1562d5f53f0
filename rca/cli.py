"""The ``rca`` command line: a thin shell over the package."""

from __future__ import annotations

import json
import sys
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
    Console(width=None if sys.stdout.isatty() else 160).print(results_table(report))
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


@app.command("replay")
def replay_command(
    source: Annotated[Path, typer.Argument(help="A case, a dataset directory, or a Nezha/RCD root.")],
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers, HOST:PORT.")] = "127.0.0.1:9092",
    speed: Annotated[float, typer.Option(help="Time factor: 1 real time, 10 ten times faster, 0 no pacing.")] = 1.0,
    encoding: Annotated[str, typer.Option(help="otlp_proto, otlp_json or jsonl (metrics as rca_metrics lines).")] = (
        "otlp_proto"
    ),
    now: Annotated[bool, typer.Option("--now", help="Shift timestamps to the present.")] = False,
    case: Annotated[list[str] | None, typer.Option("--case", help="Only this case (repeatable).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N cases.")] = None,
) -> None:
    """Publish recorded cases to Kafka as the OpenTelemetry Collector would (OTLP gauges and spans)."""
    from rca.ingest.replay import replay
    from rca.ingest.settings import IngestSettings

    settings = IngestSettings.from_settings(bootstrap=bootstrap)
    with Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    ) as progress:
        task = progress.add_task("", total=None)

        def on_case(name: str, total: int) -> None:
            progress.reset(task, total=total, description=name)

        report = replay(
            source,
            bootstrap,
            speed=speed,
            encoding=encoding,
            now=now,
            settings=settings,
            cases=case,
            limit=limit,
            on_case=on_case,
            progress=lambda _name, done, _total: progress.update(task, completed=done),
        )
    console.print(
        f"published {len(report.cases)} case(s): {report.messages} messages, {report.points} points, "
        f"{report.spans} spans to {bootstrap} in {report.seconds:.1f} s"
    )


@app.command("ingest")
def ingest_command(
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers [RCA_KAFKA_BOOTSTRAP].")] = None,
    group: Annotated[str | None, typer.Option(help="Consumer group [RCA_KAFKA_GROUP].")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory of the SQLite store [RCA_DATA_DIR].")] = None,
    store_url: Annotated[str | None, typer.Option(help="Database URL, e.g. postgresql://... [RCA_STORE_URL].")] = None,
    metrics_topic: Annotated[str | None, typer.Option(help="OTLP metrics topic [otlp_metrics].")] = None,
    metrics_encoding: Annotated[str | None, typer.Option(help="otlp_proto or otlp_json.")] = None,
    spans_topic: Annotated[str | None, typer.Option(help="OTLP spans topic [otlp_spans].")] = None,
    spans_encoding: Annotated[str | None, typer.Option(help="otlp_proto or otlp_json.")] = None,
    jsonl_topic: Annotated[str | None, typer.Option(help="JSON-lines metrics topic [rca_metrics].")] = None,
    dlq_topic: Annotated[str | None, typer.Option(help="Dead-letter topic [rca_dlq].")] = None,
    offset_reset: Annotated[str | None, typer.Option(help="Where a new group starts: earliest or latest.")] = None,
    batch: Annotated[int | None, typer.Option(help="Messages per batch (one transaction, one commit).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port.")] = None,
    stats: Annotated[Path | None, typer.Option(help="Write running totals as JSON here after each commit.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Consume telemetry from Kafka into the store until interrupted (SIGINT/SIGTERM stop cleanly)."""
    import logging
    import signal
    import time

    from rca.ingest.consumer import IngestStats, IngestWorker
    from rca.ingest.settings import IngestSettings, SettingsError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = IngestSettings.from_settings(
            None,
            bootstrap=bootstrap,
            group_id=group,
            data_dir=None if data_dir is None else str(data_dir),
            store_url=store_url,
            metrics_topic=metrics_topic,
            metrics_encoding=metrics_encoding,
            spans_topic=spans_topic,
            spans_encoding=spans_encoding,
            jsonl_topic=jsonl_topic,
            dlq_topic=dlq_topic,
            auto_offset_reset=offset_reset,
            max_batch_records=batch,
        )
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from None
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
        console.print(f"Prometheus metrics on http://127.0.0.1:{metrics_port}/metrics")
    last = [0.0]

    def show(s: IngestStats) -> None:
        if time.monotonic() - last[0] >= 5.0:
            last[0] = time.monotonic()
            console.print(
                f"ingest: {s.messages} messages, {s.points} points, {s.spans} spans, {s.dead_letters} dead letters, "
                f"{s.commits} commits; partitions {', '.join(s.assigned) or '-'}"
            )

    worker = IngestWorker(settings, stats_path=stats, on_batch=show)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.request_stop())
    console.print(f"ingesting from {settings.bootstrap} into {worker.store!r} (group {settings.group_id})")
    result = worker.run(max_seconds=max_seconds)
    console.print(
        f"stopped: {result.messages} messages, {result.points} points, {result.spans} spans, "
        f"{result.dead_letters} dead letters"
    )


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Bind address [RCA_HOST, 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [RCA_PORT, 8080].")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Store and models directory [RCA_DATA_DIR].")] = None,
    ingest: Annotated[bool, typer.Option("--ingest", help="Also consume Kafka in this process.")] = False,
) -> None:
    """Run the HTTP API (analyses, incidents, models) with the incident watcher and scheduled retraining."""
    import ipaddress
    import logging
    import threading

    import uvicorn

    from rca.api.app import create_app
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
    if ingest:
        from rca.ingest.consumer import IngestWorker
        from rca.ingest.settings import IngestSettings

        worker = IngestWorker(IngestSettings.from_settings(settings))
        threading.Thread(target=worker.run, name="rca-ingest", daemon=True).start()
    console.print(f"rca API on http://{settings.host}:{settings.port} (docs at /docs)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


def _is_loopback(host: str, ipaddress: Any) -> bool:
    try:
        return bool(ipaddress.ip_address(host).is_loopback)
    except ValueError:
        return False


@app.command("train")
def train_command(
    dataset: Annotated[
        Path | None, typer.Argument(help="Fit on the normal part of this case/dataset's first case; default the store.")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Store and models directory [RCA_DATA_DIR].")] = None,
    promote: Annotated[bool, typer.Option(help="Make the new model current.")] = True,
) -> None:
    """Fit the default method on normal history and register the model (``<data dir>/models``)."""
    from rca.api.service import Service
    from rca.data.datasets import discover
    from rca.data.preprocess import preprocess
    from rca.registry.models import ModelRegistry
    from rca.registry.training import train_and_register
    from rca.settings import Settings

    overrides: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
    settings = Settings(**overrides)
    if dataset is None:
        service = Service(settings)
        job = service.records.create_job("retrain")
        service.retrain(job["id"])
        console.print(service.records.get_job(job["id"]))
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
    """Show the effective configuration (RCA_* environment, RCA_CONFIG TOML file, defaults)."""
    from rca.settings import Settings

    if markdown:
        print("| variable | default | meaning |\n|---|---|---|")
        for name, field in Settings.model_fields.items():
            default = "(unset)" if field.default is None else str(field.default)
            print(f"| `RCA_{name.upper()}` | `{default}` | {field.description or ''} |")
        return
    current = Settings()
    for name in Settings.model_fields:
        value = getattr(current, name)
        shown = "***" if value and ("key" in name) else value
        print(f"RCA_{name.upper()}={'' if shown is None else shown}")


@app.command("demo")
def demo_command(
    dataset: Annotated[Path, typer.Option(help="The dataset a case is chosen from at random.")] = Path(
        "../shared/data/sock-shop-rcd"
    ),
    case: Annotated[
        str | None, typer.Option(help="Replay this case instead: a name in the dataset (carts-cpu/1) or a directory.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random choice (default: a new case each run).")] = None,
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers.")] = "127.0.0.1:9092",
    port: Annotated[int, typer.Option(help="Port of the demo API.")] = 8080,
    speed: Annotated[float, typer.Option(help="Replay time factor.")] = 20.0,
    data_dir: Annotated[Path, typer.Option(help="Fresh data directory of the demo server.")] = Path(".demo"),
    stop: Annotated[bool, typer.Option("--stop", help="Stop the demo server and exit.")] = False,
) -> None:
    """End to end: serve + ingest, replay a fault through Kafka, print the incident's top-5 causes."""
    from rca import demo

    if stop:
        demo.stop(data_dir, console)
        return
    source, ref = demo.choose_case(dataset, case, seed=seed)
    demo.run(source, ref, bootstrap=bootstrap, port=port, speed=speed, data_dir=data_dir, console=Console())


def main() -> None:
    """Entry point: run the app, turning expected errors into a one-line message and exit code 2."""
    try:
        app()
    except RCAError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
