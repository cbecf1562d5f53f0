"""Small, deterministic datasets in each layout the loaders read, built exactly as the real ones are.

Three services (``frontend`` calls ``checkoutservice`` calls ``cartservice``); the fault is in
``cartservice`` (its CPU rises from the inject time on). The layouts follow the real files' headers,
time units and folder names (RCAEval: phamquiluan/RCAEval; Nezha: IntelligentDDS/Nezha; RCD:
azamikram/rcd).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

T0 = 1_700_000_000
"""First timestamp of the metric fixtures (Unix seconds)."""
SERVICES = ("frontend", "checkoutservice", "cartservice")
CALLS = (("frontend", "checkoutservice"), ("checkoutservice", "cartservice"))


def _metrics(rows: int, inject_row: int, seed: int, *, latency: str = "latency") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {"time": T0 + np.arange(rows)}
    fault = np.arange(rows) >= inject_row
    for service in SERVICES:
        cpu = 10 + rng.normal(0, 0.5, rows)
        if service == "cartservice":
            cpu[fault] += 60
        data[f"{service}_cpu"] = cpu
        data[f"{service}_mem"] = 100 + rng.normal(0, 1, rows)
        data[f"{service}_{latency}-50"] = 20 + rng.normal(0, 1, rows) + 15 * fault
        data[f"{service}_{latency}-90"] = 40 + rng.normal(0, 2, rows) + 30 * fault
    return pd.DataFrame(data)


def _rcaeval_traces(rows: int, inject_row: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    records = []
    for second in range(rows):
        start_us = (T0 + second) * 1_000_000 + int(rng.integers(0, 500_000))
        slow = 3 if second >= inject_row else 1
        parent = ""
        for depth, service in enumerate(SERVICES):
            span = f"s{second}-{depth}"
            duration = int((3 - depth) * 10_000 * slow + rng.integers(0, 1000))
            records.append(
                {
                    "time": pd.Timestamp(start_us, unit="us").isoformat(),
                    "traceID": f"t{second}",
                    "spanID": span,
                    "parentSpanID": parent,
                    "serviceName": service,
                    "operationName": f"/{service}/Get",
                    "methodName": "" if depth else "GET",
                    "startTime": start_us + depth * 100,
                    "duration": duration,
                    "startTimeMillis": (start_us + depth * 100) // 1000,
                    "statusCode": 500 if (service == "cartservice" and slow > 1 and second % 4 == 0) else 200,
                }
            )
            parent = span
    return pd.DataFrame(records)


def _rcaeval_logs(rows: int, inject_row: int) -> pd.DataFrame:
    records = []
    for second in range(0, rows, 2):
        for service in SERVICES:
            failing = service == "cartservice" and second >= inject_row
            level = "ERROR" if failing else "INFO"
            stamp_ns = (T0 + second) * 1_000_000_000 + 250_000_000
            records.append(
                {
                    "time": pd.Timestamp(stamp_ns, unit="ns").isoformat(),
                    "timestamp": stamp_ns,
                    "container_name": service,
                    "message": f"{level} request handled in {second % 7} ms",
                }
            )
    return pd.DataFrame(records)


def make_casedir(root: Path) -> Path:
    """One case directory (the project's format) with every optional file."""
    case = root / "c1"
    case.mkdir(parents=True)
    metrics = _metrics(60, 30, seed=1)
    metrics.to_csv(case / "data.csv", index=False)
    (case / "inject_time.txt").write_text(f"{T0 + 30}\n")
    (case / "root_cause.json").write_text(json.dumps({"service": "cartservice", "metric": "cartservice_cpu"}))
    (case / "graph.csv").write_text("source,target\n" + "".join(f"{a},{b}\n" for a, b in CALLS))
    (case / "case.json").write_text(json.dumps({"step_seconds": 1}))
    _metrics(40, 40, seed=2).assign(time=lambda f: f["time"] - 100).to_csv(case / "history.csv", index=False)
    return root


def make_rcaeval_re1(root: Path) -> Path:
    """RCAEval RE1: ``<service>_<fault>/<run>/data.csv`` + ``inject_time.txt`` (RE1-SS/TT also carry
    ``simple_data.csv``, which RCAEval's evaluation does not read)."""
    case = root / "cartservice_cpu" / "1"
    case.mkdir(parents=True)
    metrics = _metrics(60, 30, seed=3)
    metrics.to_csv(case / "data.csv", index=False)
    metrics.iloc[:, :4].to_csv(case / "simple_data.csv", index=False)
    (case / "inject_time.txt").write_text(f"{T0 + 30}\n")
    return root


def make_rcaeval_re2(root: Path) -> Path:
    """RCAEval RE2: ``metrics.csv``, ``simple_metrics.csv``, ``logs.csv``, ``traces.csv``,
    ``inject_time.txt``, plus RCAEval's derived files."""
    case = root / "cartservice_cpu" / "1"
    case.mkdir(parents=True)
    full = _metrics(60, 30, seed=4)
    full["cartservice_cpu"] = full["cartservice_cpu"].astype(object)
    full.loc[5, "cartservice_cpu"] = "inf"  # RCAEval's metric files hold some infinities
    full.to_csv(case / "metrics.csv", index=False)
    full.drop(columns=[c for c in full.columns if c.endswith("_mem")]).to_csv(case / "simple_metrics.csv", index=False)
    _rcaeval_traces(60, 30, seed=5).to_csv(case / "traces.csv", index=False)
    _rcaeval_logs(60, 30).to_csv(case / "logs.csv", index=False)
    (case / "inject_time.txt").write_text(f"{T0 + 30}\n")
    (case / "cluster_info.json").write_text("{}")
    pd.DataFrame({"time": [T0], "cartservice_1": [1]}).to_csv(case / "logts.csv", index=False)
    return root


def make_rcaeval_re3(root: Path) -> Path:
    """RCAEval RE3 (code-level faults ``f1``..``f5``): ``metrics.csv`` only, with traces and logs."""
    case = root / "cartservice_f1" / "1"
    case.mkdir(parents=True)
    _metrics(60, 30, seed=6).to_csv(case / "metrics.csv", index=False)
    _rcaeval_traces(60, 30, seed=7).to_csv(case / "traces.csv", index=False)
    _rcaeval_logs(60, 30).to_csv(case / "logs.csv", index=False)
    (case / "inject_time.txt").write_text(f"{T0 + 30}\n")
    return root


def make_rcd(root: Path) -> Path:
    """RCD sock-shop: ``<service>-<fault>/<run>/{normal,anomalous}.csv`` (not contiguous in time)."""
    case = root / "cartservice-cpu" / "1"
    case.mkdir(parents=True)
    metrics = _metrics(60, 30, seed=8, latency="lat")
    metrics.iloc[:30].to_csv(case / "normal.csv", index=False)
    metrics.iloc[30:].assign(time=lambda f: f["time"] + 5000).to_csv(case / "anomalous.csv", index=False)
    return root


NEZHA_DAY = "2023-01-29"
NEZHA_PODS = {
    "frontend": "frontend-5f55b6cf68-77cfw",
    "checkoutservice": "checkoutservice-84cbf6c798-7njv6",
    "cartservice": "cartservice-59b758674f-ptpg5",
}
NEZHA_FAULTS = ("2023-01-29 08:43:04", "2023-01-29 09:10:30")


def _nezha_time(stamp: pd.Timestamp) -> str:
    # Nezha writes Go's time.Time: "2023-01-29 08:41:09.470514006 +0000 UTC m=+0.546675867"
    return f"{stamp.strftime('%Y-%m-%d %H:%M:%S')}.470514006 +0000 UTC m=+0.5"


def make_nezha(root: Path, *, online_boutique: bool = True) -> Path:
    """One Nezha day. With ``online_boutique``, ``metric/`` also holds the Online Boutique system's
    ``dependency.csv`` (``Source,Target,Weight``), ``source_50.csv`` and ``destination_50.csv``, and a
    real service is named ``frontend`` (pod metrics and spans) beside ``front_service.csv``."""
    rng = np.random.default_rng(9)
    day = root / NEZHA_DAY
    (day / "metric").mkdir(parents=True)
    (day / "trace").mkdir()
    faults = {
        "8": [
            {"inject_time": NEZHA_FAULTS[0], "inject_timestamp": "0", "inject_pod": NEZHA_PODS["cartservice"],
             "inject_type": "cpu_contention"},
        ],
        "9": [
            {"inject_time": NEZHA_FAULTS[1], "inject_timestamp": "0", "inject_pod": NEZHA_PODS["checkoutservice"],
             "inject_type": "network_delay"},
        ],
    }  # fmt: skip
    (day / f"{NEZHA_DAY}-fault_list.json").write_text(json.dumps(faults))
    samples = pd.date_range(f"{NEZHA_DAY} 08:00:09", f"{NEZHA_DAY} 09:30:09", freq="60s")
    fault_time = pd.Timestamp(NEZHA_FAULTS[0])
    for service, pod in NEZHA_PODS.items():
        hot = (samples > fault_time) & (samples < fault_time + pd.Timedelta(minutes=3)) & (service == "cartservice")
        table = pd.DataFrame(
            {
                "Time": [_nezha_time(s) for s in samples],
                "TimeStamp": (samples.astype("int64") // 10**9).astype(str),
                "PodName": pod,
                "CpuUsage(m)": 50 + rng.normal(0, 2, len(samples)) + 400 * hot,
                "CpuUsageRate(%)": 5 + rng.normal(0, 0.2, len(samples)) + 40 * hot,
                "MemoryUsage(Mi)": 300 + rng.normal(0, 3, len(samples)),
                "PodClientLatencyP90(s)": 0.05 + rng.normal(0, 0.002, len(samples)),
                "PodServerLatencyP90(s)": 0.04 + rng.normal(0, 0.002, len(samples)) + 0.1 * hot,
                "PodWorkload(Ops)": 20 + rng.normal(0, 1, len(samples)),
                "PodSuccessRate(%)": 100 - np.abs(rng.normal(0, 0.1, len(samples))),
                "NodeCpuUsageRate(%)": 30 + rng.normal(0, 1, len(samples)),
            }
        )
        table.to_csv(day / "metric" / f"{pod}_metric.csv", index=False)
    pd.DataFrame(
        {
            "Time": [_nezha_time(s) for s in samples],
            "TimeStamp": (samples.astype("int64") // 10**9).astype(str),
            "ServiceName": "Frontend",
            "SuccessRate(%)": 100 - np.abs(rng.normal(0, 0.1, len(samples))),
            "LatencyP50(s)": 0.09 + rng.normal(0, 0.003, len(samples)),
            "LatencyP90(s)": 0.45 + rng.normal(0, 0.01, len(samples)),
        }
    ).to_csv(day / "metric" / "front_service.csv", index=False)
    if online_boutique:
        (day / "metric" / "dependency.csv").write_text(
            "Source,Target,Weight\n" + "".join(f"{a},{b},{i + 1}\n" for i, (a, b) in enumerate(CALLS))
        )
        (day / "metric" / "source_50.csv").write_text("frontend,checkoutservice\n0.5,0.5\n")
        (day / "metric" / "destination_50.csv").write_text("cartservice\n1\n")
    services = list(NEZHA_PODS) if online_boutique else ["checkoutservice", "cartservice"]
    for minute in range(44, 48):  # HH_MM holds about the minute before HH:MM
        rows = []
        for k in range(30):
            start = pd.Timestamp(f"{NEZHA_DAY} 08:{minute - 1}:10").value + k * 1_500_000_000
            parent = "root"
            for depth, service in enumerate(services):
                span = f"{minute}-{k}-{depth}"
                end = start + (3 - depth) * 20_000_000
                rows.append((f"{minute}-{k}", span, parent, NEZHA_PODS[service], f"{service}.Get", start, end,
                             (end - start) // 1000))  # fmt: skip
                parent = span
        pd.DataFrame(
            rows,
            columns=["TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano",
                     "EndTimeUnixNano", "Duration"],
        ).to_csv(day / "trace" / f"08_{minute}_trace.csv", index=False)  # fmt: skip
    return root


LAYOUTS = {
    "casedir": make_casedir,
    "rcaeval-re1": make_rcaeval_re1,
    "rcaeval-re2": make_rcaeval_re2,
    "rcaeval-re3": make_rcaeval_re3,
    "rcd": make_rcd,
    "nezha": make_nezha,
}
"""Layout name -> builder of a small valid dataset in that layout."""
