"""The store's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Telemetry:

* ``series``: one row per series (``name`` = the frame column ``<service>_<metric>``), with its
  service, metric, unit (as sent, UCUM such as ``ms``, ``By``, ``%``; ``""`` when none came) and the
  first and last timestamps seen.
* ``points``: ``(series_id, ts) -> value``; the primary key makes writes idempotent (at-least-once
  delivery from Kafka plus upserts gives exactly one point per series and timestamp).
* ``spans``: raw spans keyed by ``(trace_id, span_id)``. Trace-derived series (request rate, error
  rate, latency percentiles) and the caller -> callee edges are computed from them on read with
  :mod:`rca.data.spans`, the same functions the dataset loaders use, so a replayed case and the case
  read from disk give the same numbers. A span's parent may arrive in another message, batch or
  partition; deriving on read sees both.
* ``log_templates``, ``log_counts``, ``log_samples``, ``log_offsets``: log records counted per
  service, template and time bucket, a few raw lines of each, and the offset ledger that makes the
  counts idempotent (:mod:`rca.store.logs`).

Service state, written by the API:
``analyses``, ``incidents`` and ``jobs`` hold an id, timestamps, a status and JSON documents, so the
API can evolve their content without migrations. ``cause_services`` holds the services of each
analysis' ranked causes with their ranks, so lists of analyses and incidents filter by service in the
database (:mod:`rca.store.causes`). ``meta`` holds the schema version. Models are not
here: the registry keeps them as files under the data directory (:mod:`rca.registry.models`).
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 4
"""2 added ``series.unit`` (:func:`upgrade` adds it to a store of version 1); 3 added ``cause_services``
(created like any missing table, then filled from the stored results by
:func:`rca.store.causes.backfill`); 4 added ``log_times`` (created like any missing table; the records
counted before it have no times and are read as before, spread over their bucket)."""

metadata = sa.MetaData()

series = sa.Table(
    "series",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(600), nullable=False, unique=True),
    sa.Column("service", sa.String(300), nullable=False),
    sa.Column("metric", sa.String(300), nullable=False),
    sa.Column("unit", sa.String(64), nullable=False, server_default=""),
    sa.Column("first_seen", sa.Float(precision=53), nullable=True),
    sa.Column("last_seen", sa.Float(precision=53), nullable=True),
    sa.Index("ix_series_service", "service"),
)

points = sa.Table(
    "points",
    metadata,
    sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ts", sa.Float(precision=53), primary_key=True),
    sa.Column("value", sa.Float(precision=53), nullable=False),
    sa.Index("ix_points_ts", "ts"),
    sqlite_with_rowid=False,
)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", sa.String(64), primary_key=True),
    sa.Column("span_id", sa.String(32), primary_key=True),
    sa.Column("parent_span_id", sa.String(32), nullable=False),
    sa.Column("service", sa.String(300), nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    # NULL when the span carried no Status message (then no error rate is derived).
    sa.Column("status_code", sa.SmallInteger, nullable=True),
    sa.Index("ix_spans_start", "start_ns"),
    sqlite_with_rowid=False,
)

analyses = sa.Table(
    "analyses",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float(precision=53), nullable=False),
    sa.Column("updated_at", sa.Float(precision=53), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("request", sa.JSON, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_analyses_created", "created_at"),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("opened_at", sa.Float(precision=53), nullable=False),
    sa.Column("closed_at", sa.Float(precision=53), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("analysis_id", sa.String(64), sa.ForeignKey("analyses.id", ondelete="SET NULL"), nullable=True),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Index("ix_incidents_opened", "opened_at"),
)

cause_services = sa.Table(
    "cause_services",
    metadata,
    sa.Column("analysis_id", sa.String(64), sa.ForeignKey("analyses.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service", sa.String(300), primary_key=True),
    sa.Column("rank", sa.SmallInteger, nullable=False),
    sa.Index("ix_cause_services_service", "service", "rank"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float(precision=53), nullable=False),
    sa.Column("updated_at", sa.Float(precision=53), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("detail", sa.JSON, nullable=True),
)

log_templates = sa.Table(
    "log_templates",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("key_hash", sa.String(32), nullable=False, unique=True),
    sa.Column("service", sa.String(300), nullable=False),
    sa.Column("template_key", sa.Text, nullable=False),
    sa.Column("level", sa.String(32), nullable=False),
    sa.Index("ix_log_templates_service", "service"),
)

log_counts = sa.Table(
    "log_counts",
    metadata,
    sa.Column("template_id", sa.Integer, sa.ForeignKey("log_templates.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("bucket", sa.Float(precision=53), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    # The first and last record's time: the records' extent within the bucket, for rebuilding them.
    sa.Column("first_ts", sa.Float(precision=53), nullable=True),
    sa.Column("last_ts", sa.Float(precision=53), nullable=True),
    sa.Index("ix_log_counts_bucket", "bucket"),
    sqlite_with_rowid=False,
)

log_times = sa.Table(
    "log_times",
    metadata,
    # Append-only: one row per write and log_counts row, so a busy stream's write never rewrites earlier times.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity(), primary_key=True),
    sa.Column("template_id", sa.Integer, sa.ForeignKey("log_templates.id", ondelete="CASCADE"), nullable=False),
    sa.Column("bucket", sa.Float(precision=53), nullable=False),
    # The write's records' times, whole microseconds after `bucket`, comma-separated (rca.store.logs.format_times).
    sa.Column("times", sa.Text, nullable=False),
    sa.Index("ix_log_times_bucket", "bucket"),
)

log_samples = sa.Table(
    "log_samples",
    metadata,
    sa.Column("template_id", sa.Integer, sa.ForeignKey("log_templates.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("hour", sa.Float(precision=53), primary_key=True),
    sa.Column("seq", sa.SmallInteger, primary_key=True),
    sa.Column("ts", sa.Float(precision=53), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("trace_id", sa.String(64), nullable=False),
    sa.Column("span_id", sa.String(64), nullable=False),
    sa.Index("ix_log_samples_ts", "ts"),
    sqlite_with_rowid=False,
)

log_offsets = sa.Table(
    "log_offsets",
    metadata,
    sa.Column("topic", sa.String(300), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
)


meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def upgrade(conn: sa.Connection) -> None:
    """Bring tables of an older version up to :data:`SCHEMA_VERSION` (idempotent, in ``conn``'s transaction)."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns("series")}
    if "unit" not in columns:
        conn.exec_driver_sql("ALTER TABLE series ADD COLUMN unit VARCHAR(64) NOT NULL DEFAULT ''")
    if "first_ts" not in {c["name"] for c in sa.inspect(conn).get_columns("log_counts")}:
        conn.exec_driver_sql("ALTER TABLE log_counts ADD COLUMN first_ts DOUBLE PRECISION")
        conn.exec_driver_sql("ALTER TABLE log_counts ADD COLUMN last_ts DOUBLE PRECISION")
