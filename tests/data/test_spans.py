"""Spans to per-service series and the call graph, on hand-computed examples."""

from __future__ import annotations

import pandas as pd
import pytest

from rca.data.spans import call_graph, check_spans, span_series

S = 1_000_000_000


def spans() -> pd.DataFrame:
    rows = [
        # trace 1: front -> cart -> db (cart has an internal child span), in the first minute
        ("t1", "a", "", "front", "GET /cart", 5 * S, 5 * S + 300_000_000, 1),
        ("t1", "b", "a", "cart", "get", 5 * S + 10_000_000, 5 * S + 210_000_000, 1),
        ("t1", "c", "b", "cart", "internal", 5 * S + 20_000_000, 5 * S + 30_000_000, 1),
        ("t1", "d", "c", "db", "select", 5 * S + 40_000_000, 5 * S + 50_000_000, 2),
        # trace 2: front -> cart, second minute, an error at cart
        ("t2", "e", "", "front", "GET /cart", 70 * S, 70 * S + 100_000_000, 2),
        ("t2", "f", "e", "cart", "get", 70 * S, 70 * S + 50_000_000, 2),
    ]
    columns = ["trace_id", "span_id", "parent_span_id", "service", "operation", "start_ns", "end_ns", "status_code"]
    return pd.DataFrame(rows, columns=columns)


def test_span_series_counts_entry_spans_per_bucket_end() -> None:
    frame, series = span_series(spans(), 60.0)
    assert frame.index.tolist() == [60.0, 120.0]
    assert frame.loc[60.0, "cart_spans:request_rate"] == pytest.approx(1 / 60)  # the internal span is not a request
    assert frame.loc[60.0, "front_spans:latency_p50"] == pytest.approx(300.0)
    assert frame.loc[60.0, "db_spans:error_rate"] == 1.0
    assert frame.loc[120.0, "cart_spans:error_rate"] == 1.0 and frame.loc[60.0, "cart_spans:error_rate"] == 0.0
    assert pd.isna(frame.loc[120.0, "db_spans:request_rate"]), "no spans means missing, not zero"
    assert series["cart_spans:latency_p99"] == ("cart", "spans:latency_p99")


def test_call_graph_counts_cross_service_calls() -> None:
    edges = call_graph(spans())
    assert edges.to_dict("records") == [
        {"source": "cart", "target": "db", "count": 1},
        {"source": "front", "target": "cart", "count": 2},
    ]


def test_span_series_without_status_has_no_error_rate() -> None:
    frame, _ = span_series(spans().drop(columns="status_code"), 60.0)
    assert not any(c.endswith("error_rate") for c in frame.columns)


def test_repeated_spans_count_once() -> None:
    doubled = pd.concat([spans(), spans().iloc[[1]]], ignore_index=True)
    frame, _ = span_series(check_spans(doubled), 60.0)
    assert frame.loc[60.0, "cart_spans:request_rate"] == pytest.approx(1 / 60)
