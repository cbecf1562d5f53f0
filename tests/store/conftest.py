"""Fixtures of the store tests: a store per backend (PostgreSQL: the session server of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresServer

from rca.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each backend (a fresh database per test on PostgreSQL)."""
    if request.param == "sqlite":
        s = Store(data_dir=tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        s = Store(server.new_database())
    yield s
    s.close()
