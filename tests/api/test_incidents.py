"""The incident watcher over the store: one incident per fault, analysed, closed on recovery."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from conftest import READ_KEY
from server import live_server

from rca.data import discover
from rca.service import Service
from rca.settings import Settings
from rca.store.store import Point, Store


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
        detector_open_after=10,
        detector_close_after=30,
        span_bucket_seconds=1.0,
        baseline_seconds=240,
        api_keys=f"{READ_KEY}:read",
    )
    store = Store(settings.resolved_store_url)
    service = Service(settings, store=store)
    frame = case.frame
    events = []
    for chunk in np.array_split(np.arange(len(frame)), 20):  # the stream arrives in batches
        store.write(points_of(frame.iloc[chunk]))
        events += service.watcher.watch_once()
    opened = [e for e in events if e.kind == "opened"]
    assert len(opened) == 1, events
    assert abs(opened[0].onset - case.inject_time) <= 5
    assert "catalogue_lat_90" in opened[0].symptoms or "catalogue_lat_99" in opened[0].symptoms

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
        assert analysis["ranking"][0]["service"] == "catalogue"
        services = httpx.get(f"{base}/v1/services", headers=headers).json()
        assert {s["service"] for s in services} >= {"catalogue", "carts", "orders"}


def test_watcher_reads_only_new_points_when_none_is_a_symptom(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, default_method="baro", retrain_cron="", span_bucket_seconds=1.0)
    store = Store(settings.resolved_store_url)
    service = Service(settings, store=store)
    reads: list[float | None] = []
    read_points = store.read_points

    def recorded(start: float | None, end: float | None) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
        reads.append(start)
        return read_points(start, end)

    store.read_points = recorded  # type: ignore[method-assign]
    for t in range(100, 103):  # cpu and memory only: nothing the watcher treats as a symptom
        store.write([Point("carts", "cpu", float(t), 0.5), Point("carts", "mem", float(t), 0.7)])
        assert service.watcher.watch_once() == []
    assert reads[0] is None and reads[1] is not None and reads[2] is not None and reads[2] > reads[1]
