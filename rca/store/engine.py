"""Opening the store's database: URLs, the SQLAlchemy engine of each backend and its transaction settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from rca.errors import RCAError

DEFAULT_FILENAME = "rca.sqlite"
"""The embedded store's file name inside the data directory."""

SUPPORTED = ("sqlite", "postgresql")


class StoreError(RCAError):
    """The store cannot be opened or used; the message says what to fix."""


def _dump_json(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON_CODEC: dict[str, Any] = {"json_serializer": _dump_json, "json_deserializer": orjson.loads}
"""orjson for the JSON columns: analysis documents are read on every API request."""


def default_url(data_dir: str | os.PathLike[str] | None = None) -> str:
    """The embedded store's URL: ``sqlite:///<data_dir>/rca.sqlite`` (default: the working directory).

    The data directory comes from the caller (``RCA_DATA_DIR`` through :class:`rca.settings.Settings`);
    nothing here reads the environment.
    """
    return f"sqlite:///{(Path('.' if data_dir is None else data_dir) / DEFAULT_FILENAME).resolve()}"


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver; others stay as they are."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def parse_url(url: str) -> sa.engine.URL:
    """The parsed URL of a supported backend.

    Raises
    ------
    StoreError
        When it is not a database URL or names another backend.
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"store URL {url!r} is not a database URL ({exc}). Fix: use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB"
        ) from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise StoreError(
            f"store URL {url!r}: backend {parsed.get_backend_name()!r} is not supported; use sqlite or postgresql"
        )
    return parsed


def make_engine(parsed: sa.engine.URL) -> Engine:
    """An engine whose write transactions (execution option ``rca_write``) honour ``rca_durable``.

    SQLite runs in WAL mode and takes the write lock at ``BEGIN IMMEDIATE``; a durable commit is
    ``synchronous=FULL`` there and ``synchronous_commit`` on PostgreSQL.
    """
    if parsed.get_backend_name() == "sqlite":
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
