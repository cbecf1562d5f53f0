"""The README's main job end to end: broker, `rca serve --ingest`, replay, a detected incident, its ranking."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from server import free_port

from rca.demo import PID_FILE

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kafka_broker import KafkaBroker

RCA = [sys.executable, "-m", "rca"]


@pytest.mark.kafka
def test_demo_on_a_random_case_detects_the_incident_and_ranks_the_root_cause_first(
    sock_shop: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "demo"
    port = free_port()
    with KafkaBroker() as broker:
        try:
            result = subprocess.run(
                [
                    *RCA,
                    "demo",
                    "--dataset",
                    str(sock_shop),
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
            case = re.search(r"replaying (\S+)", result.stdout)
            assert case is not None, result.stdout
            truth = case.group(1).rsplit("-", 1)[0]  # the demo chose the case: <service>-<fault>/<run>
            first_row = next(line for line in result.stdout.splitlines() if line.startswith("│ 1 "))
            assert truth in first_row and "true root cause" in first_row, result.stdout
            assert f"Root cause: {truth}" in result.stdout
            # one number per series: the table's robust z of the top cause is the explanation's
            robust_z = first_row.split("│")[4].strip()
            assert f"robust z {robust_z})" in " ".join(result.stdout.split()), result.stdout
            # each time with its clock
            assert re.search(r"onset \S+ \S+ UTC in data time; .* in the recording", " ".join(result.stdout.split()))
            assert "on the service's wall clock" in " ".join(result.stdout.split())
            incident_id = httpx.get(f"http://127.0.0.1:{port}/v1/incidents", timeout=10).json()["items"][0]["id"]
            assert f"http://127.0.0.1:{port}/incidents/{incident_id}" in result.stdout, "the page's URL is printed"
            incidents = httpx.get(f"http://127.0.0.1:{port}/v1/incidents", timeout=10).json()
            assert incidents["total"] == 1, "one fault, one incident: no storm of duplicates"
            incident = incidents["items"][0]
            assert incident["analysis_id"]
            log = (data_dir / "serve.log").read_text()
            assert f"incident opened id={incident['id']}" in log, log[-3000:]
            assert f"analysis done id={incident['analysis_id']} source=incident" in log, log[-3000:]
        finally:
            pid_file = data_dir / PID_FILE
            pid = int(pid_file.read_text()) if pid_file.exists() else None
            stopped = subprocess.run(
                [*RCA, "demo", "--stop", "--data-dir", str(data_dir)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
    assert "stopped the demo server" in stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 120
    while pid is not None and running(pid) and time.monotonic() < deadline:  # the log is complete once it exits
        time.sleep(0.2)
    assert pid is None or not running(pid), "the demo server did not stop"
    assert "nanobind" not in (data_dir / "serve.log").read_text(), "no leak report at exit"


def running(pid: int) -> bool:
    """Whether process ``pid`` is alive (a zombie counts as stopped)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except OSError:
        return False


def test_a_demo_run_reads_only_its_own_topics() -> None:
    from rca.demo import run_topics
    from rca.settings import IngestSettings

    default = IngestSettings()
    run = default.with_overrides(**run_topics("20260101000000"))
    assert set(run.topics()).isdisjoint(default.topics()), "no input topic (logs included) is shared with other runs"
    assert set(run.topics()).isdisjoint(default.with_overrides(**run_topics("20260101000001")).topics())
