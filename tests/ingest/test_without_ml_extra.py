"""Without the ``ml`` extra (torch, matplotlib): `rca serve --ingest` ingests and answers reads; a method that
needs torch fails with one line saying what to install.

The server runs in a child process whose imports of torch and matplotlib fail as if they were not
installed (a ``sitecustomize`` on its ``PYTHONPATH``, inherited by its analysis workers), and which writes
down every attempt to import them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer

from rca.api.client import ServeProcess
from rca.ingest.encode import encode_metrics, encode_spans
from rca.ingest.otlp_logs import encode_logs

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
KEY = "no-ml-read-key"
T0 = 1_700_000_000
SECONDS = 200
ANOMALY = T0 + 150

SHIM = '''
import os, sys

class _NotInstalled:
    """torch and matplotlib as if not installed; every attempt is written to RCA_TEST_BLOCKED_LOG."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "matplotlib"):
            with open(os.environ["RCA_TEST_BLOCKED_LOG"], "a") as fh:
                fh.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
'''


def publish(bootstrap: str, topics: dict[str, str]) -> None:
    """200 s of two services' metrics (the back end's CPU rises at ANOMALY), calls between them, log lines."""
    groups: dict[str, list[tuple[str, int, float]]] = {"front": [], "back": []}
    for i in range(SECONDS):
        ns = (T0 + i) * 10**9
        groups["front"] += [("latency", ns, 10.0 + i % 3), ("cpu", ns, 0.2 + 0.01 * (i % 5))]
        groups["back"] += [("cpu", ns, (0.9 if T0 + i >= ANOMALY else 0.3) + 0.01 * (i % 4))]
    spans = [
        {"trace_id": f"{i:032x}", "span_id": f"{2 * i + 1:016x}", "parent_span_id": parent, "service": service,
         "operation": "get", "start_ns": (T0 + i) * 10**9, "end_ns": (T0 + i) * 10**9 + 5_000_000, "status_code": 0}
        for i in range(0, SECONDS, 5)
        for service, parent in (("front", ""), ("back", f"{2 * i + 1:016x}"))
    ]  # fmt: skip
    logs = [{"time": T0 + i, "service": "back", "level": "INFO", "message": f"handled request {i}"} for i in range(40)]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topics["RCA_METRICS_TOPIC"], encode_metrics(groups, "otlp_proto"))
    producer.send(topics["RCA_SPANS_TOPIC"], encode_spans(spans, "otlp_proto"))
    producer.send(topics["RCA_LOGS_TOPIC"], encode_logs(logs, "otlp_proto"))
    producer.flush(60)
    producer.close(30)


def without_ml(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment of a child process without torch and matplotlib, and the file of its import attempts."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM)
    blocked = tmp_path / "blocked.log"
    blocked.touch()
    path = os.pathsep.join([str(shim), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "RCA_TEST_BLOCKED_LOG": str(blocked)}, blocked


@pytest.fixture()
def server(bootstrap: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`rca serve --ingest` without torch and matplotlib: (base URL, the file of blocked import attempts)."""
    base_env, blocked = without_ml(tmp_path)
    tag = uuid.uuid4().hex[:8]
    topics = {f"RCA_{s}_TOPIC": f"noml-{s.lower()}-{tag}" for s in ("METRICS", "SPANS", "JSONL", "LOGS", "LOGS_JSONL")}
    env = {
        **base_env,
        **topics,
        "RCA_DATA_DIR": str(tmp_path / "data"),
        "RCA_KAFKA_BOOTSTRAP": bootstrap,
        "RCA_CONSUMER_GROUP": f"noml-{tag}",
        "RCA_DLQ_TOPIC": f"noml-dlq-{tag}",
        "RCA_SPAN_BUCKET_SECONDS": "1",
        "RCA_RETRAIN_CRON": "",
        "RCA_ANALYSIS_PROCESSES": "1",
        "RCA_API_KEYS": f"{KEY}:read",
    }
    with ServeProcess(log=tmp_path / "serve.log", env=env, ingest=True, startup_timeout=300, cwd=ROOT) as process:
        publish(bootstrap, topics)
        yield process.base_url, blocked


def analysis(base: str, method: str) -> dict[str, Any]:
    """A window analysis of the published data with ``method``, polled until finished."""
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"start": T0, "end": T0 + SECONDS, "anomaly_time": ANOMALY, "method": method}
    created = httpx.post(f"{base}/v1/analyses", json=body, headers=headers, timeout=120)
    assert created.status_code in (201, 202), created.text
    record: dict[str, Any] = created.json()
    deadline = time.monotonic() + 300
    while record["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        record = httpx.get(f"{base}/v1/analyses/{record['id']}", headers=headers, timeout=30).json()
    return record


def test_serve_ingest_reads_and_analyses_without_torch_and_matplotlib(server: tuple[str, Path]) -> None:
    base, blocked = server
    headers = {"Authorization": f"Bearer {KEY}"}
    deadline = time.monotonic() + 180
    services: dict[str, Any] = {}
    while time.monotonic() < deadline:  # ingest (decode + store) through Kafka, then the read API
        listed = httpx.get(f"{base}/v1/services", headers=headers, timeout=30)
        assert listed.status_code == 200, listed.text
        services = {s["service"]: s for s in listed.json()}
        if services.get("front", {}).get("series", 0) >= 2 and services.get("back", {}).get("series", 0) >= 1:
            break
        time.sleep(0.5)
    assert {"front", "back"} <= set(services), services
    done = analysis(base, "baro")
    assert done["status"] == "done", done
    assert done["ranking"][0]["service"] == "back"
    assert blocked.read_text() == "", "nothing so far may have tried to import torch or matplotlib"

    failed = analysis(base, "run")  # fits the neural Granger model on the window's baseline: needs torch
    assert failed["status"] == "failed", failed
    error = failed["error"]
    assert "needs torch, which is not installed" in error and "pip install '.[ml]'" in error, error
    assert "\n" not in error and "Traceback" not in error
    assert blocked.read_text().split()[0] == "torch"


def test_training_without_torch_says_what_to_install(sock_shop: Path, tmp_path: Path) -> None:
    env, blocked = without_ml(tmp_path)
    env["RCA_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "rca", "train", str(sock_shop / "carts-cpu" / "1")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "needs torch, which is not installed" in lines[0], lines
    assert "pip install '.[ml]'" in lines[0]
    assert blocked.read_text().split()[0] == "torch"
