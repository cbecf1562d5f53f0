"""The README's main job end to end: broker, `rca serve --ingest`, replay, a detected incident, its ranking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from server import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kafka_broker import KafkaBroker

RCA = [sys.executable, "-m", "rca"]


@pytest.mark.kafka
def test_demo_detects_the_incident_and_ranks_the_root_cause_first(sock_shop: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    port = free_port()
    with KafkaBroker() as broker:
        try:
            result = subprocess.run(
                [
                    *RCA,
                    "demo",
                    "--case",
                    str(sock_shop / "catalogue-cpu" / "1"),
                    "--bootstrap",
                    broker.bootstrap,
                    "--port",
                    str(port),
                    "--speed",
                    "50",
                    "--data-dir",
                    str(data_dir),
                ],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr + (data_dir / "serve.log").read_text()
            first_row = next(line for line in result.stdout.splitlines() if line.startswith("│ 1 "))
            assert "catalogue" in first_row and "true root cause" in first_row, result.stdout
            assert "Root cause: catalogue" in result.stdout
            incident_id = httpx.get(f"http://127.0.0.1:{port}/v1/incidents", timeout=10).json()["items"][0]["id"]
            assert f"http://127.0.0.1:{port}/incidents/{incident_id}" in result.stdout, "the page's URL is printed"
            incidents = httpx.get(f"http://127.0.0.1:{port}/v1/incidents", timeout=10).json()
            assert incidents["total"] == 1, "one fault, one incident: no storm of duplicates"
            assert incidents["items"][0]["analysis_id"]
        finally:
            stopped = subprocess.run(
                [*RCA, "demo", "--stop", "--data-dir", str(data_dir)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
    assert "stopped the demo server" in stopped.stdout + stopped.stderr
