"""Datasets of every supported layout, on small fixtures built in exactly that layout (tests/layouts.py)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from layouts import NEZHA_FAULTS, T0, make_casedir, make_nezha, make_rcaeval_re1, make_rcaeval_re2, make_rcaeval_re3

from rca.data import discover, read_case_dir, write_case_dir
from rca.data.rcaeval import read_rcaeval_logs, read_rcaeval_spans
from rca.errors import DataError

NOTES = "rca.data"


def notes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == NOTES]


def test_nezha_online_boutique_reads_its_call_graph_and_skips_other_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_nezha(tmp_path)
    caplog.set_level(logging.WARNING, logger=NOTES)
    refs = discover(tmp_path)
    assert [r.layout for r in refs] == ["nezha", "nezha"]
    case = refs[0].load()
    assert case.telemetry.graph == (("checkoutservice", "cartservice"), ("frontend", "checkoutservice"))
    [skipped] = [m for m in notes(caplog) if "skipped" in m]
    assert "destination_50.csv, source_50.csv" in skipped and "dependency.csv" not in skipped
    # the real service `frontend` (pod metrics and spans) and the SLI keep apart
    columns = set(case.frame.columns)
    assert {"frontend_cpu_usage_rate", "frontend_spans:latency_p50", "frontend_spans:request_rate"} <= columns
    assert {"front-service_success_rate", "front-service_latency_p50"} <= columns
    assert case.telemetry.series["front-service_latency_p50"] == ("front-service", "latency_p50")
    assert case.telemetry.series["frontend_spans:latency_p50"] == ("frontend", "spans:latency_p50")
    assert not any(c.startswith("frontend_node") for c in columns)


def test_nezha_sli_name_does_not_depend_on_the_other_files(tmp_path: Path) -> None:
    make_nezha(tmp_path / "tt", online_boutique=False)
    make_nezha(tmp_path / "ob")
    names = [
        {c for c in discover(tmp_path / d)[0].load().frame.columns if c.startswith("front-")} for d in ("tt", "ob")
    ]
    assert (
        names[0] == names[1] == {"front-service_success_rate", "front-service_latency_p50", "front-service_latency_p90"}
    )
    assert discover(tmp_path / "tt")[0].load().telemetry.graph is None


def test_nezha_history_is_fault_free_and_before_the_fault(tmp_path: Path) -> None:
    make_nezha(tmp_path)
    first, second = (r.load() for r in discover(tmp_path))
    assert first.history is not None and second.history is not None
    index = second.history.frame.index.to_numpy()
    assert index.max() < second.inject_time
    first_fault = pd.Timestamp(NEZHA_FAULTS[0], tz="UTC").timestamp()
    # the other fault's window (rows overlapping the 5 minutes after it) is not in the history
    assert not ((index > first_fault) & (index - 60 < first_fault + 300)).any()
    assert (index < first_fault).sum() == len(first.history.frame), "all of the first fault's history is kept"
    assert len(second.history.frame) > len(second.normal().frame)
    cpu = second.history.frame["cartservice_cpu_usage_rate"]
    assert cpu.max() < 10, "the CPU fault of the other case does not leak into the history"


def test_rcaeval_re2_maps_metrics_spans_and_label(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_rcaeval_re2(tmp_path / "RE2-OB")
    caplog.set_level(logging.WARNING, logger=NOTES)
    [ref] = discover(tmp_path / "RE2-OB")
    assert (ref.name, ref.layout) == ("cartservice_cpu/1", "rcaeval")
    case = ref.load()
    assert case.inject_time == T0 + 30 and case.step_seconds == 1.0
    assert case.root_cause is not None
    assert (case.root_cause.service, case.root_cause.metric, case.root_cause.fault) == (
        "cartservice",
        "cartservice_cpu",
        "cpu",
    )
    # simple_metrics.csv is the file RCAEval's evaluation reads; metrics.csv is noted as skipped
    assert case.extra["metrics_file"] == "simple_metrics.csv" and "cartservice_mem" not in case.frame.columns
    assert case.telemetry.series["frontend_latency-90"] == ("frontend", "latency-90")
    [skipped] = [m for m in notes(caplog) if "skipped" in m]
    assert "cluster_info.json, logts.csv, metrics.csv" in skipped
    spans = case.telemetry.traces
    raw = pd.read_csv(tmp_path / "RE2-OB/cartservice_cpu/1/traces.csv")
    assert spans is not None and len(spans) == len(raw)
    first = raw.iloc[0]
    assert spans["start_ns"].iloc[0] == first["startTime"] * 1000
    assert spans["end_ns"].iloc[0] - spans["start_ns"].iloc[0] == first["duration"] * 1000
    assert set(spans.loc[spans["parent_span_id"] == "", "service"]) == {"frontend"}
    errors = spans.loc[spans["status_code"] == 2]
    assert len(errors) == (raw["statusCode"] >= 500).sum() > 0 and set(errors["service"]) == {"cartservice"}


def test_rcaeval_metric_file_with_infinities_and_unsorted_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_rcaeval_re2(tmp_path)
    case_dir = tmp_path / "cartservice_cpu/1"
    (case_dir / "simple_metrics.csv").unlink()
    table = pd.read_csv(case_dir / "metrics.csv")
    table.iloc[::-1].to_csv(case_dir / "metrics.csv", index=False)
    caplog.set_level(logging.WARNING, logger=NOTES)
    case = discover(tmp_path)[0].load()
    assert case.extra["metrics_file"] == "metrics.csv" and "cartservice_mem" in case.frame.columns
    assert np.isnan(case.frame["cartservice_cpu"].iloc[5]) and np.all(np.diff(case.frame.index) > 0)
    assert any("not in time order" in m for m in notes(caplog))


def test_rcaeval_logs_become_time_service_level_message(tmp_path: Path) -> None:
    make_rcaeval_re2(tmp_path)
    path = tmp_path / "cartservice_cpu/1/logs.csv"
    logs = read_rcaeval_logs(path)
    raw = pd.read_csv(path)
    assert list(logs.columns) == ["time", "service", "level", "message"] and len(logs) == len(raw)
    assert logs["time"].iloc[0] == pytest.approx(T0 + 0.25)  # nanoseconds read as seconds
    assert set(logs.loc[logs["level"] == "ERROR", "service"]) == {"cartservice"}
    assert (logs.loc[logs["time"] < T0 + 30, "level"] == "INFO").all()
    # a millisecond timestamp column is told apart by its magnitude
    raw.assign(timestamp=raw["timestamp"] // 1_000_000).to_csv(path, index=False)
    assert read_rcaeval_logs(path)["time"].iloc[0] == pytest.approx(T0 + 0.25)


def test_rcaeval_re3_and_re1(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_rcaeval_re3(tmp_path / "RE3")
    case = discover(tmp_path / "RE3")[0].load()
    assert case.root_cause is not None and (case.root_cause.service, case.root_cause.fault) == ("cartservice", "f1")
    assert case.root_cause.metric is None and case.telemetry.traces is not None
    make_rcaeval_re1(tmp_path / "RE1")
    caplog.set_level(logging.WARNING, logger=NOTES)
    [ref] = discover(tmp_path / "RE1")
    case = ref.load()
    assert ref.layout == "casedir" and case.root_cause is not None and case.root_cause.metric == "cartservice_cpu"
    assert any("skipped 1 file(s)" in m and "simple_data.csv" in m for m in notes(caplog))


def test_spans_without_start_time_are_an_error(tmp_path: Path) -> None:
    make_rcaeval_re2(tmp_path)
    path = tmp_path / "cartservice_cpu/1/traces.csv"
    pd.read_csv(path).drop(columns=["startTime", "startTimeMillis"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="lacks startTime"):
        read_rcaeval_spans(path)


@pytest.mark.parametrize("maker", [make_rcaeval_re2, make_rcaeval_re3, make_rcaeval_re1])
def test_rca_eval_runs_on_rcaeval_layouts_unconverted(tmp_path: Path, maker: object) -> None:
    maker(tmp_path / "data")  # type: ignore[operator]
    out = tmp_path / "out.json"
    result = subprocess.run(
        [sys.executable, "-m", "rca", "eval", str(tmp_path / "data"), "-m", "run", "-m", "baro", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for method in json.loads(out.read_text())["results"]:
        assert method["summary"]["errors"] == 0, method["cases"]
        assert method["cases"][0]["rank"] == 1, (method["method"], method["cases"][0]["top5"])


def test_history_csv_round_trip_and_contract(tmp_path: Path) -> None:
    make_casedir(tmp_path)
    case = read_case_dir(tmp_path / "c1")
    assert case.history is not None and len(case.history.frame) == 40
    back = read_case_dir(write_case_dir(case, tmp_path / "copy"))
    assert back.history is not None
    pd.testing.assert_frame_equal(back.history.frame, case.history.frame, check_names=False)
    history = pd.read_csv(tmp_path / "c1/history.csv")
    history.assign(time=history["time"] + 200).to_csv(tmp_path / "c1/history.csv", index=False)
    with pytest.raises(DataError, match="at or after the inject time"):
        read_case_dir(tmp_path / "c1")
