"""Shared test fixtures: where the shared data lives, small real cases, a PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresServer

from rca.runtime import without_triton

without_triton()  # as in the processes rca starts: no Triton probe, no nanobind leak report at exit

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RCA_SHARED", ROOT.parent / "shared"))
SOCK_SHOP = SHARED / "data" / "sock-shop-rcd"
NEZHA = SHARED / "data" / "nezha-train-ticket"


@pytest.fixture(scope="session")
def sock_shop() -> Path:
    """The RCD sock-shop dataset (fails loudly if ../shared is missing: the tests need it)."""
    assert SOCK_SHOP.is_dir(), f"{SOCK_SHOP} is missing: the tests read ../shared/data"
    return SOCK_SHOP


@pytest.fixture(scope="session")
def nezha() -> Path:
    """The Nezha Train Ticket dataset."""
    assert NEZHA.is_dir(), f"{NEZHA} is missing: the tests read ../shared/data"
    return NEZHA


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (never skipped: a failure to start fails the tests that use it)."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()
