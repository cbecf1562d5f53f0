"""``rca eval`` and ``rca convert`` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RCA = [sys.executable, "-m", "rca"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RCA, *args], capture_output=True, text=True, timeout=300, check=False)


def test_eval_writes_the_contract_json(sock_shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run("eval", str(sock_shop), "--method", "baro", "--method", "random", "--limit", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "baro" in result.stdout and "Avg@5" in result.stdout
    report = json.loads(out.read_text())
    assert report["dataset"] == str(sock_shop)
    assert [r["method"] for r in report["results"]] == ["baro", "random"]
    baro = report["results"][0]
    assert baro["params"] == {"direction": "up"}
    summary = baro["summary"]
    for key in (
        "cases",
        "AC@1",
        "AC@3",
        "AC@5",
        "Avg@5",
        "metric_AC@1",
        "metric_Avg@5",
        "seconds_median",
        "seconds_total",
        "rank_seconds_median",
        "errors",
    ):
        assert key in summary
    assert summary["cases"] == 3 and summary["errors"] == 0
    first = baro["cases"][0]
    assert first["case"] == "carts-cpu/1" and first["root_cause"] == "carts" and first["fault"] == "cpu"
    assert isinstance(first["rank"], int) and isinstance(first["metric_rank"], int)
    assert len(first["top5"]) == 5 and first["error"] is None and first["seconds"] >= first["rank_seconds"] >= 0


def test_eval_runs_on_nezha(nezha: Path, tmp_path: Path) -> None:
    out = tmp_path / "nz.json"
    result = run("eval", str(nezha), "-m", "baro", "--limit", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())["results"][0]["summary"]
    assert summary["cases"] == 2 and summary["errors"] == 0


def test_eval_errors_are_clear(sock_shop: Path, tmp_path: Path) -> None:
    result = run("eval", str(tmp_path / "missing"), "-m", "baro")
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = run("eval", str(sock_shop), "-m", "nope")
    assert result.returncode == 2 and "unknown method 'nope'" in result.stderr


def test_convert_then_eval_the_converted_cases(nezha: Path, tmp_path: Path) -> None:
    result = run("convert", str(nezha), str(tmp_path / "cases"), "--limit", "1")
    assert result.returncode == 0, result.stderr
    case_dir = tmp_path / "cases" / "2023-01-29" / "00-ts-contacts-service-return"
    assert (case_dir / "data.csv").is_file() and (case_dir / "traces.csv").is_file()
    assert json.loads((case_dir / "root_cause.json").read_text())["service"] == "ts-contacts-service"
    result = run("eval", str(tmp_path / "cases"), "-m", "nsigma", "--json", str(tmp_path / "o.json"))
    assert result.returncode == 0, result.stderr


def test_param_values_parse_as_json_and_python_booleans() -> None:
    from rca.cli import _parse_param

    assert _parse_param("run.pagerank=False") == ("run", "pagerank", False)
    assert _parse_param("run.pagerank=true") == ("run", "pagerank", True)
    assert _parse_param("run.mix=0.5") == ("run", "mix", 0.5)
    assert _parse_param("baro.direction=up") == ("baro", "direction", "up")
