"""Model registry, retraining jobs, readiness, metrics and the loopback rule, over a real server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from server import ADMIN_KEY, READ_KEY, finished_analysis, live_server

from rca.data import discover
from rca.data.preprocess import preprocess
from rca.methods import get_method
from rca.registry import ModelRegistry, RegistryError
from rca.registry.training import not_worse
from rca.service import Service
from rca.settings import Settings
from rca.store.store import Point, Store

READ = {"Authorization": f"Bearer {READ_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def small_run() -> object:
    return get_method("run", pretrain_epochs=1, epochs=10, min_fit_rows=30)


def test_registry_versions_promotion_and_reload(sock_shop: Path, tmp_path: Path) -> None:
    case = preprocess(discover(sock_shop / "carts-cpu" / "1")[0].load())
    registry = ModelRegistry(tmp_path / "models")
    assert registry.current() is None and registry.records() == []
    method = small_run().fit(case.normal())  # type: ignore[attr-defined]
    first = registry.register(method, case.normal(), validation={"validation_mse": 0.5})
    second = registry.register(method, case.normal(), validation={"validation_mse": 0.4})
    assert [r.version for r in registry.records()] == ["v0001", "v0002"]
    assert first.fingerprint == second.fingerprint and len(first.fingerprint) == 64
    assert first.training_start == case.normal().frame.index[0] and first.series == case.frame.shape[1]
    assert registry.current() is None, "registering does not promote"
    registry.promote("v0002")
    assert registry.current() == second
    loaded = registry.load()
    original = [(c.metric, round(c.score, 9)) for c in method.rank(case).candidates]
    assert [(c.metric, round(c.score, 9)) for c in loaded.rank(case).candidates] == original
    try:
        registry.get("v0099")
    except RegistryError as exc:
        assert "known: v0001, v0002" in str(exc)
    else:
        raise AssertionError("an unknown version must raise")


def test_retrain_job_registers_and_promotes_only_if_not_worse(sock_shop: Path, tmp_path: Path) -> None:
    case = discover(sock_shop / "carts-cpu" / "1")[0].load()
    settings = Settings(
        data_dir=tmp_path,
        api_keys=f"{READ_KEY}:read,{ADMIN_KEY}:admin",
        retrain_cron="",
        training_hours=1.0,
        default_method="run",
        span_bucket_seconds=1.0,
    )
    store = Store(settings.resolved_store_url)
    normal = case.normal().frame
    store.write(
        [
            Point(*column.split("_", 1), float(t), float(v))
            for column in normal.columns
            for t, v in normal[column].items()
            if np.isfinite(v)
        ]
    )
    service = Service(settings, store=store)
    with live_server(settings, service=service) as base:
        unready = httpx.get(f"{base}/readyz")
        assert unready.status_code == 200, "analyses work without a model: they fit on each case's baseline"
        assert unready.json()["checks"]["model"]["version"] is None
        assert "no model registered" in unready.json()["checks"]["model"]["note"]
        job = httpx.post(f"{base}/v1/models/retrain", headers=ADMIN)
        assert job.status_code == 202 and job.headers["location"] == f"/v1/jobs/{job.json()['id']}"
        deadline = time.monotonic() + 300
        while (state := httpx.get(f"{base}{job.headers['location']}", headers=READ).json())["status"] not in (
            "done",
            "failed",
        ) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert state["status"] == "done", state
        assert state["detail"]["version"] == "v0001" and state["detail"]["promoted"] is True
        models = httpx.get(f"{base}/v1/models", headers=READ).json()
        assert [(m["version"], m["current"]) for m in models] == [("v0001", True)]
        assert models[0]["method"] == "run" and models[0]["validation"]["validation_mse"] >= 0
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["model"]["version"] == "v0001"
        metrics = httpx.get(f"{base}/metrics").text
        for name in (
            "rca_http_requests_total",
            "rca_model_age_seconds",
            "rca_retrains_total",
            "rca_analyses_total",
            "rca_incidents_open",
            "rca_ingest_lag_seconds",
        ):
            assert name in metrics, name
        # an analysis now uses the registered model
        frame = case.frame
        body = {
            "case": {
                "time": frame.index.tolist(),
                "series": {c: frame[c].tolist() for c in frame.columns},
                "inject_time": case.inject_time,
            },
            "method": "run",
        }
        analysis = finished_analysis(
            base, httpx.post(f"{base}/v1/analyses", json=body, headers=READ, timeout=120), READ
        )
        assert analysis["model_version"] == "v0001" and "fit" in analysis["timings"]
        assert analysis["ranking"][0]["service"] == "carts"
    assert not_worse(0.5, 0.49) and not not_worse(0.6, 0.5) and not_worse(0.1, None) and not not_worse(None, 0.5)


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rca", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"RCA_DATA_DIR": str(tmp_path), "PATH": ""},
    )
    assert result.returncode != 0
    assert "refusing to bind 0.0.0.0 without API keys" in result.stderr


def test_rca_train_registers_a_model_from_a_case(sock_shop: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rca", "train", str(sock_shop / "carts-cpu" / "1"), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"RCA_DEFAULT_METHOD": "run", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "registered v0001 (run" in result.stdout + result.stderr
    assert "leaked" not in result.stderr, "no nanobind leak report at exit"
    current = ModelRegistry(tmp_path / "models").current()
    assert current is not None and current.version == "v0001" and current.training_end is not None
