"""The streaming commands of the command line: `rca replay` and `rca ingest` (registered in :mod:`rca.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())  # as in rca.cli: redirected lines stay whole


def progress_bar(label: str, console: Console) -> Progress:
    """The command line's progress bar: ``label``, the bar, done/total, time elapsed, the current item."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    )


def replay_command(
    source: Annotated[Path, typer.Argument(metavar="SOURCE", help="A case, a dataset directory, or a Nezha/RCD root.")],
    bootstrap: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="Kafka bootstrap servers (topics from RCA_*_TOPIC).")
    ] = "127.0.0.1:9092",
    speed: Annotated[
        float, typer.Option(metavar="FACTOR", help="Time factor: 1 real time, 10 ten times faster, 0 no pacing.")
    ] = 1.0,
    encoding: Annotated[
        str,
        typer.Option(
            metavar="ENCODING",
            help="otlp_proto, otlp_json or jsonl (metrics and logs as rca_metrics / rca_logs lines).",
        ),
    ] = "otlp_proto",
    now: Annotated[bool, typer.Option("--now", help="Shift timestamps to the present.")] = False,
    case: Annotated[
        list[str] | None, typer.Option("--case", metavar="NAME", help="Only this case (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option(metavar="N", help="Only the first N cases.")] = None,
) -> None:
    """Publish recorded cases to Kafka as an OTel Collector would.

    Metrics as OTLP gauges (or rca_metrics JSON lines), spans as OTLP traces, logs as OTLP logs.
    """
    from rca.ingest.replay import replay
    from rca.settings import Settings

    settings = Settings().ingest.with_overrides(bootstrap=bootstrap)
    with progress_bar("replay", console) as progress:
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
        f"{report.spans} spans, {report.logs} log records to {bootstrap} in {report.seconds:.1f} s"
    )


def ingest_command(
    bootstrap: Annotated[
        str | None, typer.Option(metavar="HOST:PORT", help="Kafka bootstrap servers (RCA_KAFKA_BOOTSTRAP).")
    ] = None,
    group: Annotated[str | None, typer.Option(metavar="NAME", help="Consumer group (RCA_CONSUMER_GROUP).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Data directory of the SQLite store (RCA_DATA_DIR).")
    ] = None,
    store_url: Annotated[
        str | None, typer.Option(metavar="URL", help="Database URL, e.g. postgresql://... (RCA_STORE_URL).")
    ] = None,
    metrics_topic: Annotated[
        str | None, typer.Option(metavar="TOPIC", help="OTLP metrics topic (RCA_METRICS_TOPIC).")
    ] = None,
    metrics_encoding: Annotated[
        str | None, typer.Option(metavar="ENCODING", help="otlp_proto or otlp_json (RCA_METRICS_ENCODING).")
    ] = None,
    spans_topic: Annotated[
        str | None, typer.Option(metavar="TOPIC", help="OTLP spans topic (RCA_SPANS_TOPIC).")
    ] = None,
    spans_encoding: Annotated[
        str | None, typer.Option(metavar="ENCODING", help="otlp_proto or otlp_json (RCA_SPANS_ENCODING).")
    ] = None,
    jsonl_topic: Annotated[
        str | None, typer.Option(metavar="TOPIC", help="JSON-lines metrics topic (RCA_JSONL_TOPIC).")
    ] = None,
    logs_topic: Annotated[str | None, typer.Option(metavar="TOPIC", help="OTLP logs topic (RCA_LOGS_TOPIC).")] = None,
    logs_encoding: Annotated[
        str | None, typer.Option(metavar="ENCODING", help="otlp_proto or otlp_json (RCA_LOGS_ENCODING).")
    ] = None,
    logs_jsonl_topic: Annotated[
        str | None, typer.Option(metavar="TOPIC", help="JSON-lines logs topic (RCA_LOGS_JSONL_TOPIC).")
    ] = None,
    dlq_topic: Annotated[str | None, typer.Option(metavar="TOPIC", help="Dead-letter topic (RCA_DLQ_TOPIC).")] = None,
    offset_reset: Annotated[
        str | None,
        typer.Option(metavar="WHERE", help="Where a new group starts: earliest or latest (RCA_KAFKA_OFFSET_RESET)."),
    ] = None,
    batch: Annotated[
        int | None, typer.Option(metavar="N", help="Messages per batch, one transaction and commit (RCA_INGEST_BATCH).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Serve Prometheus metrics on this port.")
    ] = None,
    stats: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write running totals as JSON here after each commit.")
    ] = None,
    max_seconds: Annotated[float | None, typer.Option(metavar="SECONDS", help="Stop after this many seconds.")] = None,
) -> None:
    """Consume telemetry from Kafka into the store until interrupted.

    SIGINT and SIGTERM stop it cleanly, after the current batch.
    """
    import logging
    import signal
    import time

    from rca.ingest.consumer import IngestWorker
    from rca.ingest.metrics import IngestStats
    from rca.settings import Settings, SettingsError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store: dict[str, Any] = {"data_dir": data_dir, "store_url": store_url}
    try:
        settings = Settings(**{k: v for k, v in store.items() if v is not None}).ingest.with_overrides(
            bootstrap=bootstrap,
            group_id=group,
            metrics_topic=metrics_topic,
            metrics_encoding=metrics_encoding,
            spans_topic=spans_topic,
            spans_encoding=spans_encoding,
            jsonl_topic=jsonl_topic,
            logs_topic=logs_topic,
            logs_encoding=logs_encoding,
            logs_jsonl_topic=logs_jsonl_topic,
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
                f"ingest: {s.messages} messages, {s.points} points, {s.spans} spans, {s.logs} log records, "
                f"{s.dead_letters} dead letters, "
                f"{s.commits} commits; partitions {', '.join(s.assigned) or '-'}"
            )

    worker = IngestWorker(settings, stats_path=stats, on_batch=show)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.request_stop())
    console.print(f"ingesting from {settings.bootstrap} into {worker.store!r} (group {settings.group_id})")
    result = worker.run(max_seconds=max_seconds)
    console.print(
        f"stopped: {result.messages} messages, {result.points} points, {result.spans} spans, "
        f"{result.logs} log records, {result.dead_letters} dead letters"
    )
