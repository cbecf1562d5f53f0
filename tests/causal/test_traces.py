"""Trace evidence in RUN: a slow link is blamed on the service behind it, not on its callers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.anomaly.signals import call_delay_scores
from rca.data.case import Case, RootCause, Telemetry
from rca.data.spans import call_delays
from rca.methods.run import RUN

MS = 1_000_000


def _chain_spans(inject_s: float, delay_ms: float, seed: int = 0) -> pd.DataFrame:
    """Requests frontend -> api -> leaf, one a second for 600 s; from ``inject_s`` the network into
    ``leaf`` adds ``delay_ms`` to every call, so api's and frontend's latencies rise as well."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(600):
        start = int(k * 1e9)
        late = k >= inject_s
        leaf = rng.uniform(8, 12) * MS
        hop = (rng.uniform(1, 2) + (delay_ms if late else 0.0)) * MS
        client_leaf = leaf + hop
        api_own = rng.uniform(4, 6) * MS
        api = api_own + client_leaf
        client_api = api + rng.uniform(1, 2) * MS
        front = client_api + rng.uniform(2, 3) * MS
        t = f"t{k}"
        rows += [
            (t, "f", "", "frontend", "GET /", start, start + front),
            (t, "fc", "f", "frontend", "HTTP GET", start + MS, start + MS + client_api),
            (t, "a", "fc", "api", "/api", start + 2 * MS, start + 2 * MS + api),
            (t, "ac", "a", "api", "HTTP GET", start + 3 * MS, start + 3 * MS + client_leaf),
            (t, "l", "ac", "leaf", "/leaf", start + 4 * MS, start + 4 * MS + leaf),
        ]
    columns = ["trace_id", "span_id", "parent_span_id", "service", "operation", "start_ns", "end_ns"]
    return pd.DataFrame(rows, columns=columns).astype({"start_ns": "int64", "end_ns": "int64"})


def test_call_delays_are_client_minus_server() -> None:
    spans = _chain_spans(inject_s=10_000, delay_ms=0.0)
    delays = call_delays(spans)
    assert set(zip(delays["source"], delays["target"], strict=True)) == {("frontend", "api"), ("api", "leaf")}
    assert delays["delay_ms"].between(0.0, 3.0).all()


def test_slow_leaf_ranked_above_its_callers() -> None:
    spans = _chain_spans(inject_s=480, delay_ms=50.0)
    scores = call_delay_scores(spans, 480.0)
    assert max(scores, key=lambda s: scores[s]) == "leaf"
    assert scores["api"] < 3.0, "the delay of a callee does not show on the calls into its caller"

    # flat pod metrics (a fault invisible in them) and the spans: the leaf is ranked first
    rng = np.random.default_rng(1)
    index = np.arange(0.0, 600.0, 60.0)
    frame = pd.DataFrame({f"{s}_cpu": rng.normal(10, 1, len(index)) for s in ("frontend", "api", "leaf")}, index=index)
    case = Case("slow-leaf", Telemetry.from_frame(frame, traces=spans), 480.0, RootCause("leaf"))
    ranking = RUN(min_fit_rows=1000).fit(case.normal()).rank(case)
    assert ranking.services()[0][0] == "leaf"
    assert "leaf_call_delay" in [c.metric for c in ranking.candidates]


def test_no_trace_scores_without_a_baseline() -> None:
    spans = _chain_spans(inject_s=0, delay_ms=50.0)
    assert call_delay_scores(spans, 0.0) == {}


def test_within_a_service_resources_point_at_symptoms() -> None:
    from rca.causal.graph import resource_symptom_digraph

    series = {
        "cart_cpu": ("cart", "cpu"),
        "cart_mem": ("cart", "mem"),
        "cart_latency_p99": ("cart", "latency_p99"),
        "cart_error_rate": ("cart", "error_rate"),
        "user_cpu": ("user", "cpu"),
    }
    graph = resource_symptom_digraph(series)
    assert set(graph.edges) == {
        ("cart_cpu", "cart_latency_p99"),
        ("cart_cpu", "cart_error_rate"),
        ("cart_mem", "cart_latency_p99"),
        ("cart_mem", "cart_error_rate"),
    }
    assert set(graph.nodes) == set(series)  # no edge between services, none into a resource


def test_the_merged_graph_says_where_each_edge_came_from() -> None:
    import networkx as nx

    from rca.causal.graph import causal_graph

    series = {
        "front_latency_p99": ("front", "latency_p99"),
        "cart_cpu": ("cart", "cpu"),
        "cart_latency_p99": ("cart", "latency_p99"),
    }
    learned = nx.DiGraph([("cart_cpu", "cart_latency_p99"), ("front_latency_p99", "cart_cpu")])
    graph = causal_graph(list(series), series, learned=learned, calls=[("front", "cart", 3.0)], prior=True)
    kinds = {(a, b): k for a, b, k in graph.edges(data="kinds")}
    assert kinds[("cart_cpu", "cart_latency_p99")] == ("learned", "service")  # both found it
    assert kinds[("front_latency_p99", "cart_cpu")] == ("learned",)
    assert kinds[("cart_cpu", "front_latency_p99")] == ("call",)  # the callee's fault shows in the caller
    assert graph["cart_cpu"]["cart_latency_p99"]["weight"] == 2.0  # weights still add up
