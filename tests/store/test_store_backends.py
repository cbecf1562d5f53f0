"""The store on SQLite and on a real PostgreSQL server: one interface, the same answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from rca.data.spans import call_graph, span_series
from rca.store import Span, Store, StoreError, schema

SPANS = [
    Span("a" * 32, "1" * 16, "", "frontend", "GET /", 60_000_000_000, 60_100_000_000, None),
    Span("a" * 32, "2" * 16, "1" * 16, "carts", "get", 60_010_000_000, 60_050_000_000, None),
    Span("a" * 32, "3" * 16, "2" * 16, "carts", "db", 60_020_000_000, 60_030_000_000, None),
    Span("b" * 32, "4" * 16, "", "frontend", "GET /", 125_000_000_000, 125_300_000_000, None),
    Span("b" * 32, "5" * 16, "4" * 16, "orders", "post", 125_100_000_000, 125_200_000_000, None),
]


def test_upserts_are_idempotent_and_last_write_wins(store: Store) -> None:
    first = store.write([("carts", "cpu", 1.0, 1.0), ("carts", "cpu", 2.0, 2.0), ("carts", "cpu", 1.0, 1.5)])
    assert (first.points, first.new_series) == (2, 1)
    store.write([("carts", "cpu", 1.0, 1.5), ("carts", "cpu", 2.0, 2.0)])  # a re-delivered batch
    store.write([("orders", "mem", 2.0, 7.0)], SPANS)
    store.write([], SPANS)
    assert store.counts() == {"series": 2, "points": 3, "spans": len(SPANS)}
    frame = store.read_points()[0]
    assert frame.loc[1.0, "carts_cpu"] == 1.5 and math.isnan(frame.loc[1.0, "orders_mem"])
    series = store.list_series().set_index("name")
    assert series.loc["carts_cpu", "first_seen"] == 1.0 and series.loc["carts_cpu", "last_seen"] == 2.0


def test_read_telemetry_derives_span_series_with_the_loader_functions(store: Store) -> None:
    store.write([("carts", "cpu", 120.0, 0.5), ("carts", "cpu", 180.0, 0.7)], SPANS)
    telemetry = store.read_telemetry(step_seconds=60.0)
    spans = pd.DataFrame(SPANS).drop(columns="status_code")
    derived, mapping = span_series(spans, 60.0)
    for column in derived.columns:
        pd.testing.assert_series_equal(
            telemetry.frame[column].dropna(), derived[column].dropna(), check_names=False, check_index_type=False
        )
        assert telemetry.series[column] == mapping[column]
    assert "carts_spans:error_rate" not in telemetry.frame.columns  # no span carried a status
    assert telemetry.series["carts_cpu"] == ("carts", "cpu")
    pd.testing.assert_frame_equal(store.call_graph(), call_graph(spans), check_dtype=False)
    window = store.read_telemetry(150.0, 200.0, step_seconds=60.0)
    assert list(window.frame.index) == [180.0]


def test_status_codes_give_an_error_rate(store: Store) -> None:
    spans = [s._replace(status_code=2 if i == 1 else 0) for i, s in enumerate(SPANS)]
    store.write([], spans)
    frame = store.read_telemetry(step_seconds=60.0).frame
    assert frame.loc[120.0, "carts_spans:error_rate"] == 1.0
    assert frame.loc[120.0, "frontend_spans:error_rate"] == 0.0


def test_edges_per_bucket_sum_to_the_call_graph(store: Store) -> None:
    store.write([], SPANS)
    edges = store.edges(step_seconds=60.0)
    assert list(edges.itertuples(index=False, name=None)) == [
        (120.0, "frontend", "carts", 1),
        (180.0, "frontend", "orders", 1),
    ]


def test_retention_is_relative_to_the_newest_data(store: Store) -> None:
    empty = store.apply_retention(500.0)
    assert empty == {"points": 0, "spans": 0, "log_counts": 0, "log_times": 0, "log_samples": 0}
    store.write([("a", "x", float(t), 1.0) for t in range(0, 1000, 10)], SPANS)
    deleted = store.apply_retention(500.0)
    assert deleted["points"] == 49 and deleted["spans"] == len(SPANS)  # newest 990 -> keep ts >= 490
    assert store.read_points()[0].index.min() == 490.0
    with pytest.raises(StoreError):
        store.apply_retention(0)


def test_services_and_extension_tables(store: Store) -> None:
    store.write([("carts", "cpu", 1.0, 1.0)], SPANS)
    services = {s["service"]: s for s in store.services()}
    assert services["carts"]["series"] == 1 and services["orders"]["series"] == 0
    assert services["orders"]["last_seen"] == pytest.approx(125.2)
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"series", "points", "spans", "analyses", "incidents", "jobs", "meta"} <= names
    with store.engine.connect() as conn:
        assert conn.execute(
            sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
        ).scalar_one() == str(schema.SCHEMA_VERSION)


def test_history_start_keeps_the_newest_points_of_every_series(store: Store) -> None:
    assert store.history_start(3) is None
    store.write([("a", "cpu", float(t), 1.0) for t in range(50)] + [("b", "cpu", float(t), 1.0) for t in range(40, 50)])
    assert store.history_start(3) == 47.0
    assert store.history_start(12) == 38.0  # b has fewer than 12: all of b, from 40; a's 12th newest is 38
    frame, _ = store.read_points(store.history_start(3))
    assert (frame.notna().sum() == 3).all()


def test_large_batches(store: Store) -> None:
    rows = [(f"s{i % 50}", f"m{i % 7}", float(i // 350), float(i)) for i in range(120_000)]
    result = store.write(rows)
    assert result.points == 120_000
    frame = store.read_points()[0]
    assert frame.shape == (120_000 // 350 + 1, 350)
    assert np.nansum(frame.to_numpy()) == sum(float(i) for i in range(120_000))


def test_sqlite_uses_wal(tmp_path) -> None:
    store = Store(data_dir=tmp_path)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "rca.sqlite").exists()


def test_unreachable_postgres_says_what_to_fix() -> None:
    with pytest.raises(StoreError, match="server runs"):
        Store("postgresql://nobody@127.0.0.1:1/none")


def test_unsupported_url() -> None:
    with pytest.raises(StoreError, match="not supported"):
        Store("mysql://x@y/z")


def test_units_are_kept_with_their_series(store: Store) -> None:
    store.write([("carts", "cpu", 1.0, 10.0, "%"), ("carts", "mem", 1.0, 5.0), ("carts", "lat", 1.0, 2.0, "")])
    store.write([("carts", "cpu", 2.0, 11.0)], SPANS)
    restarted = Store(store.url)  # a process that meets the series for the first time
    restarted.write([("carts", "cpu", 3.0, 12.0, "ms"), ("carts", "lat", 3.0, 3.0, "ms")])  # a unit once set stays
    restarted.close()
    units = store.list_series().set_index("name")["unit"].to_dict()
    assert units == {"carts_cpu": "%", "carts_mem": "", "carts_lat": "ms"}
    telemetry = store.read_telemetry(step_seconds=60.0)
    assert telemetry.units["carts_cpu"] == "%" and "carts_mem" not in telemetry.units
    assert telemetry.units["carts_spans:latency_p90"] == "ms" and telemetry.units["carts_spans:request_rate"]
    assert {s["service"]: s["units"] for s in store.services()}["carts"] == {"cpu": "%", "lat": "ms"}


def test_a_store_of_schema_version_1_gains_the_unit_column(tmp_path) -> None:
    path = tmp_path / "rca.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE series (id INTEGER PRIMARY KEY, name VARCHAR(600) NOT NULL UNIQUE, service VARCHAR(300) "
            "NOT NULL, metric VARCHAR(300) NOT NULL, first_seen FLOAT, last_seen FLOAT)"
        )
        conn.exec_driver_sql("INSERT INTO series (name, service, metric) VALUES ('carts_cpu', 'carts', 'cpu')")
    engine.dispose()
    store = Store(data_dir=tmp_path)
    store.write([("carts", "cpu", 1.0, 1.0, "%")])
    assert store.list_series()[["name", "unit"]].values.tolist() == [["carts_cpu", "%"]]
    store.close()
