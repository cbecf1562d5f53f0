"""AC@k, Avg@k and pessimistic ranks on hand-computed rankings."""

from __future__ import annotations

import math

import pytest

from rca.eval.metrics import accuracy_at_k, average_at_k, metric_rank, service_rank
from rca.eval.runner import summarise
from rca.rank import Candidate, Ranking


def ranking(*items: tuple[str, str | None, float]) -> Ranking:
    return Ranking(tuple(Candidate(s, m, v) for s, m, v in items))


def test_service_rank_collapses_metrics_to_their_best_position() -> None:
    r = ranking(("a", "a_cpu", 0.9), ("b", "b_cpu", 0.8), ("a", "a_mem", 0.7), ("c", "c_cpu", 0.1))
    assert [service_rank(r, s) for s in "abc"] == [1, 2, 3]
    assert metric_rank(r, "a_mem") == 3 and metric_rank(r, "c_cpu") == 4


def test_ties_are_pessimistic() -> None:
    r = ranking(("a", None, 0.5), ("b", None, 0.5), ("c", None, 0.5), ("d", None, 0.1))
    assert service_rank(r, "a") == 3 and service_rank(r, "d") == 4


def test_constant_ranking_puts_everyone_last() -> None:
    r = ranking(*[(s, f"{s}_x", 0.0) for s in "abcde"])
    assert {service_rank(r, s) for s in "abcde"} == {5}


def test_nan_scores_rank_last_and_absent_services_have_no_rank() -> None:
    r = ranking(("a", None, math.nan), ("b", None, 0.2))
    assert service_rank(r, "b") == 1 and service_rank(r, "a") == 2
    assert service_rank(r, "zzz") is None
    assert service_rank(ranking(), "a") is None


def test_accuracy_and_average_by_hand() -> None:
    ranks = [1, 2, 3, None, 6]
    assert accuracy_at_k(ranks, 1) == pytest.approx(1 / 5)
    assert accuracy_at_k(ranks, 3) == pytest.approx(3 / 5)
    assert accuracy_at_k(ranks, 5) == pytest.approx(3 / 5)
    # AC@1..5 = .2, .4, .6, .6, .6 -> mean .48
    assert average_at_k(ranks, 5) == pytest.approx(0.48)


def test_summary_counts_errors_as_misses() -> None:
    records = [
        {"rank": 1, "metric_rank": 1, "seconds": 1.0, "rank_seconds": 0.25, "error": None},
        {"rank": None, "metric_rank": None, "seconds": 3.0, "rank_seconds": None, "error": "ValueError: boom"},
    ]
    summary = summarise(records, metric_labelled=[True, True])
    assert summary["cases"] == 2 and summary["errors"] == 1
    assert summary["AC@1"] == 0.5 and summary["metric_AC@1"] == 0.5
    assert summary["seconds_median"] == 2.0 and summary["seconds_total"] == 4.0
    assert summary["rank_seconds_median"] == 0.25  # the failed case has no rank time
