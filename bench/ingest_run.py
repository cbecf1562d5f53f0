"""What the ingestion benchmarks (``bench/ingest.py``, ``bench/ingest_logs.py``) share.

A broker (the one given, or one of their own on free ports through ``tests/kafka_broker.py``), settings
with topics of their own, pre-filling a topic, and one timed :class:`IngestWorker` run into a fresh
SQLite store (WAL, synchronous=FULL), optionally profiled and split into stages.
"""

from __future__ import annotations

import cProfile
import json
import os
import platform
import pstats
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from kafka import KafkaProducer  # noqa: E402
from report import commit, replace_block  # noqa: E402

from rca.ingest.consumer import IngestWorker  # noqa: E402
from rca.ingest.metrics import IngestStats  # noqa: E402
from rca.settings import IngestSettings  # noqa: E402
from rca.store import Store  # noqa: E402

BROKER = "Apache Kafka 4.4.0 (ingest/kafka.sh), single node, 127.0.0.1"
STORE = "SQLite WAL, synchronous=FULL, fresh file per run"

Stage = tuple[str, str, str]
"""``(function, file suffix, stage)``: frames of ``function`` in a file ending in the suffix count to the stage.
A function ending in ``*`` is a name prefix; an empty suffix also matches a C method of that name
(``<method 'ParseFromString' ...>``). The first match of a frame wins."""


def setup_line() -> str:
    """The first line of a report: machine, broker and store."""
    return f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}. {BROKER}; {STORE}."


def share_text(run: dict[str, Any]) -> str:
    """A run's ``profile_shares`` as ``stage 12%, ...``."""
    return ", ".join(f"{k} {v:.0%}" for k, v in (run["profile_shares"] or {}).items())


def write_report(out: Path, name: str, block: str, heading: str, table: list[str], **report: Any) -> None:
    """Write ``<out>/<name>.json`` (``report`` with the machine, broker and store) and ``<out>/<name>.md``
    (``table``, its lines), put them under ``heading`` into the ``block`` of docs/benchmarks.md, and print them."""
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    out.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine, "broker": BROKER, "store": STORE, **report}
    (out / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / f"{name}.md").write_text("\n".join(table) + "\n")
    replace_block(block, "\n".join([heading, *table[1:]]) + f"\n\nCommit {commit()}.")
    print("\n".join(table))


@contextmanager
def kafka(bootstrap: str | None) -> Iterator[str]:
    """``bootstrap`` as given, or the bootstrap of a broker of our own, stopped on exit (SIGTERM included)."""
    if bootstrap:
        yield bootstrap
        return
    from kafka_broker import KafkaBroker

    # SIGTERM unwinds like an exception, so the broker this script started is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    broker = KafkaBroker()
    try:
        yield broker.start()
    finally:
        broker.close()


def bench_settings(bootstrap: str, **fields: Any) -> IngestSettings:
    """Ingest settings on topics no other run uses (fresh names), no retention, 100 ms polls, plus ``fields``."""
    tag = uuid.uuid4().hex[:6]
    topics = {"metrics_topic": "m", "spans_topic": "s", "jsonl_topic": "j", "logs_topic": "l",
              "logs_jsonl_topic": "lj", "dlq_topic": "d"}  # fmt: skip
    values: dict[str, Any] = {key: f"bench-{short}-{tag}" for key, short in topics.items()}
    values.update(poll_timeout_ms=100, retention_seconds=0)
    return IngestSettings(bootstrap=bootstrap, **{**values, **fields})


def fill(bootstrap: str, topic: str, values: Sequence[bytes]) -> None:
    """Publish ``values`` to ``topic`` and wait until the broker has them all."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, max_request_size=1024 * 1024
    )
    for value in values:
        producer.send(topic, value=value)
    producer.flush(300)
    producer.close(30)


@dataclass(frozen=True)
class Run:
    """One consuming run: wall and CPU seconds of this process, and (profiled) seconds per stage."""

    seconds: float
    cpu_seconds: float
    stages: dict[str, float] | None


def consume(
    settings: IngestSettings,
    done: Callable[[IngestStats], bool],
    stored: Callable[[Store], int],
    target: int,
    stages: Sequence[Stage] = (),
    profile: bool = False,
) -> Run:
    """Time one worker of a fresh consumer group consuming into a fresh store until ``done(stats)``.

    Raises ``SystemExit`` when ``stored(store)`` is then below ``target`` (a run that lost data has no figure).
    """
    with tempfile.TemporaryDirectory(prefix="rca-bench-") as tmp:
        store = Store(data_dir=tmp)
        worker = IngestWorker(settings.with_overrides(group_id=f"bench-{uuid.uuid4().hex[:8]}"), store)
        profiler = cProfile.Profile() if profile else None
        start, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        worker.run(until=done, max_seconds=900)
        if profiler is not None:
            profiler.disable()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        got = stored(store)
        store.close()
    if got < target:
        raise SystemExit(f"only {got} of {target} were stored")
    return Run(seconds, cpu, None if profiler is None else stage_seconds(profiler, stages))


def stage_seconds(profiler: cProfile.Profile, stages: Sequence[Stage]) -> dict[str, float]:
    """Cumulative seconds of each stage of a profiled run (see :data:`Stage`)."""
    stats = pstats.Stats(profiler)
    cumulative: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for function, suffix, stage in stages:
            named = name.startswith(function[:-1]) if function.endswith("*") else name == function
            builtin = not suffix and name.startswith(f"<method '{function}'")
            if builtin or (named and filename.endswith(suffix)):
                cumulative[stage] = cumulative.get(stage, 0.0) + ct
                break
    return cumulative


def shares(cumulative: dict[str, float], seconds: float) -> dict[str, float]:
    """Stage seconds as shares of the wall time, the rest as ``other (batch assembly, loop)``."""
    out = dict(cumulative)
    out["other (batch assembly, loop)"] = max(0.0, seconds - sum(cumulative.values()))
    return {k: round(v / seconds, 3) for k, v in out.items()}
