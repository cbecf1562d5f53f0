"""The command line as a new user meets it: version, help that reads as words, whole lines when redirected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rca.cli import app
from rca.methods import METHODS


def rca(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rca", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_version() -> None:
    result = rca("--version")
    assert result.returncode == 0 and result.stdout.startswith("rca "), result.stderr


def test_help_names_methods_and_values_in_words() -> None:
    helps = {name: rca(name, "--help") for name in [c.name for c in app.registered_commands if c.name]}
    for name, result in helps.items():
        assert result.returncode == 0, (name, result.stderr)
        for raw in ("<bool>", "<list", "<str>", "<int>", "<float>", "``"):
            assert raw not in result.stdout, (name, raw, result.stdout)
    assert all(method in helps["eval"].stdout for method in METHODS)
    assert "RCA_CONSUMER_GROUP" in helps["ingest"].stdout and "RCA_KAFKA_GROUP" not in helps["ingest"].stdout


def test_redirected_output_keeps_long_lines_whole(sock_shop: Path, tmp_path: Path) -> None:
    destination = tmp_path / ("long-directory-name-" * 6)
    result = rca("convert", str(sock_shop / "carts-cpu" / "1"), str(destination))
    assert result.returncode == 0, result.stderr
    assert f"under {destination}" in result.stderr, "one line, not wrapped at 80 columns"
