"""Logs in the case format: case directories, the Nezha loader, and clear errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rca.data import Case, RootCause, Telemetry, discover, read_case_dir, write_case_dir
from rca.data.logs import check_logs
from rca.data.nezha import list_faults, read_nezha_case, service_of_pod
from rca.data.nezha_logs import read_log_file
from rca.errors import DataError

GOOD = "time,a_cpu,b_mem\n100,1,10\n101,2,11\n102,1,10\n103,9,10\n104,8,12\n"


def _case_dir(directory: Path, logs: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "data.csv").write_text(GOOD)
    (directory / "inject_time.txt").write_text("103")
    (directory / "logs.csv").write_text(logs)
    return directory


def test_logs_round_trip_and_split_at_the_anomaly_time(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a_cpu": [1.0, 2.0, 3.0]}, index=pd.Index([100.0, 101.0, 102.0]))
    logs = pd.DataFrame(
        {
            "time": [100.25, 101.5, 101.75],
            "service": ["a", "a", "b"],
            "level": ["INFO", "", "ERROR"],
            "message": ['said "hi", twice', "line, with\nnewline", "x.Y#3 failed id=7"],
            "trace_id": ["t1", "", "t2"],
            "span_id": ["s1", "", "s2"],
        }
    )
    case = Case("c", Telemetry.from_frame(frame, logs=logs), inject_time=101.0, root_cause=RootCause("b"))
    back = read_case_dir(write_case_dir(case, tmp_path / "c"))
    assert back.telemetry.logs is not None
    pd.testing.assert_frame_equal(back.telemetry.logs, logs)
    assert back.normal().logs["time"].tolist() == [100.25]  # type: ignore[index]
    assert back.anomalous().logs["service"].tolist() == ["a", "b"]  # type: ignore[index]


def test_logs_without_optional_columns_and_with_repeats(tmp_path: Path) -> None:
    directory = _case_dir(tmp_path / "c", "time,service,level,message\n102.5,a,,b\n101,a,WARN,a\n101,a,WARN,a\n")
    logs = read_case_dir(directory).telemetry.logs
    assert logs is not None
    assert logs.to_dict("list") == {
        "time": [101.0, 102.5],
        "service": ["a", "a"],
        "level": ["WARN", ""],
        "message": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time,service,message\n1,a,x\n", r"logs.csv: logs table lacks column\(s\) level"),
        ("time,service,level,message\n1,a,,x\nnoon,a,,y\n", r"logs.csv, column 'time', data row 2: time 'noon'"),
        ("time,service,level,message\n1,a,,x,extra\n", r"logs.csv, line 2: row has 5 fields"),
    ],
)
def test_bad_logs_are_named_with_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(DataError, match=expected) as error:
        read_case_dir(_case_dir(tmp_path / "c", text))
    assert error.value.hint


def test_check_logs_requires_the_columns() -> None:
    with pytest.raises(DataError, match="lacks column"):
        check_logs(pd.DataFrame({"time": [1.0], "message": ["x"]}))


def test_nezha_log_file_reads_times_services_levels_and_lines(tmp_path: Path) -> None:
    line = "16:42:22.382 ERROR c.s.ContactsServiceImpl#37 TraceID: ab SpanID: cd [find][No contacts]\n"
    rows = [
        "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log",
        "2023-01-29T08:42:22Z,1674981742383150913,n,ts-contacts-service-866bd68c97-xcqfx,server,ab,cd,"
        + '"' + json.dumps({"log": line, "stream": "stdout"}).replace('"', '""') + '"',
        "2023-01-29T08:42:23Z,1674981743000000000,n,ts-contacts-service-866bd68c97-xcqfx,server,ab,cd,a,b,c",
        "2023-01-29T08:42:24Z,1674981744000000000,n,ts-user-service-687d654649-lrcwv,server,,,not json at all",
    ]  # fmt: skip
    path = tmp_path / "08_43_log.csv"
    path.write_text("\n".join(rows) + "\n")
    logs = read_log_file(path, service_of_pod)
    assert logs["service"].tolist() == ["ts-contacts-service", "ts-user-service"]
    assert logs["level"].tolist() == ["ERROR", ""]
    assert logs["message"].tolist() == [line.rstrip("\n"), "not json at all"]
    assert logs["time"].iloc[0] == pytest.approx(1674981742.383150913)


def test_nezha_records_without_a_nanosecond_time_take_their_timestamp(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unset = "-6795364578871345152"  # Go's zero time in Unix nanoseconds: the recordings' "no time"
    rows = [
        "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log",
        f"2023-01-29T09:20:29.295,{unset},n,ts-travel2-service-5c66d57d58-6mp2b,server,,,first",
        "2023-01-29T09:20:30Z,1674984030000000000,n,ts-travel2-service-5c66d57d58-6mp2b,server,,,second",
        f"not a time,{unset},n,ts-travel2-service-5c66d57d58-6mp2b,server,,,lost",
    ]
    path = tmp_path / "09_21_log.csv"
    path.write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING"):
        logs = read_log_file(path, service_of_pod)
    assert logs["message"].tolist() == ["first", "second"]
    assert logs["time"].tolist() == pytest.approx([1674984029.295, 1674984030.0])
    assert "2 record(s) carry no TimeUnixNano" in caplog.text and "1 without a readable Timestamp" in caplog.text


def test_nezha_log_file_without_needed_columns(tmp_path: Path) -> None:
    path = tmp_path / "08_43_log.csv"
    path.write_text("Timestamp,PodName\n1,p\n")
    with pytest.raises(DataError, match="lacks column"):
        read_log_file(path, service_of_pod)


def test_nezha_case_logs_follow_the_case_window(nezha: Path, caplog: pytest.LogCaptureFixture) -> None:
    ref = next(r for r in discover(nezha) if r.name == "2023-01-29/13-ts-travel-service-exception")
    with caplog.at_level(logging.WARNING, logger="rca.data"):
        case = ref.load()
    logs = case.telemetry.logs
    assert logs is not None and len(logs) > 1000
    t = case.inject_time
    rows = case.frame.index.to_numpy()
    record_rows = (np.floor(logs["time"].to_numpy() / 60) + 1) * 60
    assert np.isin(record_rows, rows).all(), "every record lies in a row of the case"
    assert (logs["time"] >= t).any() and (logs["time"] < t - 600).any(), "the construct minute is the baseline"
    assert logs["time"].is_monotonic_increasing
    assert "ts-travel-service" in set(logs["service"])
    assert set(logs["level"]) <= {"INFO", "WARN", "ERROR"}
    # the day's recording holds one row with two lines run together (10_06): skipped with one note
    assert any("skipped malformed row" in r.getMessage() for r in caplog.records)


def test_nezha_case_logs_leave_out_the_minute_before_other_faults(nezha: Path) -> None:
    faults = list_faults(nezha)
    fault = next(f for f in faults if f.name == "2023-01-29/04-ts-basic-service-return")
    logs = read_nezha_case(nezha, fault, faults).telemetry.logs
    assert logs is not None
    times = logs["time"].to_numpy()
    others = [f.inject_time for f in faults if f.day == fault.day and f is not fault]
    assert not any(((times >= t - 60) & (times < t)).any() for t in others)
    assert ((times >= fault.inject_time - 60) & (times < fault.inject_time)).any(), "its own minute is kept"
