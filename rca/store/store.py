"""The telemetry store: SQLite (WAL) by default, PostgreSQL by URL, one interface.

Writes are idempotent upserts in one transaction per batch (a point is keyed by series and timestamp,
a span by trace and span id), so at-least-once delivery from Kafka stores every point exactly once.
Reads (:mod:`rca.store.reads`) give back a :class:`rca.data.case.Telemetry` for a time window;
trace-derived series and the call graph are computed from the stored spans with :mod:`rca.data.spans`,
the loaders' definitions. Opening the database is :mod:`rca.store.engine`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from rca.store import causes, logs, schema
from rca.store.engine import StoreError, default_url, make_engine, normalise_url, parse_url, safe_url
from rca.store.reads import TelemetryReads

DEFAULT_SPAN_STEP_SECONDS = 60.0
"""Bucket width for trace-derived series when the caller gives none."""


class Point(NamedTuple):
    """One metric sample: ``value`` of ``metric`` of ``service`` at ``ts`` (Unix seconds) in ``unit`` (``""``: none)."""

    service: str
    metric: str
    ts: float
    value: float
    unit: str = ""


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


PointLike = Point | tuple[str, str, float, float] | tuple[str, str, float, float, str]
"""What :meth:`Store.write` takes as a point: a :class:`Point` or a tuple of its shape."""

SpanLike = Span | tuple[str, str, str, str, str, int, int, int | None]
"""What :meth:`Store.write` takes as a span: a :class:`Span` or a tuple of its shape."""


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


def _chunks(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


class Store(TelemetryReads):
    """Series points, spans and service state in SQLite or PostgreSQL.

    Parameters
    ----------
    url
        A SQLAlchemy URL: ``sqlite:///path/rca.sqlite`` or ``postgresql://user@host:port/db`` (the
        psycopg 3 driver is used). ``None`` means :func:`~rca.store.engine.default_url` of ``data_dir``.
    data_dir
        The data directory for the default SQLite file.
    span_step_seconds
        Bucket width for trace-derived series when :meth:`read_telemetry` is given none.
    create
        Create missing tables and columns (idempotent).

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
        self.url = normalise_url(url) if url else default_url(data_dir)
        self.span_step_seconds = float(span_step_seconds)
        parsed = parse_url(self.url)
        self.dialect = parsed.get_backend_name()
        self.engine = make_engine(parsed)
        self._series_ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        if create:
            self.create()

    # ----------------------------------------------------------------- setup
    def create(self) -> None:
        """Create the tables that do not exist yet, add missing columns, record the schema version."""
        try:
            with self.transaction() as conn:
                schema.metadata.create_all(conn)
                schema.upgrade(conn)
                stored = conn.execute(
                    sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
                ).scalar_one_or_none()
                if stored is not None and int(stored) < 3:
                    causes.backfill(conn)
                self._upsert_meta(conn, "schema_version", str(schema.SCHEMA_VERSION))
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot open the store at {safe_url(self.url)}: {exc.orig}. Fix: check that the database "
                "server runs and the URL (host, port, user, database) is right, or that the data directory "
                "is writable"
            ) from None

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
        return f"Store({safe_url(self.url)!r})"

    # ----------------------------------------------------------------- write
    def _ensure_series(
        self, conn: Connection, keys: Iterable[tuple[str, str]], points: Sequence[PointLike]
    ) -> dict[tuple[str, str], int]:
        """Ids of the given series, inserting the missing ones with their units (inside ``conn``'s transaction).

        A series keeps the unit it was first stored with. One stored without a unit takes the unit that
        comes with it when this process first meets it (a producer that starts sending units is seen
        after the next restart; looking for units on every batch would cost a pass over every point).
        """
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
            units = {(p[0], p[1]): p[4] for p in points if len(p) > 4 and p[4]}
            for chunk in _chunks(sorted(names), 500):
                rows = [
                    {"name": n, "service": names[n][0], "metric": names[n][1], "unit": units.get(names[n], "")}
                    for n in chunk
                ]
                stmt = insert(schema.series)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["name"],
                        set_={"unit": stmt.excluded.unit},
                        where=sa.and_(schema.series.c.unit == "", stmt.excluded.unit != ""),
                    ),
                    rows,
                )
                found = conn.execute(
                    sa.select(schema.series.c.id, schema.series.c.name).where(schema.series.c.name.in_(chunk))
                )
                for sid, name in found:
                    ids[names[name]] = int(sid)
        return ids

    def write(self, points: Sequence[PointLike], spans: Sequence[SpanLike] = ()) -> WriteResult:
        """Upsert points and spans in one transaction; on return the batch is durable.

        ``points`` are :class:`Point` s or tuples of that shape (the unit may be left out), such as
        the ingest decoders' records; ``spans`` are :class:`Span` s or tuples of that shape.

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
            ids = self._ensure_series(conn, keys, points)
            new_ids = {k: v for k, v in ids.items() if k not in self._series_ids}
            new_series = len(new_ids)
            # De-duplicate (PostgreSQL's ON CONFLICT rejects a key twice in one statement), then sort by
            # key: one lock order for concurrent workers, one sweep through the primary key's B-tree.
            deduplicated: dict[tuple[int, float], float] = {}
            for p in points:
                deduplicated[(ids[(p[0], p[1])], p[2])] = p[3]
            rows = [(sid, ts, v) for (sid, ts), v in sorted(deduplicated.items())]
            if rows:
                self._upsert_points(conn, rows)
                # Sorted by (series, ts): the last row of a series has its newest time, the first its oldest.
                hi = {sid: ts for sid, ts, _ in rows}
                lo = {sid: ts for sid, ts, _ in reversed(rows)}
                self._touch_series(conn, lo, hi)
            span_rows = {(s[0], s[1]): s for s in spans}
            if span_rows:
                self._insert_spans(conn, list(span_rows.values()))
        # Cache ids only once the transaction that created them has committed.
        self._series_ids.update(new_ids)
        return WriteResult(points=len(rows), spans=len(span_rows), new_series=new_series)

    def _upsert_points(self, conn: Connection, rows: list[tuple[int, float, float]]) -> None:
        """Upsert ``(series_id, ts, value)`` rows, unique and sorted by key."""
        if self.dialect == "sqlite":
            sql = (
                "INSERT INTO points (series_id, ts, value) VALUES (?, ?, ?) "
                "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value"
            )
            conn.exec_driver_sql(sql, rows)
            return
        sql = (
            "INSERT INTO points (series_id, ts, value) "
            "SELECT * FROM unnest(%s::integer[], %s::float8[], %s::float8[]) "
            "ON CONFLICT (series_id, ts) DO UPDATE SET value = EXCLUDED.value"
        )
        for chunk in _chunks(rows, 50_000):
            conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*chunk, strict=True)))

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

    def _insert_spans(self, conn: Connection, rows: list[SpanLike]) -> None:
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

    # ------------------------------------------------------------- retention
    def purge(self, before: float) -> dict[str, int]:
        """Delete points, spans and log counts and kept lines before ``before``; series and templates stay."""
        with self.transaction() as conn:
            points = conn.execute(sa.delete(schema.points).where(schema.points.c.ts < before)).rowcount
            spans = conn.execute(sa.delete(schema.spans).where(schema.spans.c.start_ns < int(before * 1e9))).rowcount
            purged_logs = logs.purge(conn, before)
        return {"points": int(points or 0), "spans": int(spans or 0), **purged_logs}

    def apply_retention(self, retention_seconds: float) -> dict[str, int]:
        """Keep only the last ``retention_seconds`` before the newest stored data (not the wall clock).

        Relative to the newest data, so replaying an old recorded case does not delete it at once.
        """
        if retention_seconds <= 0:
            raise StoreError(f"retention must be positive, got {retention_seconds} s")
        newest = self.newest()
        # an empty store: purging before the epoch deletes nothing and reports every table's count
        return self.purge(0.0 if newest is None else newest - retention_seconds)
