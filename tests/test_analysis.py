"""Analyses in worker processes: the same answer as in-process, and a dead worker is replaced."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rca.analysis import AnalysisPool, Analyzer
from rca.data import discover
from rca.data.case import Case


@pytest.fixture(scope="module")
def case(sock_shop: Path) -> Case:
    return discover(sock_shop / "catalogue-cpu" / "1")[0].load()


def test_pool_gives_the_in_process_answer_and_survives_a_killed_worker(case: Case) -> None:
    pool = AnalysisPool(None, processes=1)
    try:
        pool.warm_up()
        expected = Analyzer().analyze(case, "baro").ranking
        assert pool.analyze(case, "baro").ranking == expected
        (process,) = pool._executor._processes.values()
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=30)
        assert pool.analyze(case, "baro").ranking == expected  # a fresh pool took over
    finally:
        pool.close()
