"""The RED-only variant: what a CloudWatch-like system exposes (rate, errors, duration, call graph)."""

from __future__ import annotations

from pathlib import Path

import pytest
from layouts import CALLS, make_casedir, make_rcaeval_re2

from rca.data import discover, read_case_dir
from rca.data.case import is_symptom_metric, is_user_facing_metric, red_kind
from rca.data.variants import red_only


@pytest.mark.parametrize(
    ("metric", "kind"),
    [
        # sock-shop (RCD)
        ("cpu", None), ("mem", None), ("lod", "rate"), ("lat_50", "latency"), ("lat_99", "latency"),
        # Nezha pods, SLI and span-derived series
        ("cpu_usage_rate", None), ("memory_usage_rate", None), ("syscall_read", None),
        ("network_receive_bytes", None), ("pod_client_latency_p90", "latency"), ("pod_workload", "rate"),
        ("pod_success_rate", "errors"), ("success_rate", "errors"), ("request_rate", "rate"),
        ("error_rate", "errors"), ("latency_p99", "latency"),
        # RCAEval, and CloudWatch-style names
        ("latency-90", "latency"), ("RequestCount", "rate"), ("LatencyAverage", "latency"),
        ("Availability", "errors"), ("5xxErrorRate", "errors"), ("gc_pause_duration", None),
        ("Invocations", "rate"), ("Duration", "latency"), ("Throttles", "errors"), ("5XXError", "errors"),
        ("HTTPCode_Target_5XX_Count", "errors"), ("p99Latency", "latency"), ("NumberOfMessagesSent", "rate"),
        ("Faults", "errors"), ("ThrottledRequests", "errors"), ("TargetResponseTime", "latency"),
        ("ConcurrentExecutions", "rate"), ("HealthyHostCount", "errors"), ("UnHealthyHostCount", "errors"),
        ("Errors5xx", "errors"),
        # OpenTelemetry semantic conventions, Prometheus client and gRPC conventions, Datadog APM
        ("http.server.request.duration", "latency"), ("http_request_duration_seconds_bucket", "latency"),
        ("grpc_server_handling_seconds", "latency"), ("grpc_server_handled_total", "rate"),
        ("trace.http.request.apdex", "errors"), ("jvm_exceptions_total", "errors"), ("latency_p999", "latency"),
        ("p75", "latency"), ("elapsed_ms", "latency"), ("k8s_cpu", None), ("http2_requests", "rate"),
    ],
)  # fmt: skip
def test_red_kind_reads_the_metric_name(metric: str, kind: str | None) -> None:
    assert red_kind(metric) == kind


def test_red_only_keeps_red_series_and_the_call_graph_from_spans(tmp_path: Path) -> None:
    make_rcaeval_re2(tmp_path)
    case = discover(tmp_path)[0].load()
    red = red_only(case)
    assert set(red.frame.columns) == {c for c in case.frame.columns if "latency" in c}
    assert red.telemetry.traces is None and case.telemetry.traces is not None
    assert red.telemetry.logs is None and case.telemetry.logs is not None, "a RED-only system shows no logs"
    assert set(red.telemetry.graph or ()) == set(CALLS)
    assert case.root_cause is not None and case.root_cause.metric == "cartservice_cpu"
    assert red.root_cause is not None and (red.root_cause.service, red.root_cause.metric) == ("cartservice", None)
    assert red.inject_time == case.inject_time and red.frame.index.equals(case.frame.index)


def test_red_only_reduces_the_history_too_and_keeps_a_known_graph(tmp_path: Path) -> None:
    make_casedir(tmp_path)
    case = read_case_dir(tmp_path / "c1")
    red = red_only(case)
    assert red.history is not None and case.history is not None
    assert list(red.history.frame.columns) == list(red.frame.columns)
    assert not any(c.endswith(("_cpu", "_mem")) for c in red.history.frame.columns)
    assert red.telemetry.graph == case.telemetry.graph


def test_red_only_on_sock_shop_leaves_the_services_that_report_latency(sock_shop: Path) -> None:
    case = discover(sock_shop / "carts-cpu" / "1")[0].load()
    red = red_only(case)
    assert {s for s, _ in red.telemetry.series.values()} == {"carts", "catalogue", "shipping"}
    assert {m for _, m in red.telemetry.series.values()} == {"lod", "lat_50", "lat_90", "lat_99"}


@pytest.mark.parametrize(
    ("metric", "symptom"),
    [("request_rate", True), ("pod_workload", True), ("lod", True), ("Availability", True), ("timeout_count", True),
     ("latency_p99", True), ("cpu_usage_rate", False), ("mem", False), ("call_delay", False), ("log_change", False)],
)  # fmt: skip
def test_a_symptom_is_any_red_signal_and_nothing_else(metric: str, symptom: bool) -> None:
    assert is_symptom_metric(metric) is symptom


@pytest.mark.parametrize(
    ("metric", "felt"),
    [("latency_p99", True), ("Availability", True), ("error_rate", True), ("request_rate", False), ("lod", False),
     ("cpu", False)],
)  # fmt: skip
def test_what_users_feel_is_latency_and_errors_not_the_load(metric: str, felt: bool) -> None:
    assert is_user_facing_metric(metric) is felt
