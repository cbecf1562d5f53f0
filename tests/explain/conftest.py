"""Fixtures for the explainer tests: real cases with BARO's rankings, and the fake LLM server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_llm import FakeLLM

from rca.data import Case, discover
from rca.methods import get_method
from rca.rank.ranking import Ranking


@pytest.fixture(scope="session")
def sock_case(sock_shop: Path) -> Case:
    """Sock Shop carts-cpu/1 (RCD)."""
    ref = next(r for r in discover(sock_shop) if r.name == "carts-cpu/1")
    return ref.load()


@pytest.fixture(scope="session")
def sock_ranking(sock_case: Case) -> Ranking:
    """BARO's ranking of carts-cpu/1."""
    return get_method("baro").rank(sock_case)


@pytest.fixture(scope="session")
def nezha_case(nezha: Path) -> Case:
    """The first Nezha Train Ticket case (it has spans)."""
    return discover(nezha)[0].load()


@pytest.fixture(scope="session")
def nezha_ranking(nezha_case: Case) -> Ranking:
    """BARO's ranking of the Nezha case."""
    return get_method("baro").rank(nezha_case)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeLLM]:
    """One fake OpenAI-compatible server for the session."""
    with FakeLLM() as server:
        yield server


@pytest.fixture
def llm(fake_server: FakeLLM) -> FakeLLM:
    """The fake server with no recorded requests and the cooperative scripted model."""
    fake_server.reset()
    return fake_server
