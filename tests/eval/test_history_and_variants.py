"""``rca eval --history`` (fit on fault-free history, rows and seconds recorded) and ``--variant``."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from layouts import make_casedir, make_rcaeval_re2

from rca.data import read_case_dir
from rca.eval.runner import fit_data


def eval_json(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = tmp_path / "out.json"
    result = subprocess.run(
        [sys.executable, "-m", "rca", "eval", *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_history_is_what_learning_methods_fit_on(tmp_path: Path) -> None:
    make_casedir(tmp_path / "data")
    plain = eval_json(tmp_path, str(tmp_path / "data"), "-m", "run", "-m", "baro")
    history = eval_json(tmp_path, str(tmp_path / "data"), "-m", "run", "-m", "baro", "--history")
    run_plain, baro_plain = (r["cases"][0] for r in plain["results"])
    run_history, baro_history = (r["cases"][0] for r in history["results"])
    assert run_plain["fit_rows"] == 30, "without --history: the 30 baseline rows"
    assert run_history["fit_rows"] == 40, "with --history: the 40 rows of history.csv"
    assert run_history["fit_seconds"] >= 0 and run_history["error"] is None
    assert baro_plain["fit_rows"] is None and baro_history["fit_rows"] is None, "baro learns nothing"
    assert history["history"] is True and "history" not in plain


def test_fit_data_never_reaches_the_anomaly(tmp_path: Path) -> None:
    make_casedir(tmp_path)
    case = read_case_dir(tmp_path / "c1")
    assert case.history is not None
    assert list(fit_data(case, history=True).frame.columns) == list(case.frame.columns)
    assert fit_data(case, history=False).frame.equals(case.normal().frame)
    leaking = replace(case, history=case.telemetry)
    with pytest.raises(AssertionError, match="reaches the anomaly time"):
        fit_data(leaking, history=True)


def test_variant_red_only_through_the_cli(tmp_path: Path) -> None:
    make_rcaeval_re2(tmp_path / "data")
    report = eval_json(tmp_path, str(tmp_path / "data"), "-m", "baro", "--variant", "red-only")
    assert report["variant"] == "red-only"
    [case] = report["results"][0]["cases"]
    assert case["error"] is None and case["rank"] is not None and case["metric_rank"] is None
    assert set(case["top5"]) == {"frontend", "checkoutservice", "cartservice"}
    result = subprocess.run(
        [sys.executable, "-m", "rca", "eval", str(tmp_path / "data"), "-m", "baro", "--variant", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2 and "unknown variant 'nope'" in result.stderr
