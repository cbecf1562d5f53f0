"""`rca serve` as a process (rca.api.client.ServeProcess): ready when it answers, stopped with its group,
and a start that fails says why with the server's own output."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from rca.api.client import ServeError, ServeProcess


def test_a_started_server_answers_and_is_gone_after_the_block(tmp_path: Path) -> None:
    env = {"RCA_DATA_DIR": str(tmp_path / "data"), "RCA_API_KEYS": "", "RCA_RETRAIN_CRON": ""}
    with ServeProcess(log=tmp_path / "serve.log", env=env) as server:
        assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200
        process = server.process
        assert process is not None and process.poll() is None
    assert process.poll() is not None, "stopped when the block ends"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.base_url}/healthz", timeout=2)


def test_a_server_that_exits_at_start_raises_with_its_output(tmp_path: Path) -> None:
    env = {"RCA_DATA_DIR": str(tmp_path / "data"), "RCA_DEFAULT_K": "many"}
    server = ServeProcess(log=tmp_path / "serve.log", env=env)
    with pytest.raises(ServeError, match="exited with code 2") as raised:
        server.start()
    assert "RCA_DEFAULT_K" in str(raised.value), "the server's own message, not just that it failed"
    assert server.process is not None and server.process.poll() is not None
