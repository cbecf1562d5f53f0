"""The telemetry store: SQLite (WAL) by default, PostgreSQL by URL, one interface.

Writes are idempotent upserts in one transaction per batch (a point is keyed by series and timestamp,
a span by trace and span id), so at-least-once delivery from Kafka stores every point exactly once.
Reads give back a :class:`rca.data.case.Telemetry` for a time window; trace-derived series and the
call graph are computed from the stored spans with :mod:`rca.data.spans`, the loaders' definitions.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from rca.data.case import Telemetry
from rca.data.spans import call_graph, span_series
from rca.errors import RCAError
from rca.store import schema

DEFAULT_FILENAME = "rca.sqlite"
"""The embedded store's file name inside the data directory."""

DEFAULT_SPAN_STEP_SECONDS = 60.0
"""Bucket width for trace-derived series when the caller gives none."""


def _dump_json(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON_CODEC: dict[str, Any] = {"json_serializer": _dump_json, "json_deserializer": orjson.loads}
"""orjson for the JSON columns: analysis documents are read on every API request."""


class StoreError(RCAError):
    """The store cannot be opened or used; the message says what to fix."""


class Point(NamedTuple):
    """One metric sample: ``value`` of ``metric`` of ``service`` at ``ts`` (Unix seconds)."""

    service: str
    metric: str
    ts: float
    value: float


class Span(NamedTuple):
    """One span as stored; ids are lowercase hex, ``parent_span_id`` is ``""`` for roots.

    ``status_code`` is ``None`` when the span carried no status (OTLP ``Status`` absent).
    """

    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    operation: str
    start_ns: int
    end_ns: int
    status_code: int | None


@dataclass(frozen=True)
class WriteResult:
    """What one :meth:`Store.write` stored (after de-duplication within the batch)."""

    points: int
    spans: int
    new_series: int


def series_name(service: str, metric: str) -> str:
    """The frame column of a series: ``<service>_<metric>`` (RCAEval's convention).

    A series whose metric equals its service (a name without ``_`` in the case format) keeps that name.
    """
    return service if service == metric else f"{service}_{metric}"


def default_url(data_dir: str | os.PathLike[str] = ".") -> str:
    """The embedded store's URL: ``sqlite:///<data_dir>/rca.sqlite``.

    The data directory comes from the caller (``RCA_DATA_DIR`` through :class:`rca.settings.Settings`);
    nothing here reads the environment.
    """
    return f"sqlite:///{(Path(data_dir) / DEFAULT_FILENAME).resolve()}"


def _normalise_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _chunks(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


class Store:
    """Series points, spans and service state in SQLite or PostgreSQL.

    Parameters
    ----------
    url
        A SQLAlchemy URL: ``sqlite:///path/rca.sqlite`` or ``postgresql://user@host:port/db`` (the
        psycopg 3 driver is used). ``None`` means :func:`default_url` of ``data_dir``.
    data_dir
        The data directory for the default SQLite file (default: the working directory).
    span_step_seconds
        Bucket width for trace-derived series when :meth:`read_telemetry` is given none.
    create
        Create missing tables (idempotent).

    Raises
    ------
    StoreError
        When the database cannot be reached or the URL is not supported.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        span_step_seconds: float = DEFAULT_SPAN_STEP_SECONDS,
        create: bool = True,
    ) -> None:
        self.url = _normalise_url(url) if url else default_url("." if data_dir is None else data_dir)
        self.span_step_seconds = float(span_step_seconds)
        try:
            parsed = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(
                f"store URL {self.url!r} is not a database URL ({exc}). Fix: use sqlite:///PATH or "
                "postgresql://USER@HOST:PORT/DB"
            ) from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(
                f"store URL {self.url!r}: backend {self.dialect!r} is not supported; use sqlite or postgresql"
            )
        self.engine = self._make_engine(parsed)
        self._series_ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        if create:
            self.create()

    # ----------------------------------------------------------------- setup
    def _make_engine(self, parsed: sa.engine.URL) -> Engine:
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed, connect_args={"timeout": 60.0}, **_JSON_CODEC)

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                # Take over transaction control from pysqlite so writers can BEGIN IMMEDIATE.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA busy_timeout=60000")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                options = conn.get_execution_options()
                if options.get("rca_write"):
                    # FULL: a committed ingest batch survives power loss, so committing Kafka offsets after
                    # it is safe. NORMAL (no fsync in WAL mode) survives a crash of the process, not of the OS.
                    conn.exec_driver_sql(f"PRAGMA synchronous={'FULL' if options.get('rca_durable') else 'NORMAL'}")
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    conn.exec_driver_sql("BEGIN")

            return engine
        engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10}, **_JSON_CODEC)

        @event.listens_for(engine, "begin")
        def _on_begin_pg(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get("rca_write") and not options.get("rca_durable"):
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")

        return engine

    def create(self) -> None:
        """Create the tables that do not exist yet and record the schema version."""
        try:
            with self.transaction() as conn:
                schema.metadata.create_all(conn)
                self._upsert_meta(conn, "schema_version", str(schema.SCHEMA_VERSION))
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot open the store at {self._safe_url()}: {exc.orig}. Fix: check that the database "
                "server runs and the URL (host, port, user, database) is right, or that the data directory "
                "is writable"
            ) from None

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction, one at a time within this process.

        Parameters
        ----------
        durable
            Wait until the commit is on disk (SQLite ``synchronous=FULL``, PostgreSQL
            ``synchronous_commit``). Without it a commit survives a crash of this process but may be
            lost with the machine (power loss, kernel panic): fit for records that can be recomputed,
            such as analyses, and much faster.
        """
        with self._lock, self.engine.execution_options(rca_write=True, rca_durable=durable).begin() as conn:
            yield conn

    def _upsert_meta(self, conn: Connection, key: str, value: str) -> None:
        insert = sqlite_dialect.insert if self.dialect == "sqlite" else pg_dialect.insert
        stmt = insert(schema.meta).values(key=key, value=value)
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))

    def close(self) -> None:
        """Release all connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._safe_url()!r})"

    # ----------------------------------------------------------------- write
    def _ensure_series(self, conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Ids of the given series, inserting the missing ones (inside ``conn``'s transaction)."""
        ids = {}
        missing = []
        for key in keys:
            sid = self._series_ids.get(key)
            if sid is None:
                missing.append(key)
            else:
                ids[key] = sid
        if missing:
            insert = sqlite_dialect.insert if self.dialect == "sqlite" else pg_dialect.insert
            names = {series_name(s, m): (s, m) for s, m in missing}
            for chunk in _chunks(sorted(names), 500):
                rows = [{"name": n, "service": names[n][0], "metric": names[n][1]} for n in chunk]
                conn.execute(insert(schema.series).on_conflict_do_nothing(index_elements=["name"]), rows)
                found = conn.execute(
                    sa.select(schema.series.c.id, schema.series.c.name).where(schema.series.c.name.in_(chunk))
                )
                for sid, name in found:
                    ids[names[name]] = int(sid)
        return ids

    def write(
        self, points: Sequence[Point] | Sequence[tuple[str, str, float, float]], spans: Sequence[Span] = ()
    ) -> WriteResult:
        """Upsert points and spans in one transaction; on return the batch is durable.

        Within a batch, the last value of a repeated ``(series, ts)`` wins; a point already stored
        is overwritten, a span already stored is kept. Safe to call again with the same batch.

        Raises
        ------
        sqlalchemy.exc.SQLAlchemyError
            When the database fails; nothing of the batch is stored then.
        """
        keys = {(p[0], p[1]) for p in points}
        new_series = 0
        with self.transaction() as conn:
            ids = self._ensure_series(conn, keys)
            new_ids = {k: v for k, v in ids.items() if k not in self._series_ids}
            new_series = len(new_ids)
            # De-duplicate (PostgreSQL's ON CONFLICT rejects a key twice in one statement).
            rows: dict[tuple[int, float], float] = {}
            lo: dict[int, float] = {}
            hi: dict[int, float] = {}
            for service, metric, ts, value in points:
                sid = ids[(service, metric)]
                rows[(sid, ts)] = value
            for sid, ts in rows:
                if ts > hi.get(sid, -math.inf):
                    hi[sid] = ts
                if ts < lo.get(sid, math.inf):
                    lo[sid] = ts
            if rows:
                self._upsert_points(conn, rows)
                self._touch_series(conn, lo, hi)
            span_rows = {(s[0], s[1]): s for s in spans}
            if span_rows:
                self._insert_spans(conn, list(span_rows.values()))
        # Cache ids only once the transaction that created them has committed.
        self._series_ids.update(new_ids)
        return WriteResult(points=len(rows), spans=len(span_rows), new_series=new_series)

    def _upsert_points(self, conn: Connection, rows: dict[tuple[int, float], float]) -> None:
        if self.dialect == "sqlite":
            sql = (
                "INSERT INTO points (series_id, ts, value) VALUES (?, ?, ?) "
                "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value"
            )
            conn.exec_driver_sql(sql, [(sid, ts, v) for (sid, ts), v in rows.items()])
            return
        sql = (
            "INSERT INTO points (series_id, ts, value) "
            "SELECT * FROM unnest(%s::integer[], %s::float8[], %s::float8[]) "
            "ON CONFLICT (series_id, ts) DO UPDATE SET value = EXCLUDED.value"
        )
        items = sorted(rows.items())  # one lock order for concurrent workers
        for chunk in _chunks(items, 50_000):
            conn.exec_driver_sql(sql, ([k[0] for k, _ in chunk], [k[1] for k, _ in chunk], [v for _, v in chunk]))

    def _touch_series(self, conn: Connection, lo: dict[int, float], hi: dict[int, float]) -> None:
        params = [{"id": sid, "lo": lo[sid], "hi": hi[sid]} for sid in sorted(hi)]
        conn.execute(
            sa.text(
                "UPDATE series SET "
                "first_seen = CASE WHEN first_seen IS NULL OR first_seen > :lo THEN :lo ELSE first_seen END, "
                "last_seen = CASE WHEN last_seen IS NULL OR last_seen < :hi THEN :hi ELSE last_seen END "
                "WHERE id = :id"
            ),
            params,
        )

    def _insert_spans(self, conn: Connection, rows: list[Span]) -> None:
        if self.dialect == "sqlite":
            sql = (
                "INSERT INTO spans (trace_id, span_id, parent_span_id, service, operation, start_ns, end_ns, "
                "status_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id, span_id) DO NOTHING"
            )
            conn.exec_driver_sql(sql, rows)
            return
        sql = (
            "INSERT INTO spans (trace_id, span_id, parent_span_id, service, operation, start_ns, end_ns, status_code) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
            "%s::bigint[], %s::smallint[]) ON CONFLICT (trace_id, span_id) DO NOTHING"
        )
        rows.sort()
        for chunk in _chunks(rows, 20_000):
            conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*chunk, strict=True)))

    # ------------------------------------------------------------------ read
    def read_points(
        self, start: float | None = None, end: float | None = None
    ) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
        """Stored metric points with ``start <= ts < end`` as a wide frame, and its series mapping."""
        s, p = schema.series, schema.points
        query = sa.select(s.c.id, s.c.name, s.c.service, s.c.metric, p.c.ts, p.c.value).join(p, p.c.series_id == s.c.id)
        if start is not None:
            query = query.where(p.c.ts >= start)
        if end is not None:
            query = query.where(p.c.ts < end)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return pd.DataFrame(index=pd.Index([], name="time", dtype=float)), {}
        long = pd.DataFrame(rows, columns=["id", "name", "service", "metric", "ts", "value"])
        order = long.drop_duplicates("id").sort_values("id")
        mapping = {
            str(n): (str(sv), str(m)) for n, sv, m in order[["name", "service", "metric"]].itertuples(index=False)
        }
        wide = long.pivot(index="ts", columns="name", values="value").sort_index()
        wide = wide[list(mapping)].astype("float64")
        wide.index = pd.Index(wide.index.to_numpy(dtype=float), name="time")
        wide.columns.name = None
        return wide, mapping

    def read_spans(self, start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """Stored spans that start in ``[start, end)`` (Unix seconds), in the loaders' spans format.

        ``status_code`` is a column only when some span in the window carried a status.
        """
        t = schema.spans
        query = sa.select(
            t.c.trace_id,
            t.c.span_id,
            t.c.parent_span_id,
            t.c.service,
            t.c.operation,
            t.c.start_ns,
            t.c.end_ns,
            t.c.status_code,
        )
        if start is not None:
            query = query.where(t.c.start_ns >= math.floor(start * 1e9))
        if end is not None:
            query = query.where(t.c.start_ns < math.floor(end * 1e9))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.start_ns, t.c.trace_id, t.c.span_id)).all()
        columns = ["trace_id", "span_id", "parent_span_id", "service", "operation", "start_ns", "end_ns", "status_code"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["start_ns"] = frame["start_ns"].astype("int64")
        frame["end_ns"] = frame["end_ns"].astype("int64")
        status = pd.to_numeric(frame["status_code"], errors="coerce")
        if status.notna().any():
            frame["status_code"] = status.fillna(0).astype("int64")
        else:
            frame = frame.drop(columns="status_code")
        return frame

    def read_telemetry(
        self,
        start: float | None = None,
        end: float | None = None,
        *,
        step_seconds: float | None = None,
        with_spans: bool = True,
    ) -> Telemetry:
        """The stored telemetry of the window ``start <= time < end`` (either side may be open).

        Metric points become one column per series. Spans whose bucket ends in the window become
        per-service request rate, error rate and latency percentiles with
        :func:`rca.data.spans.span_series` (bucket width ``step_seconds``, default the store's
        ``span_step_seconds``); a trace-derived column replaces a metric column of the same name.

        Parameters
        ----------
        start, end
            Unix seconds; ``None`` leaves that side open.
        step_seconds
            Bucket width for the trace-derived series.
        with_spans
            Attach the raw spans as ``Telemetry.traces`` (they are used for the series either way).
        """
        step = float(step_seconds or self.span_step_seconds)
        frame, mapping = self.read_points(start, end)
        spans = self.read_spans(None if start is None else start - step, None if end is None else end)
        traces = None
        if not spans.empty:
            trace_frame, trace_series = span_series(spans, step)
            keep = np.ones(len(trace_frame), dtype=bool)
            if start is not None:
                keep &= trace_frame.index.to_numpy() >= start
            if end is not None:
                keep &= trace_frame.index.to_numpy() < end
            trace_frame = trace_frame.loc[keep]
            frame = frame.drop(columns=[c for c in trace_frame.columns if c in frame.columns])
            frame = frame.join(trace_frame, how="outer") if len(frame.columns) else trace_frame
            frame = frame.sort_index()
            frame.index = pd.Index(frame.index.to_numpy(dtype=float), name="time")
            mapping = {**{c: mapping[c] for c in frame.columns if c in mapping}, **trace_series}
            if with_spans:
                sec = spans["start_ns"].to_numpy() / 1e9
                bucket = (np.floor(sec / step) + 1.0) * step
                in_window = np.ones(len(spans), dtype=bool)
                if start is not None:
                    in_window &= bucket >= start
                if end is not None:
                    in_window &= bucket < end
                traces = spans.loc[in_window].reset_index(drop=True)
        return Telemetry.from_frame(frame, {c: mapping[c] for c in frame.columns}, traces)

    def call_graph(self, start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """Observed caller -> callee edges with counts among spans starting in ``[start, end)``.

        Computed with :func:`rca.data.spans.call_graph`; columns ``source``, ``target``, ``count``.
        """
        return call_graph(self.read_spans(start, end))

    def edges(
        self, start: float | None = None, end: float | None = None, *, step_seconds: float | None = None
    ) -> pd.DataFrame:
        """Caller -> callee edge counts per time bucket (keyed by bucket end, as the series are).

        Returns a frame with columns ``time``, ``source``, ``target``, ``count``. A call falls into the
        bucket of the callee span's start.
        """
        step = float(step_seconds or self.span_step_seconds)
        spans = self.read_spans(start, end)
        if spans.empty:
            return pd.DataFrame({"time": [], "source": [], "target": [], "count": []})
        # Parents are looked up across the whole window; each call counts in its callee span's bucket.
        # Summed over buckets this equals :meth:`call_graph` (the same parent join and definition).
        bucket = (np.floor(spans["start_ns"].to_numpy() / 1e9 / step) + 1.0) * step
        return self._edges_by_bucket(spans, bucket)

    @staticmethod
    def _edges_by_bucket(spans: pd.DataFrame, bucket: np.ndarray) -> pd.DataFrame:
        parents = spans[["trace_id", "span_id", "service"]].rename(
            columns={"span_id": "parent_span_id", "service": "source"}
        )
        parents = parents.drop_duplicates(["trace_id", "parent_span_id"])
        joined = spans.assign(time=bucket).merge(parents, on=["trace_id", "parent_span_id"], how="inner")
        calls = joined.loc[joined["source"] != joined["service"]]
        out = calls.groupby(["time", "source", "service"]).size().rename("count").reset_index()
        out = out.rename(columns={"service": "target"})
        out["count"] = out["count"].astype("int64")
        return out.sort_values(["time", "source", "target"]).reset_index(drop=True)

    def list_series(self) -> pd.DataFrame:
        """Known series: ``name``, ``service``, ``metric``, ``first_seen``, ``last_seen``."""
        s = schema.series
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s.c.name, s.c.service, s.c.metric, s.c.first_seen, s.c.last_seen).order_by(s.c.id)
            ).all()
        return pd.DataFrame(rows, columns=["name", "service", "metric", "first_seen", "last_seen"])

    def services(self) -> list[dict[str, Any]]:
        """Services known from metrics or spans: name, series count, last-seen time (Unix seconds)."""
        s, t = schema.series, schema.spans
        with self.engine.connect() as conn:
            from_series = conn.execute(
                sa.select(s.c.service, sa.func.count(), sa.func.max(s.c.last_seen)).group_by(s.c.service)
            ).all()
            from_spans = conn.execute(sa.select(t.c.service, sa.func.max(t.c.end_ns)).group_by(t.c.service)).all()
        out: dict[str, dict[str, Any]] = {}
        for service, count, last in from_series:
            out[service] = {"service": service, "series": int(count), "last_seen": last}
        for service, last_ns in from_spans:
            entry = out.setdefault(service, {"service": service, "series": 0, "last_seen": None})
            last = None if last_ns is None else last_ns / 1e9
            if last is not None and (entry["last_seen"] is None or last > entry["last_seen"]):
                entry["last_seen"] = last
        return [out[k] for k in sorted(out)]

    def counts(self) -> dict[str, int]:
        """Row counts: ``series``, ``points``, ``spans``."""
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                for name, table in (("series", schema.series), ("points", schema.points), ("spans", schema.spans))
            }

    def newest(self) -> float | None:
        """The newest point or span start time stored (Unix seconds), or ``None`` when empty."""
        with self.engine.connect() as conn:
            ts = conn.execute(sa.select(sa.func.max(schema.points.c.ts))).scalar_one()
            ns = conn.execute(sa.select(sa.func.max(schema.spans.c.start_ns))).scalar_one()
        candidates = [float(ts)] if ts is not None else []
        if ns is not None:
            candidates.append(ns / 1e9)
        return max(candidates) if candidates else None

    # ------------------------------------------------------------- retention
    def purge(self, before: float) -> dict[str, int]:
        """Delete points with ``ts < before`` and spans starting before it; series metadata stays."""
        with self.transaction() as conn:
            points = conn.execute(sa.delete(schema.points).where(schema.points.c.ts < before)).rowcount
            spans = conn.execute(sa.delete(schema.spans).where(schema.spans.c.start_ns < int(before * 1e9))).rowcount
        return {"points": int(points or 0), "spans": int(spans or 0)}

    def apply_retention(self, retention_seconds: float) -> dict[str, int]:
        """Keep only the last ``retention_seconds`` before the newest stored data (not the wall clock).

        Relative to the newest data, so replaying an old recorded case does not delete it at once.
        """
        if retention_seconds <= 0:
            raise StoreError(f"retention must be positive, got {retention_seconds} s")
        newest = self.newest()
        if newest is None:
            return {"points": 0, "spans": 0}
        return self.purge(newest - retention_seconds)
