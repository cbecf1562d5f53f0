"""Each dataset loader on a slice of the real data, plus conversion to case directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rca.data import convert, discover, read_case_dir
from rca.data.nezha import list_faults, metric_name, service_of_pod
from rca.errors import DataError


def test_rcd_sock_shop_joins_normal_then_anomalous(sock_shop: Path) -> None:
    refs = discover(sock_shop)
    assert len(refs) == 50 and refs[0].name == "carts-cpu/1"
    case = refs[0].load()
    normal_raw = pd.read_csv(sock_shop / "carts-cpu/1/normal.csv")
    anomalous_raw = pd.read_csv(sock_shop / "carts-cpu/1/anomalous.csv")
    assert len(case.frame) == len(normal_raw) + len(anomalous_raw)
    assert case.inject_time == anomalous_raw["time"].iloc[0]
    steps = np.diff(case.frame.index.to_numpy())
    assert np.allclose(steps, 1.0), "the joined frame is contiguous at the 1 s step"
    np.testing.assert_allclose(case.normal().frame["carts_cpu"].to_numpy(), normal_raw["carts_cpu"].to_numpy())
    np.testing.assert_allclose(case.anomalous().frame["carts_cpu"].to_numpy(), anomalous_raw["carts_cpu"].to_numpy())
    assert case.root_cause is not None
    assert (case.root_cause.service, case.root_cause.metric, case.root_cause.fault) == ("carts", "carts_cpu", "cpu")


def test_rcaeval_layout_takes_its_label_from_the_folder(sock_shop: Path, tmp_path: Path) -> None:
    source = discover(sock_shop / "orders-mem" / "2")[0].load()
    run_dir = tmp_path / "rcaeval" / "orders_mem" / "2"
    run_dir.mkdir(parents=True)
    frame = source.frame.reset_index()
    frame.to_csv(run_dir / "data.csv", index=False)
    (run_dir / "inject_time.txt").write_text(str(int(source.inject_time)))
    [ref] = discover(tmp_path / "rcaeval")
    case = ref.load()
    assert ref.name == "orders_mem/2"
    assert case.root_cause is not None
    assert (case.root_cause.service, case.root_cause.metric, case.root_cause.fault) == ("orders", "orders_mem", "mem")
    assert case.frame.shape == source.frame.shape


def test_nezha_helpers() -> None:
    assert service_of_pod("ts-contacts-service-866bd68c97-xcqfx") == "ts-contacts-service"
    assert service_of_pod("ts-consign-price-service-df498d7fb-725nt") == "ts-consign-price-service"
    assert metric_name("PodClientLatencyP90(s)") == "pod_client_latency_p90"
    assert metric_name("CpuUsageRate(%)") == "cpu_usage_rate"


def test_nezha_faults_use_inject_time_in_utc(nezha: Path) -> None:
    faults = list_faults(nezha)
    assert len(faults) == 45
    first = faults[0]
    assert first.inject_time == pd.Timestamp("2023-01-29 08:43:04", tz="UTC").timestamp()
    assert (first.service, first.fault) == ("ts-contacts-service", "return")
    kinds = pd.Series([f.fault for f in faults]).value_counts().to_dict()
    assert kinds == {"network_delay": 14, "exception": 13, "return": 11, "cpu_contention": 7}


def test_nezha_case_window_series_and_spans(nezha: Path) -> None:
    refs = discover(nezha)
    case = next(r for r in refs if r.name == "2023-01-29/24-ts-contacts-service-cpu_contention").load()
    t = case.inject_time
    index = case.frame.index.to_numpy()
    assert np.all(np.diff(index) > 0) and np.all(index % 60 == 0)
    # the fault-free span file 08_50 holds spans of 08:48-08:51; row 08:49 overlaps the first fault
    construct_rows = [pd.Timestamp(f"2023-01-29 08:{m}", tz="UTC").timestamp() for m in (50, 51, 52)]
    in_window = (index > t - 30 * 60) & (index <= t + 6 * 60)
    assert index[~in_window].tolist() == construct_rows, "only the fault-free span minutes lie outside"
    assert case.root_cause is not None and case.root_cause.metric == "ts-contacts-service_cpu_usage_rate"
    cpu = case.frame["ts-contacts-service_cpu_usage_rate"]
    assert cpu[index > t].max() > 5 * cpu[index < t].median(), "the CPU fault is visible in its metric"
    assert not any(c.startswith("ts-contacts-service_node") for c in case.frame.columns)
    spans = case.telemetry.traces
    assert spans is not None and len(spans) > 1000
    derived = {"ts-contacts-service_spans:request_rate", "ts-contacts-service_spans:latency_p90"}
    assert derived <= set(case.frame.columns)
    assert set(spans["service"]) >= {"ts-gateway-service", "ts-contacts-service"}


def test_nezha_windows_exclude_other_faults(nezha: Path) -> None:
    faults = list_faults(nezha)
    for ref, fault in list(zip(discover(nezha), faults, strict=True))[:6]:
        index = ref.load().frame.index.to_numpy()
        for other in faults:
            if other.day == fault.day and other is not fault:
                overlaps = (index > other.inject_time) & (index - 60 < other.inject_time + 300)
                assert not overlaps.any(), f"{ref.name} holds rows of fault {other.name}"


def test_convert_writes_loadable_case_dirs(sock_shop: Path, tmp_path: Path) -> None:
    written = convert(sock_shop, tmp_path / "out", limit=2)
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["carts-cpu/1", "carts-cpu/2"]
    original = discover(sock_shop)[1].load()
    back = read_case_dir(written[1])
    pd.testing.assert_frame_equal(back.frame, original.frame, check_names=False)
    assert back.root_cause == original.root_cause and back.inject_time == original.inject_time


def test_discover_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        discover(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no case"):
        discover(tmp_path / "empty")


def test_rcd_case_with_mismatched_parts(sock_shop: Path, tmp_path: Path) -> None:
    case_dir = tmp_path / "carts-cpu" / "1"
    shutil.copytree(sock_shop / "carts-cpu" / "1", case_dir)
    anomalous = pd.read_csv(case_dir / "anomalous.csv").drop(columns=["carts_mem"])
    anomalous.to_csv(case_dir / "anomalous.csv", index=False)
    with pytest.raises(DataError, match=r"different columns.*carts_mem"):
        discover(case_dir)[0].load()
