"""The incident watcher over the store: one incident per fault, analysed, closed on recovery."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from server import READ_KEY, live_server

from rca.anomaly.logs import LogNormal
from rca.data import discover
from rca.data.case import Case, Telemetry
from rca.methods import get_method
from rca.registry.models import ModelRegistry
from rca.service import Service
from rca.service import watcher as watcher_module
from rca.service.watcher import IncidentWatcher
from rca.settings import Settings
from rca.store.records import Records
from rca.store.store import Point, Span, Store


def points_of(frame_part: pd.DataFrame) -> list[Point]:
    rows = []
    for column in frame_part.columns:
        service, metric = column.split("_", 1)
        for t, value in frame_part[column].items():
            if np.isfinite(value):
                rows.append(Point(service, metric, float(t), float(value)))
    return rows


def test_watcher_opens_one_incident_and_analyses_it(sock_shop: Path, tmp_path: Path) -> None:
    case = discover(sock_shop / "catalogue-cpu" / "1")[0].load()
    settings = Settings(
        data_dir=tmp_path,
        default_method="baro",
        retrain_cron="",
        span_bucket_seconds=1.0,
        baseline_seconds=600,
        incident_horizon_seconds=120,
        api_keys=f"{READ_KEY}:read",
    )
    store = Store(settings.resolved_store_url)
    service = Service(settings, store=store)
    frame = case.frame
    events = []
    for chunk in np.array_split(np.arange(len(frame)), 20):  # the stream arrives in batches
        store.write(points_of(frame.iloc[chunk]))
        events += service.watcher.watch_once()
        incidents, _ = service.records.list_incidents(limit=10, offset=0)
        if incidents and frame.index[chunk[-1]] < case.inject_time + 120:
            assert incidents[0]["analysis_id"] is None, "analysed before the horizon's data was in"
    opened = [e for e in events if e.kind == "opened"]
    assert len(opened) == 1, events
    assert opened[0].onset == case.inject_time  # the fault's first sample
    assert max(opened[0].symptoms, key=opened[0].symptoms.__getitem__).startswith("catalogue_")

    with live_server(settings, service=service) as base:
        headers = {"Authorization": f"Bearer {READ_KEY}"}
        incidents = httpx.get(f"{base}/v1/incidents", headers=headers).json()
        assert incidents["total"] == 1
        incident_id = incidents["items"][0]["id"]
        deadline = time.monotonic() + 600
        while True:
            incident = httpx.get(f"{base}/v1/incidents/{incident_id}", headers=headers).json()
            finished = incident["analysis"] and incident["analysis"]["status"] in ("done", "failed")
            if finished or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        analysis = incident["analysis"]
        assert analysis["status"] == "done", analysis
        assert analysis["source"] == "incident" and analysis["window"]["anomaly_time"] == opened[0].onset
        # the fault inside the window, the whole normal part before it, 120 s of the fault after it
        assert analysis["window"]["start"] == frame.index[0] and analysis["window"]["end"] == case.inject_time + 120
        assert analysis["ranking"][0]["service"] == "catalogue"
        # filtered by the services its analysis ranks, in the database
        second = next(r["service"] for r in analysis["ranking"] if r["rank"] == 2)
        for params, total in [
            ({"service": "catalogue", "max_rank": 1}, 1),
            ({"service": second}, 1),
            ({"service": second, "max_rank": 1}, 0),
            ({"service": "no-such-service"}, 0),
        ]:
            page = httpx.get(f"{base}/v1/incidents", params={**params, "embed": True}, headers=headers).json()
            assert page["total"] == total and len(page["items"]) == total, (params, page)
        services = httpx.get(f"{base}/v1/services", headers=headers).json()
        assert {s["service"] for s in services} >= {"catalogue", "carts", "orders"}


def test_the_next_incidents_baseline_starts_after_the_last_one_closed(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        default_method="baro",
        retrain_cron="",
        span_bucket_seconds=1.0,
        baseline_seconds=600,
        incident_horizon_seconds=100,
    )
    store = Store(settings.resolved_store_url)
    service = Service(settings, store=store)
    rng = np.random.default_rng(0)
    t = np.arange(1_000.0, 1_500.0)
    a = 1.0 + rng.normal(0, 0.05, len(t)) + np.where((t >= 1_200) & (t < 1_230), 20.0, 0.0)  # fault 1, recovers
    b = 1.0 + rng.normal(0, 0.05, len(t)) + np.where(t >= 1_300, 20.0, 0.0)  # fault 2, lasts
    frame = pd.DataFrame({"a_cpu": a, "b_cpu": b}, index=t)
    events = []
    for chunk in np.array_split(np.arange(len(frame)), 10):
        store.write(points_of(frame.iloc[chunk]))
        events += service.watcher.watch_once()
    assert [(e.kind, e.onset) for e in events] == [("opened", 1_200.0), ("closed", 1_200.0), ("opened", 1_300.0)]
    closed_at = events[1].time
    service._executor.shutdown(wait=True)  # the analyses were started in the background
    incidents, _ = service.records.list_incidents(limit=10, offset=0)
    first, second = sorted(incidents, key=lambda i: i["opened_at"])
    windows = [service.records.get_analysis(i["analysis_id"])["request"]["window"] for i in (first, second)]
    assert windows[0]["anomaly_time"] == 1_200.0 and windows[0]["end"] == closed_at  # analysed on recovery
    assert windows[0]["start"] == 1_000.0
    assert windows[1]["anomaly_time"] == 1_300.0 and windows[1]["end"] == 1_400.0
    assert windows[1]["start"] == closed_at + 1  # a clean baseline: none of the first fault in it


def recorded_reads(store: Store) -> list[float | None]:
    """The ``start`` of every later ``store.read_points`` call, in order."""
    reads: list[float | None] = []
    read_points = store.read_points

    def recorded(start: float | None, end: float | None) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
        reads.append(start)
        return read_points(start, end)

    store.read_points = recorded  # type: ignore[method-assign]
    return reads


def test_watcher_reads_only_new_points(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, default_method="baro", retrain_cron="", span_bucket_seconds=1.0)
    store = Store(settings.resolved_store_url)
    service = Service(settings, store=store)
    reads = recorded_reads(store)
    for t in range(100, 103):
        store.write([Point("carts", "cpu", float(t), 0.5), Point("carts", "mem", float(t), 0.7)])
        assert service.watcher.watch_once() == []
    # The first poll reads from the oldest point (fewer than the detector keeps), later ones only what is new.
    assert reads[0] == 100.0 and reads[1] is not None and reads[2] is not None and reads[2] > reads[1]


def test_watchers_first_poll_reads_only_the_history_the_detector_keeps(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, default_method="baro", retrain_cron="", span_bucket_seconds=1.0)
    store = Store(settings.resolved_store_url)
    # carts/cpu every second from 0, carts/mem every 10 s from 0, orders/cpu (young) from 80 on.
    store.write([Point("carts", "cpu", float(t), 0.5) for t in range(100)])
    store.write([Point("carts", "mem", float(t), 0.7) for t in range(0, 100, 10)])
    store.write([Point("orders", "cpu", float(t), 0.2) for t in range(80, 100)])
    assert store.history_start(5) == 50.0  # the 5th newest of carts/mem
    assert store.history_start(20) == 0.0  # carts/mem has fewer: all of it
    assert Store(f"sqlite:///{tmp_path / 'empty.sqlite'}").history_start(5) is None
    service = Service(settings, store=store)
    service.watcher.detector.history_points = 5
    reads = recorded_reads(store)
    service.watcher.watch_once()
    assert reads == [50.0]


def test_an_incident_whose_stream_stops_is_analysed_on_what_is_stored(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        retrain_cron="",
        span_bucket_seconds=1.0,
        baseline_seconds=600,
        incident_horizon_seconds=100,
        incident_quiet_seconds=60,
    )
    store = Store(settings.resolved_store_url)
    submitted: list[Case] = []

    def submit(case: Case, source: str) -> dict[str, Any]:
        submitted.append(case)
        return records.create_analysis({"source": source})

    records = Records(store)
    now = [0.0]
    watcher = IncidentWatcher(settings, store, records, submit, clock=lambda: now[0])
    rng = np.random.default_rng(0)
    t = np.arange(1_000.0, 1_250.0)  # the fault at 1200, the data stops 50 s later: before the 100 s horizon
    frame = pd.DataFrame({"a_cpu": 1.0 + rng.normal(0, 0.05, len(t)) + np.where(t >= 1_200, 20.0, 0.0)}, index=t)
    for chunk in np.array_split(np.arange(len(frame)), 5):
        store.write(points_of(frame.iloc[chunk]))
        watcher.watch_once()
        now[0] += 1.0
    assert [i["summary"]["onset"] for i in records.list_incidents(limit=10, offset=0)[0]] == [1_200.0]
    now[0] += 58.0
    watcher.watch_once()
    assert submitted == [], "analysed before the stream had been quiet for incident_quiet_seconds"
    now[0] += 2.0
    watcher.watch_once()
    assert len(submitted) == 1
    case = submitted[0]
    assert case.inject_time == 1_200.0 and case.frame.index[0] == 1_000.0 and case.frame.index[-1] == 1_249.0
    incident = records.list_incidents(limit=10, offset=0)[0][0]
    assert incident["analysis_id"] is not None
    watcher.watch_once()
    assert len(submitted) == 1, "analysed once"


@pytest.mark.parametrize(("poll_every", "read_seconds"), [(20, 3_600.0), (2_200, 3_600.0), (2_200, 100.0)])
def test_a_service_that_sends_only_traces_gets_incidents_from_its_span_latency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, poll_every: int, read_seconds: float
) -> None:
    """The detector watches what the ranking scores, trace-derived series included; polled as the data comes
    or once over all of it (a start-up), the spans read whole or an hour (here: 100 s) at a time."""
    monkeypatch.setattr(watcher_module, "SPAN_READ_SECONDS", read_seconds)
    settings = Settings(data_dir=tmp_path, retrain_cron="", span_bucket_seconds=10.0, incident_horizon_seconds=100)
    store = Store(settings.resolved_store_url, span_step_seconds=10.0)
    records = Records(store)
    watcher = IncidentWatcher(settings, store, records, lambda case, source: records.create_analysis({}))
    rng = np.random.default_rng(1)
    fault = 3_000.0
    for second in range(1_000, 3_200, poll_every):  # two spans a second
        spans = []
        for i in range(2 * poll_every):
            start = second + i / 2
            latency = 0.05 * (1 + 0.1 * rng.random()) * (40 if start >= fault else 1)
            spans.append(Span(f"{start:.1f}", f"{start:.1f}", "", "api", "GET /", int(start * 1e9),
                              int((start + latency) * 1e9), None))  # fmt: skip
        store.write([], spans)
        watcher.watch_once()
    incidents, _ = records.list_incidents(limit=10, offset=0)
    assert len(incidents) == 1, incidents
    summary = incidents[0]["summary"]
    assert summary["onset"] == fault + 10.0  # the first bucket [T - 10, T) with the fault's spans, keyed by T
    assert all(s.startswith("api_spans:") for s in summary["symptoms"]), summary["symptoms"]


def test_the_watcher_baselines_on_the_registered_models_normal(tmp_path: Path) -> None:
    """The detector takes each series' normal median and spread, and the log feed the normal log mix, from
    the promoted model, through the method's public interface (``normal_ranges``, ``normal_logs``)."""
    rng = np.random.default_rng(0)
    index = np.arange(200, dtype=float)
    frame = pd.DataFrame({"carts_cpu": rng.normal(0.5, 0.1, 200), "carts_mem": rng.normal(70.0, 2.0, 200)}, index=index)
    logs = pd.DataFrame(
        {"time": index[::2], "service": "carts", "level": "INFO", "message": [f"GET /cart/{i} 200" for i in range(100)]}
    )
    history = Telemetry.from_frame(frame, logs=logs)
    method = get_method("run", min_fit_rows=10**9).fit(history)  # the normal statistics, no forecaster
    registry = ModelRegistry(tmp_path / "models")
    registry.promote(registry.register(method, history).version)
    settings = Settings(data_dir=tmp_path, default_method="run", retrain_cron="", span_bucket_seconds=1.0)
    store = Store(settings.resolved_store_url)
    records = Records(store)
    watcher = IncidentWatcher(settings, store, records, lambda case, source: "", registry=registry)
    assert watcher.detector.prior == {}
    store.write([Point("carts", "cpu", 300.0, 0.5)])
    watcher.watch_once()
    assert set(watcher.detector.prior) == {"carts_cpu", "carts_mem"}
    assert watcher.detector.prior == method.normal_ranges()
    median, spread = watcher.detector.prior["carts_mem"]
    assert median == pytest.approx(np.median(frame["carts_mem"])) and 1.0 < spread < 5.0  # an IQR of sd 2
    assert isinstance(watcher.log_feed.prior, LogNormal) and set(watcher.log_feed.prior.services_) == {"carts"}
