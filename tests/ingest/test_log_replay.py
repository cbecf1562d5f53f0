"""A Train Ticket code-level fault replayed with its logs through the real broker into the store.

The store's log counts equal the offline case's, and the analysis of the stored window ranks the
labelled root cause first with the template that changed in its evidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from ingest_helpers import wait_until

from rca.analysis import Analyzer
from rca.data.case import Case
from rca.data.datasets import discover
from rca.data.logs import log_counts, parse_log_line
from rca.ingest.consumer import IngestWorker
from rca.ingest.replay import ReplayReport, plan_case, replay
from rca.service.watcher import window_case
from rca.settings import Settings
from rca.store import Store
from rca.store.logs import LogStore

pytestmark = pytest.mark.kafka

_LOCATION = re.compile(r"[\w.$]+#\d+")


@dataclass
class Replayed:
    case: Case
    report: ReplayReport
    store: Store
    settings: Settings


def code_fault(nezha: Path) -> Case:
    """The first Train Ticket case whose fault is in the code (an exception or a wrong return value)."""
    for ref in discover(nezha):
        case = ref.load()
        if case.root_cause is not None and case.root_cause.fault in ("return", "exception"):
            return case
    raise AssertionError("no code-level fault in the Nezha data")


@pytest.fixture(scope="module")
def replayed(nezha: Path, bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    """The case published once (OTLP proto: gauges, spans, logs) and ingested by one worker."""
    case = code_fault(nezha)
    assert case.telemetry.logs is not None and len(case.telemetry.logs) > 1000
    data_dir = tmp_path_factory.mktemp("replayed")
    tag = data_dir.name[-8:].replace("-", "")
    settings = Settings(
        data_dir=data_dir, kafka_bootstrap=bootstrap, consumer_group=f"g-{tag}", metrics_topic=f"m-{tag}",
        spans_topic=f"s-{tag}", jsonl_topic=f"j-{tag}", logs_topic=f"l-{tag}", logs_jsonl_topic=f"lj-{tag}",
        dlq_topic=f"d-{tag}", log_bucket_seconds=case.step_seconds or 60.0,
        span_bucket_seconds=case.step_seconds or 60.0,
    )  # fmt: skip
    ingest = settings.ingest.with_overrides(poll_timeout_ms=200)
    report = replay(nezha, bootstrap, speed=0, settings=ingest, cases=[case.name])
    assert report.logs == len(case.telemetry.logs)
    store = Store(data_dir=data_dir)
    worker = IngestWorker(ingest, store)
    logs = LogStore(store)
    stats = worker.run(
        until=lambda s: s.points >= report.points and s.spans >= report.spans and s.logs >= report.logs,
        max_seconds=300,
    )
    assert (stats.logs, stats.dead_letters) == (report.logs, 0)
    wait_until(lambda: logs.counts()["records"] == report.logs, 30, "every log record counted")
    yield Replayed(case, report, store, settings)
    store.close()


def test_replay_publishes_the_case_logs_as_the_collector_would(replayed: Replayed) -> None:
    case = replayed.case
    plan = plan_case(case, replayed.settings.ingest, "otlp_proto")
    assert case.telemetry.logs is not None
    assert sum(m.logs for m in plan) == len(case.telemetry.logs)
    assert {m.topic for m in plan if m.logs} == {replayed.settings.ingest.logs_topic}


def test_stored_log_counts_equal_the_offline_case(replayed: Replayed) -> None:
    step = replayed.settings.ingest.log_bucket_seconds
    stored = LogStore(replayed.store, bucket_seconds=step).read_counts(step_seconds=step)
    assert replayed.case.telemetry.logs is not None
    pd.testing.assert_frame_equal(stored, log_counts(replayed.case.telemetry.logs, step), check_dtype=False)


def changed_template(case: Case) -> str:
    """The root-cause service's template whose share of its lines moved most at the fault (offline)."""
    logs = case.telemetry.logs
    assert logs is not None and case.root_cause is not None and case.step_seconds
    own = logs.loc[logs["service"] == case.root_cause.service]
    lines = zip(own["message"], own["level"], strict=True)
    keys = pd.Series([parse_log_line(m, lv or None).template_key for m, lv in lines])
    after = own["time"].to_numpy() >= case.inject_time
    before_rate = keys[~after].value_counts() / max(1, (~after).sum())
    after_rate = keys[after].value_counts() / max(1, after.sum())
    change = after_rate.sub(before_rate, fill_value=0.0).abs()
    return str(change.idxmax())


def test_the_stored_window_ranks_the_root_cause_first_with_the_changed_template(replayed: Replayed) -> None:
    case, settings = replayed.case, replayed.settings
    step = case.step_seconds or 60.0
    times = case.frame.index
    window = window_case(
        replayed.store, settings, float(times[0]) - step, float(times[-1]) + 1e-6, anomaly_time=case.inject_time
    )
    assert window.telemetry.logs is not None
    result = Analyzer().analyze(window, "run")
    top = result.ranked(3)
    assert case.root_cause is not None
    assert top[0].service == case.root_cause.service, [c.service for c in top]
    # The service's log-change candidate carries the templates that changed, with an example line each.
    own = [c.evidence for c in result.ranking.candidates if c.service == top[0].service]
    evidence = json.dumps(own, default=str)
    key = changed_template(case)
    location = _LOCATION.search(key)
    assert (location.group(0) if location else key) in evidence, (key, evidence[:2000])
