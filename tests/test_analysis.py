"""Analyses in worker processes: the same answer as in-process, and a dead worker is replaced."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from rca.analysis import Analyzer
from rca.data import discover
from rca.data.case import Case
from rca.service.pool import AnalysisPool


@pytest.fixture(scope="module")
def case(sock_shop: Path) -> Case:
    return discover(sock_shop / "catalogue-cpu" / "1")[0].load()


def test_pool_gives_the_in_process_answer_and_survives_a_killed_worker(case: Case) -> None:
    pool = AnalysisPool(None, processes=1)
    try:
        pool.warm_up()
        expected = Analyzer().analyze(case, "baro")
        result, document = pool.analyze(case, "baro", 3, svg_url="/graph.svg")
        assert result.ranking == expected.ranking
        stored = expected.document(3, svg_url="/graph.svg")
        assert {**document, "timings": None} == {**stored, "timings": None}, "the worker builds the stored document"
        (process,) = pool._executor._processes.values()
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=30)
        assert pool.analyze(case, "baro", 3)[0].ranking == expected.ranking  # a fresh pool took over
    finally:
        pool.close()


def test_k_counts_services_with_their_series_beneath() -> None:
    from rca.analysis import SERIES_PER_SERVICE, AnalysisResult
    from rca.rank.ranking import Candidate, Ranking

    # the strongest series collapse to two services, as a CPU hog raises its service's cpu, latency, load...
    scores = [("a", 9), ("a", 8), ("b", 7), ("a", 6), ("a", 5), ("b", 4), ("c", 3), ("d", 2), ("e", 1), ("f", 0.5)]
    candidates = tuple(Candidate(s, f"{s}_m{i}", float(v), {}) for i, (s, v) in enumerate(scores))
    result = AnalysisResult(Ranking(candidates), "run", None)
    items = [item.model_dump() for item in result.ranked(5)]
    assert list(dict.fromkeys(i["service"] for i in items)) == ["a", "b", "c", "d", "e"]
    assert [i["rank"] for i in items if i["service"] == "a"] == [1] * SERIES_PER_SERVICE
    assert [i["metric"] for i in items if i["service"] == "a"] == ["a_m0", "a_m1", "a_m3"][:SERIES_PER_SERVICE]
    assert [i["rank"] for i in items if i["service"] == "e"] == [5]
    nodes = {n.id: n.root_cause_rank for n in result.graph_view(5).nodes}
    assert nodes["a_m0"] == 1 and nodes["e_m8"] == 5 and "f_m9" not in nodes


def test_an_analysis_of_the_same_baseline_reuses_the_fit_and_gives_the_fresh_answer(case: Case) -> None:
    params = {"pretrain_epochs": 1, "epochs": 5, "threads": 1}
    analyzer = Analyzer()
    first = analyzer.analyze(case, "run", params=params)
    assert first.timings["fit"] > 0
    # the incident's window again, ending earlier: the same baseline, another anomalous part
    end = case.inject_time + (float(case.frame.index[-1]) - case.inject_time) / 2
    shorter = case.with_telemetry(case.telemetry.between(end=end))
    again = analyzer.analyze(shorter, "run", params=params)
    assert again.timings["fit"] == 0.0, "the baseline's fit was reused"
    fresh = Analyzer().analyze(shorter, "run", params=params).ranking
    assert (again.ranking.candidates, again.ranking.graph) == (fresh.candidates, fresh.graph)
    # another baseline (an earlier anomaly time) is fitted anew
    earlier = replace(case, inject_time=float(case.frame.index[len(case.frame) // 2 - 5]))
    assert analyzer.analyze(earlier, "run", params=params).timings["fit"] > 0


def test_workers_let_idle_openmp_threads_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    pool = AnalysisPool(None, processes=1)
    try:
        assert pool._executor.submit(os.getenv, "OMP_WAIT_POLICY").result(timeout=120) == "PASSIVE"
    finally:
        pool.close()
