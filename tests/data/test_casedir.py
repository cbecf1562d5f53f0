"""The case-directory format: round trips, optional files, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rca.data import Case, RootCause, Telemetry, read_case_dir, write_case_dir
from rca.errors import DataError


def write(directory: Path, data: str, inject: str = "103") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.csv").write_text(data)
    (directory / "inject_time.txt").write_text(inject)
    return directory


GOOD = "time,a_cpu,b_mem\n100,1,10\n101,2,11\n102,1,10\n103,9,10\n104,8,12\n"


def test_reads_frame_label_and_options(tmp_path: Path) -> None:
    case_dir = write(tmp_path / "c1", GOOD)
    (case_dir / "root_cause.json").write_text('{"service": "a", "metric": "a_cpu", "fault": "cpu"}')
    (case_dir / "case.json").write_text('{"symptom": "b_mem", "step_seconds": 1, "note": "kept"}')
    case = read_case_dir(case_dir)
    assert list(case.frame.columns) == ["a_cpu", "b_mem"]
    assert case.frame.index.tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert case.inject_time == 103.0
    assert case.root_cause == RootCause("a", "a_cpu", "cpu")
    assert case.symptom == "b_mem" and case.step_seconds == 1.0 and case.extra == {"note": "kept"}
    assert len(case.normal().frame) == 3 and len(case.anomalous().frame) == 2
    assert case.telemetry.series["b_mem"] == ("b", "mem")


def test_series_csv_overrides_the_underscore_split(tmp_path: Path) -> None:
    case_dir = write(tmp_path / "c", "time,my_svc_cpu\n1,1\n2,2\n3,3\n", inject="2")
    (case_dir / "series.csv").write_text("column,service,metric\nmy_svc_cpu,my_svc,cpu\n")
    assert read_case_dir(case_dir).telemetry.series["my_svc_cpu"] == ("my_svc", "cpu")


def test_round_trip_with_traces_and_graph(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x_a": [1.0, np.nan, 3.5], "y_b": [0.1, 0.2, 0.3]}, index=pd.Index([10.0, 11.0, 12.0]))
    spans = pd.DataFrame(
        {
            "trace_id": ["t1", "t1"],
            "span_id": ["s1", "s2"],
            "parent_span_id": ["", "s1"],
            "service": ["x", "y"],
            "operation": ["GET /", "db"],
            "start_ns": [10_000_000_000, 10_100_000_000],
            "end_ns": [10_500_000_000, 10_200_000_000],
            "status_code": [0, 2],
        }
    )
    case = Case(
        name="rt",
        telemetry=Telemetry.from_frame(frame, {"x_a": ("x", "a"), "y_b": ("y", "b")}, spans, [("x", "y")]),
        inject_time=11.0,
        root_cause=RootCause("y", "y_b"),
        symptom="x_a",
        step_seconds=1.0,
    )
    back = read_case_dir(write_case_dir(case, tmp_path / "rt"))
    pd.testing.assert_frame_equal(back.frame, case.frame, check_names=False)
    assert back.inject_time == case.inject_time and back.root_cause == case.root_cause
    assert back.symptom == "x_a" and back.telemetry.graph == (("x", "y"),)
    assert back.telemetry.traces is not None
    pd.testing.assert_frame_equal(back.telemetry.traces, spans)


@pytest.mark.parametrize(
    ("data", "inject", "expected"),
    [
        ("time,a_x\n1,1\n2,2,7\n3,3\n", "2", r"line 3: row has 3 fields but the header has 2"),
        ("time,a_x\n1,1\n2\n3,3\n", "2", r"line 3: row has 1 fields"),
        ("when,a_x\n1,1\n2,2\n", "2", r"no 'time' column"),
        ("time,a_x\n1,1\n2,abc\n3,3\n", "2", r"column 'a_x', data row 2: value 'abc' is not a number"),
        ("time,a_x\n1,1\n2,2\n2,3\n", "2", r"data row 3: duplicate timestamp 2"),
        ("time,a_x\n1,1\n3,2\n2,3\n", "2", r"data row 3: time goes backwards"),
        ("time,a_x\n1,1\nnoon,2\n", "2", r"data row 2: time value 'noon' is not a number"),
        ("time,a_x\n1,1\n2,2\n3,3\n", "99", r"inject time 99 is outside the data \(1 \.\. 3\)"),
        ("time,a_x\n1,1\n2,2\n3,3\n", "1", r"inject time 1 is outside the data"),
        ("time,a_x\n1,1\n2,2\n", "soon", r"'soon' is not a number"),
        ("time\n1\n2\n", "2", r"no series columns"),
        ("", "2", r"the file is empty"),
    ],
)
def test_bad_input_names_the_place_and_the_fix(tmp_path: Path, data: str, inject: str, expected: str) -> None:
    case_dir = write(tmp_path / "bad", data, inject)
    with pytest.raises(DataError, match=expected) as error:
        read_case_dir(case_dir)
    assert "bad" in str(error.value)  # the path is named
    assert error.value.hint  # and what to do


def test_missing_inject_time_and_bad_label(tmp_path: Path) -> None:
    case_dir = tmp_path / "c"
    case_dir.mkdir()
    (case_dir / "data.csv").write_text(GOOD)
    with pytest.raises(DataError, match=r"inject_time\.txt: missing"):
        read_case_dir(case_dir)
    (case_dir / "inject_time.txt").write_text("103")
    (case_dir / "root_cause.json").write_text("{not json")
    with pytest.raises(DataError, match=r"root_cause.json, line 1: invalid JSON"):
        read_case_dir(case_dir)
    (case_dir / "root_cause.json").write_text(json.dumps({"metric": "a_cpu"}))
    with pytest.raises(DataError, match='lacks "service"'):
        read_case_dir(case_dir)


def test_bad_spans_are_reported(tmp_path: Path) -> None:
    case_dir = write(tmp_path / "c", GOOD)
    (case_dir / "traces.csv").write_text("trace_id,span_id\nt,s\n")
    with pytest.raises(DataError, match="lacks column"):
        read_case_dir(case_dir)
    header = "trace_id,span_id,parent_span_id,service,operation,start_ns,end_ns\n"
    (case_dir / "traces.csv").write_text(header + "t,s,,a,op,yesterday,5\n")
    with pytest.raises(DataError, match=r"column 'start_ns', data row 1: start_ns 'yesterday' is not an integer"):
        read_case_dir(case_dir)
