"""The end-to-end demo: replay a recorded fault through Kafka and let the service find it on its own.

0. a case of the dataset is chosen at random (or the one named), so the demo shows what the service
   does on any case, not on a hand-picked one;
1. ``rca serve --ingest`` starts in the background (its own process, data under ``--data-dir``);
2. the case is published to Kafka as the OpenTelemetry Collector would (``rca replay --now``);
3. the service ingests it, its incident watcher opens an incident when a symptom stays anomalous, and
   an analysis runs on the window around it;
4. the demo prints the top-5 causes, marks the true root cause, and leaves the API up.

Each run uses its own topics and a fresh data directory, so runs never see each other's data.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from rca.api.client import ServeProcess
from rca.cli_stream import progress_bar
from rca.data.datasets import CaseRef, discover
from rca.errors import RCAError
from rca.explain.evidence import format_delay, format_number, format_time

PID_FILE = "serve.pid"


class DemoError(RCAError):
    """The demo cannot go on; the message says what to do."""


def _reachable(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            return True
    except OSError:
        return False


def stop(data_dir: Path, console: Console) -> None:
    """Stop a demo server started earlier from ``data_dir``."""
    pid_file = data_dir / PID_FILE
    if not pid_file.exists():
        console.print("no demo server is running")
        return
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        console.print(f"stopped the demo server (pid {pid})")
    except ProcessLookupError:
        console.print("the demo server had already stopped")
    pid_file.unlink()


def incident_times(incident: dict[str, Any], shift: float, fault: float) -> str:
    """The incident's times, each with its clock: the onset in data time (and in the recording's own
    time, ``shift`` seconds earlier), the opening on the service's wall clock; ``fault`` is the
    recorded fault time in data time."""
    onset = float(incident["onset"])
    recorded = f"; {format_time(onset - shift)} in the recording" if shift else ""
    return (
        f"incident {incident['id'][:8]}: onset {format_time(onset)} in data time{recorded} "
        f"({format_delay(onset - fault, 'the recorded fault')}); opened {format_time(incident['opened_at'])} "
        "on the service's wall clock"
    )


def run_topics(run_id: str) -> dict[str, str]:
    """Every input topic of one demo run (``IngestSettings`` field -> topic), named after the run:
    runs never read each other's metrics, spans or logs."""
    names = ("metrics", "spans", "jsonl", "logs", "logs_jsonl")
    return {f"{name}_topic": f"demo_{run_id}_{name}" for name in names}


def choose_case(source: Path, case: str | None = None, *, seed: int | None = None) -> tuple[Path, CaseRef]:
    """The case to replay and where it lies: ``case`` (a name under ``source``, or a case directory),
    else one of ``source`` at random."""
    if case is not None and Path(case).is_dir():
        return Path(case), discover(case)[0]
    refs = discover(source)
    if not refs:
        raise DemoError(f"no cases under {source}; point --dataset at a dataset directory")
    if case is None:
        return source, random.Random(seed).choice(refs)
    named = [r for r in refs if r.name == case]
    if not named:
        raise DemoError(f"no case {case!r} under {source}; names look like {refs[0].name!r}")
    return source, named[0]


def run(
    source: Path,
    ref: CaseRef,
    *,
    bootstrap: str,
    port: int,
    speed: float,
    data_dir: Path,
    console: Console,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Run the demo (see the module docstring); returns the incident with its analysis."""
    from rca.ingest.replay import replay
    from rca.settings import Settings

    if not _reachable(bootstrap):
        raise DemoError(f"no Kafka broker at {bootstrap}: start one with `ingest/kafka.sh start` (or `make demo`)")
    case = ref.load()
    if (data_dir / PID_FILE).exists():
        stop(data_dir, console)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    run_id = time.strftime("%Y%m%d%H%M%S")
    topics = run_topics(run_id)
    step = case.step_seconds or 1.0
    env = {
        "RCA_DATA_DIR": str(data_dir.resolve()),
        "RCA_KAFKA_BOOTSTRAP": bootstrap,
        **{f"RCA_{field.upper()}": topic for field, topic in topics.items()},
        "RCA_CONSUMER_GROUP": f"rca-demo-{run_id}",
        "RCA_SPAN_BUCKET_SECONDS": str(step),
        "RCA_RETRAIN_CRON": "",
        "RCA_API_KEYS": "",
        "RCA_DEFAULT_K": "5",
    }
    server = ServeProcess(log=data_dir / "serve.log", env=env, port=port, ingest=True).start()  # left running
    (data_dir / PID_FILE).write_text(str(server.pid))
    base = server.base_url
    console.print(f"[bold]1.[/bold] rca serve --ingest is up at {base} (log: {data_dir / 'serve.log'})")

    truth = case.root_cause.service if case.root_cause else None
    console.print(f"[bold]2.[/bold] replaying {ref.name} through Kafka ({bootstrap}) at {speed:g}x, timestamps now")
    with progress_bar("replay", console) as bar:
        task = bar.add_task("", total=None)
        report = replay(
            source,
            bootstrap,
            speed=speed,
            now=True,
            settings=Settings().ingest.with_overrides(bootstrap=bootstrap, **topics),
            cases=[ref.name],
            on_case=lambda _name, total: bar.reset(task, total=total),
            progress=lambda _name, done, _total: bar.update(task, completed=done),
        )

    console.print("[bold]3.[/bold] waiting for the service to open an incident and analyse it ...")
    deadline = time.monotonic() + timeout
    incident: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        page = httpx.get(f"{base}/v1/incidents", params={"embed": True}, timeout=10).json()
        done = [i for i in page["items"] if i.get("analysis") and i["analysis"]["status"] in ("done", "failed")]
        if done:
            incident = done[-1]
            break
        time.sleep(1.0)
    if incident is None:
        raise DemoError(f"no analysed incident within {timeout:.0f} s; see {data_dir / 'serve.log'}")
    analysis = incident["analysis"]
    if analysis["status"] != "done":
        raise DemoError(f"the incident's analysis failed: {analysis['error']}")

    shift = (report.offsets or {}).get(ref.name, 0.0)
    console.print(incident_times(incident, shift, case.inject_time + shift))
    table = Table(
        title=f"incident {incident['id'][:8]}: top-5 root-cause services ({analysis['method']})",
        caption="score: the ranking's; robust z: largest deviation in baseline IQRs",
    )
    for column in ("#", "service", "strongest series", "robust z", "score", ""):
        table.add_column(column, no_wrap=True)  # a row per line, also in an 80-column terminal
    best: dict[str, dict[str, Any]] = {}
    for item in analysis["ranking"]:
        best.setdefault(item["service"], item)
    for position, (service, item) in enumerate(list(best.items())[:5], start=1):
        mark = "[green]<- true root cause[/green]" if service == truth else ""
        robust_z = item["evidence"].get("robust_z")
        shown = "-" if robust_z is None else format_number(robust_z)
        table.add_row(str(position), service, item["metric"] or "-", shown, f"{item['score']:.3g}", mark)
    console.print(table)
    explanation = httpx.post(f"{base}/v1/analyses/{analysis['id']}/explanation", timeout=60)
    if explanation.status_code == 200:
        console.print(explanation.json()["summary"])
    console.print(
        f"[bold]4.[/bold] see it in a browser: {base}/incidents/{incident['id']} (all: {base}/, API: {base}/docs)\n"
        "   stop it with `make demo-stop` (or `rca demo --stop`; `ingest/kafka.sh stop` stops the broker)"
    )
    return incident
