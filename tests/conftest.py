"""Shared test fixtures: where the shared data lives, small real cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
