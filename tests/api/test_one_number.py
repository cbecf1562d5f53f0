"""One number per fact: an incident's analysis scores each series once, and every view shows that score.

The service watches a replayed sock-shop fault, opens an incident, analyses it with the default method;
then the ranking's evidence, the analysis' series scores, the explanation, the incident's symptoms (the
JSON the web pages render) all give a series the same robust z, and each time says its clock.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from server import READ_KEY, live_server
from test_incidents import points_of

from rca.data import discover
from rca.explain.evidence import format_number
from rca.service import Service
from rca.settings import Settings
from rca.store.store import Store


def test_a_series_has_one_score_in_every_view_and_each_time_its_clock(sock_shop: Path, tmp_path: Path) -> None:
    case = discover(sock_shop / "catalogue-cpu" / "1")[0].load()
    settings = Settings(
        data_dir=tmp_path,
        retrain_cron="",
        span_bucket_seconds=1.0,
        baseline_seconds=600,
        incident_horizon_seconds=120,
        api_keys=f"{READ_KEY}:read",
    )
    assert settings.default_method == "run"  # the method whose own anomaly score is not a robust z
    store = Store(settings.resolved_store_url)
    service = Service(settings, store=store)
    frame = case.frame
    wall_before = time.time()
    events = []
    for chunk in np.array_split(np.arange(len(frame)), 20):
        store.write(points_of(frame.iloc[chunk]))
        events += service.watcher.watch_once()
    wall_after = time.time()
    opened = [e for e in events if e.kind == "opened"]
    assert len(opened) == 1, events

    headers = {"Authorization": f"Bearer {READ_KEY}"}
    with live_server(settings, service=service) as base:
        incident_id = httpx.get(f"{base}/v1/incidents", headers=headers).json()["items"][0]["id"]
        deadline = time.monotonic() + 600
        while True:
            incident = httpx.get(f"{base}/v1/incidents/{incident_id}", headers=headers).json()
            if incident["analysis"] and incident["analysis"]["status"] in ("done", "failed"):
                break
            assert time.monotonic() < deadline, incident
            time.sleep(0.2)
        analysis = incident["analysis"]
        assert analysis["status"] == "done", analysis
        explanation = httpx.post(f"{base}/v1/analyses/{analysis['id']}/explanation", headers=headers, timeout=60)
        assert explanation.status_code == 200, explanation.text
        explained = explanation.json()
        schema = httpx.get(f"{base}/openapi.json", headers=headers).json()["components"]["schemas"]

    robust_z = analysis["robust_z"]
    assert set(robust_z) <= set(frame.columns) and len(robust_z) > 30  # every series the analysis kept, once
    # the ranking's evidence shows each series' robust z beside (not instead of) the method's own measure
    ranked = [item for item in analysis["ranking"] if item["metric"] in robust_z]
    assert ranked
    for item in ranked:
        assert item["evidence"]["robust_z"] == robust_z[item["metric"]]
    differs = [i for i in ranked if i["evidence"]["anomaly_score"] != pytest.approx(abs(i["evidence"]["robust_z"]))]
    assert differs, "run's anomaly score is a different quantity: a different name, not a second robust z"

    # the explanation tells the same numbers, in its parts and in its text
    root = explained["root_cause"]
    assert root["metric"] == analysis["ranking"][0]["metric"]
    assert root["numbers"]["robust_z"] == robust_z[root["metric"]]
    first = explained["first_symptom"]["numbers"]
    assert first["robust_z"] == robust_z[first["column"]]
    for part in (root["numbers"], first):
        assert f"robust z {format_number(robust_z[part['column']])})" in explained["summary"]
    for note in explained["candidates"]:
        if note["numbers"] is not None:
            assert note["numbers"]["robust_z"] == robust_z[note["metric"]]
            assert f"robust z {format_number(robust_z[note['metric']])})" in note["text"]

    # the incident's symptoms: the analysis' robust z, and the detector's statistic under its own name
    assert set(incident["symptoms"]) == set(opened[0].symptoms)
    for series, symptom in incident["symptoms"].items():
        assert symptom["robust_z"] == robust_z.get(series)  # null for a series the analysis did not keep
        assert symptom["detection_score"] >= settings.detector_threshold
    opener = max(opened[0].symptoms, key=opened[0].symptoms.__getitem__)
    assert opener in robust_z
    assert incident["symptoms"][opener]["detection_score"] == opened[0].symptoms[opener]
    assert incident["symptoms"][opener]["detection_score"] != pytest.approx(robust_z[opener])

    # times: onset and detection on the data's clock (they match the data), opened_at on the wall clock
    assert incident["onset"] == case.inject_time
    assert incident["detected_data_time"] == opened[0].time
    assert frame.index[0] <= incident["detected_data_time"] <= frame.index[-1]
    assert wall_before <= incident["opened_at"] <= wall_after
    fields = schema["Incident"]["properties"]
    for name in ("onset", "detected_data_time", "recovered_data_time"):
        assert "data time" in fields[name]["description"], name
    for name in ("opened_at", "closed_at"):
        assert "wall clock" in fields[name]["description"], name
