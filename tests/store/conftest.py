"""Fixtures of the store tests: a real PostgreSQL server (never skipped) and a store per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresServer

from rca.store import Store


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; a failure to start fails the tests that use it."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


_counter = [0]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each backend (a fresh database per test on PostgreSQL)."""
    if request.param == "sqlite":
        s = Store(data_dir=tmp_path)
    else:
        import sqlalchemy as sa

        server: PostgresServer = request.getfixturevalue("postgres")
        _counter[0] += 1
        name = f"t{_counter[0]}"
        admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        s = Store(server.url.rsplit("/", 1)[0] + f"/{name}")
    yield s
    s.close()
