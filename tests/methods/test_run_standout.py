"""`run`'s peer comparison within a metric family (standout_scores)."""

import math

import numpy as np
import pandas as pd

from rca.anomaly.signals import standout_scores
from rca.data.case import Case, Telemetry
from rca.methods.run import RUN


def test_standout_is_margin_over_runner_up_of_same_metric() -> None:
    series = {
        "a_cpu": ("a", "cpu"),
        "b_cpu": ("b", "cpu"),
        "c_cpu": ("c", "cpu"),
        "a_p99": ("a", "p99"),
        "b_p99": ("b", "p99"),
        "c_only": ("c", "only"),
    }
    scores = {"a_cpu": 0.0, "b_cpu": 40.0, "c_cpu": 1.0, "a_p99": 900.0, "b_p99": 1000.0, "c_only": 5.0}
    out = standout_scores(scores, series)
    assert math.isclose(out["b_cpu"], math.log1p(40.0) - math.log1p(1.0))
    assert out["a_cpu"] == 0.0 and out["c_cpu"] == 0.0
    # a metric high in every service barely singles one out, however large its raw score
    assert out["b_p99"] < out["b_cpu"]
    assert out["a_p99"] == 0.0
    assert out["c_only"] == 0.0


def test_standout_ignores_series_within_their_normal_range() -> None:
    series = {"a_cpu": ("a", "cpu"), "b_cpu": ("b", "cpu"), "a_mem": ("a", "mem"), "b_mem": ("b", "mem")}
    scores = {"a_cpu": 0.9, "b_cpu": 0.1, "a_mem": 3.0, "b_mem": 0.1}
    out = standout_scores(scores, series)
    # the top of a family of unremarkable series singles out nothing
    assert out["a_cpu"] == 0.0
    assert math.isclose(out["a_mem"], math.log1p(3.0) - math.log1p(0.1))


def _services_case(jumps: dict[str, float], *, rows: int = 40, fault: int = 30) -> Case:
    """Services a, b, c with a CPU and a tail-latency series each; ``jumps`` shifts series from ``fault`` on."""
    rng = np.random.default_rng(0)
    columns = [f"{s}_{m}" for s in "abc" for m in ("cpu", "latency_p99")]
    frame = pd.DataFrame(rng.normal(10.0, 1.0, (rows, len(columns))), columns=columns)
    for column, jump in jumps.items():
        frame.loc[fault:, column] += jump
    frame.index = pd.Index(np.arange(rows, dtype=float), name="time")
    return Case("services", Telemetry.from_frame(frame), inject_time=float(fault))


def test_a_saturated_resource_outranks_a_larger_symptom_elsewhere() -> None:
    # a's CPU saturates; b's tail latency leaps far more (a burst of slow calls, or a slow callee)
    case = _services_case({"a_cpu": 20.0, "a_latency_p99": 5.0, "b_latency_p99": 2000.0})
    ranking = RUN(min_fit_rows=10**6).fit(case.normal()).rank(case)
    assert ranking.info["services"][0] == "a"


def test_a_symptom_alone_still_names_its_service() -> None:
    # nothing leaves its normal range but b's latency: resource noise must not outrank it
    case = _services_case({"b_latency_p99": 20.0})
    ranking = RUN(min_fit_rows=10**6).fit(case.normal()).rank(case)
    assert ranking.info["services"][0] == "b"


def test_within_a_service_a_saturated_resource_comes_before_its_symptoms() -> None:
    # a's latency leaps far more than its CPU: the CPU is still where the fault is
    case = _services_case({"a_cpu": 8.0, "a_latency_p99": 2000.0})
    ranking = (
        RUN(min_fit_rows=10**6, service_prior=False).fit(case.normal()).rank(case)
    )  # the order alone, without the prior's walk
    assert ranking.info["services"][0] == "a"
    assert ranking.candidates[0].metric == "a_cpu"


def _red_case(calls: list[tuple[str, str]] | None) -> Case:
    """RED-only services gateway -> a -> b: b's availability falls a little; a waits out b's failures (latency
    x 20), and the gateway waits on a for some of its requests (x 1.5)."""
    rng = np.random.default_rng(1)
    rows, fault = 60, 45
    frame = pd.DataFrame(
        {
            f"{s}_{m}": rng.normal(level, level / 50, rows)
            for s in ("gateway", "a", "b")
            for m, level in (("requests", 500.0), ("latency_average", 20.0), ("availability", 99.9))
        }
    )
    frame["b_availability"] = rng.normal(99.9, 0.02, rows)
    frame.loc[fault:, "b_availability"] -= 0.2
    frame.loc[fault:, "a_latency_average"] *= 20.0
    frame.loc[fault:, "gateway_latency_average"] *= 1.5
    frame.index = pd.Index(np.arange(rows, dtype=float) * 300, name="time")
    return Case("red", Telemetry.from_frame(frame, graph=calls), inject_time=float(fault * 300))


def _scores(method: RUN, case: Case) -> dict[str, float]:
    return {str(c.metric): c.evidence["anomaly_score"] for c in method.fit(case.normal()).rank(case).candidates}


def test_a_fall_in_availability_counts_as_a_rise_in_latency() -> None:
    case = _red_case(None)
    assert _scores(RUN(min_fit_rows=10**6), case)["b_availability"] > 1.0, "b's availability left its range"
    assert _scores(RUN(min_fit_rows=10**6, direction="up"), case)["b_availability"] == 0.0


def test_a_resource_that_falls_is_not_a_cause() -> None:
    # c's CPU drops out of its range (less work: an effect); only with direction="both" does it count
    case = _services_case({"c_cpu": -8.0, "b_latency_p99": 20.0})
    assert _scores(RUN(min_fit_rows=10**6), case)["c_cpu"] == 0.0
    assert RUN(min_fit_rows=10**6).fit(case.normal()).rank(case).info["services"][0] == "b"
    assert _scores(RUN(min_fit_rows=10**6, direction="both"), case)["c_cpu"] > 1.0


def test_the_call_graph_names_the_deepest_anomalous_service() -> None:
    calls = [("gateway", "a"), ("a", "b")]
    case = _red_case(calls)
    ranking = RUN(min_fit_rows=10**6).fit(case.normal()).rank(case)
    assert ranking.info["services"][0] == "b"
    on_frontier = {c.service: c.evidence["frontier"] for c in ranking.candidates}
    assert on_frontier == {"gateway": False, "a": False, "b": True}, "shown as evidence"
    # without the frontier, a's far larger latency margin decides
    assert RUN(min_fit_rows=10**6, traversal=False).fit(case.normal()).rank(case).info["services"][0] == "a"
    # without a call graph there is nothing to traverse
    unmapped = _red_case(None)
    assert RUN(min_fit_rows=10**6).fit(unmapped.normal()).rank(unmapped).info["services"][0] == "a"


def test_an_overload_is_named_where_the_load_enters_not_in_the_callees_that_carry_it() -> None:
    # extra requests enter a (x 4) and pass down to b (x 3), which slows far more under them than a does
    rng = np.random.default_rng(2)
    rows, fault = 60, 45
    frame = pd.DataFrame(
        {
            f"{s}_{m}": rng.normal(level, level / 50, rows)
            for s in ("gateway", "a", "b")
            for m, level in (("requests", 500.0), ("latency_average", 20.0))
        }
    )
    for column, factor in (("a_requests", 4.0), ("b_requests", 3.0), ("a_latency_average", 1.5)):
        frame.loc[fault:, column] *= factor
    frame.loc[fault:, "b_latency_average"] *= 10.0
    frame.loc[fault:, "gateway_latency_average"] *= 1.3
    frame.index = pd.Index(np.arange(rows, dtype=float) * 300, name="time")
    case = Case("overload", Telemetry.from_frame(frame, graph=[("gateway", "a"), ("a", "b")]), float(fault * 300))
    ranking = RUN(min_fit_rows=10**6).fit(case.normal()).rank(case)
    assert ranking.info["services"][0] == "a"
    entered = {c.service: c.evidence["load_entry"] for c in ranking.candidates}
    assert entered == {"gateway": False, "a": True, "b": False}, "shown as evidence"
    assert RUN(min_fit_rows=10**6, traversal=False).fit(case.normal()).rank(case).info["services"][0] == "b"


def test_a_latency_that_falls_is_not_a_fault() -> None:
    # c's latency drops out of its range: requests failing fast, or less to do, an effect either way
    case = _services_case({"c_latency_p99": -8.0})
    assert _scores(RUN(min_fit_rows=10**6), case)["c_latency_p99"] == 0.0
    assert _scores(RUN(min_fit_rows=10**6, direction="both"), case)["c_latency_p99"] > 1.0
