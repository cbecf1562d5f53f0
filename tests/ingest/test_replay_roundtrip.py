"""A replayed case comes out of the store equal to the case loaded from disk (real Kafka broker).

Series, timestamps and values (float tolerance), the series mapping, and for Train Ticket the
trace-derived series and the caller -> callee edges.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ingest_helpers import CLI, ROOT, wait_until

from rca.data.case import Case
from rca.data.datasets import discover
from rca.data.spans import call_graph
from rca.ingest.replay import plan_case, replay, trace_derived_columns
from rca.settings import IngestSettings
from rca.store import Store

pytestmark = pytest.mark.kafka

SOCK_SHOP_CASE = "carts-cpu/1"


def load(dataset: Path, name: str | None = None) -> Case:
    refs = discover(dataset)
    ref = refs[0] if name is None else next(r for r in refs if r.name == name)
    return ref.load()


def expected_points(case: Case) -> int:
    skip = trace_derived_columns(case)
    return int(case.frame[[c for c in case.frame.columns if c not in skip]].notna().to_numpy().sum())


def assert_same(case: Case, store: Store) -> None:
    step = case.step_seconds or 1.0
    got = store.read_telemetry(step_seconds=step)
    expected = case.frame.dropna(how="all")
    assert sorted(got.frame.columns) == sorted(expected.columns)
    frame = got.frame[list(expected.columns)]
    np.testing.assert_allclose(frame.index.to_numpy(), expected.index.to_numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(frame.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True)
    assert {c: got.series[c] for c in expected.columns} == {c: case.telemetry.series[c] for c in expected.columns}
    if case.telemetry.traces is not None:
        assert got.traces is not None and len(got.traces) == len(case.telemetry.traces)
        pd.testing.assert_frame_equal(store.call_graph(), call_graph(case.telemetry.traces), check_dtype=False)


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json", "jsonl"])
def test_sock_shop_case_round_trip(encoding, sock_shop, settings: IngestSettings, start_worker, tmp_path) -> None:
    case = load(sock_shop, SOCK_SHOP_CASE)
    if encoding == "otlp_json":
        settings = settings.with_overrides(metrics_encoding="otlp_json")
    report = replay(
        sock_shop, settings.bootstrap, speed=0, encoding=encoding, settings=settings, cases=[SOCK_SHOP_CASE]
    )
    assert report.points == expected_points(case) == case.frame.size
    store = Store(data_dir=tmp_path)
    worker = start_worker(settings, store)
    wait_until(lambda: store.counts()["points"] == report.points, 120, f"{report.points} points in the store")
    stats = worker.stop()
    assert stats.dead_letters == 0
    assert_same(case, store)


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_train_ticket_case_with_spans_round_trip(
    encoding, nezha, settings: IngestSettings, start_worker, tmp_path
) -> None:
    case = load(nezha)
    assert case.telemetry.traces is not None and len(case.telemetry.traces) > 1000
    assert trace_derived_columns(case), "the case should have trace-derived series"
    settings = settings.with_overrides(metrics_encoding=encoding, spans_encoding=encoding)
    report = replay(nezha, settings.bootstrap, speed=0, encoding=encoding, settings=settings, limit=1)
    assert report.spans == len(case.telemetry.traces)
    spans = len(case.telemetry.traces)
    store = Store(data_dir=tmp_path)
    worker = start_worker(settings, store)
    wait_until(
        lambda: store.counts() == {"series": store.counts()["series"], "points": report.points, "spans": spans},
        180,
        f"{report.points} points and {spans} spans in the store",
    )
    worker.stop()
    assert_same(case, store)
    per_bucket = store.edges(step_seconds=60.0)
    total = per_bucket.groupby(["source", "target"])["count"].sum().reset_index()
    pd.testing.assert_frame_equal(total, call_graph(case.telemetry.traces), check_dtype=False)


def test_cli_replay_and_ingest_round_trip(nezha, settings: IngestSettings, tmp_path) -> None:
    """`rca replay` then `rca ingest --max-seconds`: the same result through the command line."""
    case = load(nezha)
    name = discover(nezha)[0].name
    out = subprocess.run(
        [*CLI, "replay", str(nezha), "--bootstrap", settings.bootstrap, "--speed", "0", "--case", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **__import__("os").environ,
            "RCA_METRICS_TOPIC": settings.metrics_topic,
            "RCA_SPANS_TOPIC": settings.spans_topic,
        },
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "published 1 case(s)" in out.stderr
    planned = plan_case(case, settings, "otlp_proto")
    points = sum(m.points for m in planned)
    log = tmp_path / "ingest.log"
    from ingest_helpers import ingest_process

    proc = ingest_process(settings, "--max-seconds", "240", log=log)
    store = Store(data_dir=settings.data_dir)
    try:
        wait_until(
            lambda: store.counts()["points"] == points and store.counts()["spans"] == len(case.telemetry.traces),
            180,
            "the replayed case in the store",
        )
    finally:
        proc.terminate()
        proc.wait(60)
    assert proc.returncode == 0, log.read_text()
    assert_same(case, store)
    assert "stopped:" in log.read_text()


def test_replay_now_shifts_to_whole_steps(sock_shop) -> None:
    from rca.ingest.replay import time_offset

    case = load(sock_shop, SOCK_SHOP_CASE)
    offset = time_offset(case, now=True, speed=1.0, clock=lambda: 2_000_000_000.4)
    assert offset == 2_000_000_000 - case.frame.index[0]
    offset_end = time_offset(case, now=True, speed=0, clock=lambda: 2_000_000_000.4)
    assert offset_end == 2_000_000_000 - case.frame.index[-1]
    assert time_offset(case, now=False, speed=1.0) == 0.0
