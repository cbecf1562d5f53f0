"""The fusion of signals into one order: sort keys, the scores made from them, the walk."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from rca.rank.fusion import key_scores, service_best, standout_keys, traversal_frontier, walk_scores
from rca.rank.pagerank import ReverseWalk

SERIES = {
    "a_cpu": ("a", "cpu"),
    "a_latency": ("a", "latency"),
    "b_cpu": ("b", "cpu"),
    "b_latency": ("b", "latency"),
    "c_cpu": ("c", "cpu"),
    "c_latency": ("c", "latency"),
}


def _identity(scores: object) -> object:
    return scores


def test_key_scores_keep_the_order_and_the_ties_of_the_keys() -> None:
    keys = {
        "x": (1.0, True, 0.0, False, 0.5),
        "y": (1.0, True, 0.0, True, 0.1),
        "z": (0.0, True, 9.0, True, 9.0),
        "w": (1.0, True, 0.0, False, 0.5),
    }
    scores = key_scores(keys)
    assert scores["y"] > scores["x"] == scores["w"] > scores["z"]
    assert scores == {"x": 1.0, "w": 1.0, "y": 3.0, "z": 0.0}


def test_a_cause_standing_out_comes_before_a_larger_symptom() -> None:
    # b's CPU stands out a little; a's latency stands out by far more: b is named first
    anomaly = {"a_cpu": 0.5, "a_latency": 5000.0, "b_cpu": 3.0, "b_latency": 2.0, "c_cpu": 0.5, "c_latency": 2.0}
    within = dict.fromkeys(anomaly, 0.0) | {"a_latency": 0.9}
    keys = standout_keys(anomaly, SERIES, within, _identity)  # type: ignore[arg-type]
    assert keys["b_cpu"][0] > keys["a_latency"][0] == 0.0
    assert keys["a_latency"][2] > keys["b_latency"][2]
    ordered = sorted(keys, key=lambda c: keys[c], reverse=True)
    assert ordered[:2] == ["b_cpu", "b_latency"]
    assert ordered[2] == "a_latency"


def test_within_a_service_its_cause_out_of_range_precedes_its_symptom() -> None:
    anomaly = {"a_cpu": 4.0, "a_latency": 900.0, "b_cpu": 0.2, "b_latency": 0.2, "c_cpu": 0.1, "c_latency": 0.1}
    within = {c: anomaly[c] / 1000 for c in anomaly}  # the plain score prefers the latency
    keys = standout_keys(anomaly, SERIES, within, _identity)  # type: ignore[arg-type]
    assert keys["a_cpu"][3] and not keys["a_latency"][3]
    assert keys["a_cpu"] > keys["a_latency"]


def test_services_tied_on_both_tiers_are_ordered_by_the_plain_score() -> None:
    anomaly = dict.fromkeys(SERIES, 0.5)  # nothing leaves its normal range: no margins anywhere
    within = {"a_cpu": 0.1, "a_latency": 0.2, "b_cpu": 0.3, "b_latency": 0.05, "c_cpu": 0.0, "c_latency": 0.0}
    keys = standout_keys(anomaly, SERIES, within, _identity)  # type: ignore[arg-type]
    assert {k[:4] for k in keys.values()} == {(0.0, True, 0.0, False)}
    assert max(keys, key=lambda c: keys[c]) == "b_cpu"
    scores = key_scores(keys)
    assert scores["c_cpu"] == scores["c_latency"], "equal keys stay tied for the pessimistic evaluator"


def _at(services: str, time: float = 0.0) -> dict[str, float]:
    return dict.fromkeys(services.split(), time)


def test_the_traversal_frontier_is_the_deepest_anomalous_services() -> None:
    # gateway -> a -> b -> c and gateway -> d: a symptom of c shows in b, a and the gateway
    calls = [("gateway", "a"), ("a", "b"), ("b", "c"), ("gateway", "d")]
    assert traversal_frontier(_at("gateway a b c"), calls) == {"c"}
    assert traversal_frontier(_at("gateway a d"), calls) == {"a", "d"}
    assert traversal_frontier(_at("b d"), calls) == {"b", "d"}, "an anomalous caller does not demote its callee"
    assert traversal_frontier(_at("x"), calls) == {"x"}, "a service outside the call graph has no callee"
    assert traversal_frontier({}, calls) == set()


def test_a_callee_whose_anomaly_began_later_explains_nothing() -> None:
    calls = [("gateway", "a"), ("a", "b")]
    assert traversal_frontier({"a": 60.0, "b": 120.0}, calls) == {"a", "b"}
    assert traversal_frontier({"a": 60.0, "b": 60.0}, calls) == {"b"}
    assert traversal_frontier({"a": 60.0, "b": math.inf}, calls) == {"a", "b"}, "an unknown onset explains nothing"
    assert traversal_frontier({"a": math.inf, "b": 60.0}, calls) == {"b"}


def test_services_calling_each_other_do_not_explain_each_other_away() -> None:
    calls = [("gateway", "a"), ("a", "b"), ("b", "a"), ("b", "c")]
    assert traversal_frontier(_at("gateway a b"), calls) == {"a", "b"}
    assert traversal_frontier(_at("gateway a b c"), calls) == {"c"}


def test_load_passes_down_the_calls_and_is_not_explained_by_the_callees_it_loads() -> None:
    # gateway -> a -> b -> c: an overload entering a slows a, and its extra calls slow b and c
    calls = [("gateway", "a"), ("a", "b"), ("b", "c")]
    slow = _at("gateway a b c")
    assert traversal_frontier(slow, calls) == {"c"}, "without loads, the deepest slow service"
    assert traversal_frontier(slow, calls, _at("a b c")) == {"a"}, "the load enters at a, the callees carry it"
    assert traversal_frontier(_at("b c"), calls, _at("a b c")) == {"a"}, "where load enters, slow or not"
    assert traversal_frontier(slow, calls, {"a": 120.0, "b": 60.0, "c": 60.0}) == {"b"}, "b's load rose first"


def test_a_failing_callee_retried_by_its_callers_still_explains_them() -> None:
    # c fails and a retries it: c's request rate rises while its callers' does not
    calls = [("gateway", "a"), ("a", "c")]
    assert traversal_frontier(_at("gateway a c"), calls, _at("c")) == {"c"}


def test_the_frontier_comes_after_the_cause_tier_and_before_the_symptom_margins() -> None:
    # a's latency stands out more than b's errors, but a waits on b, whose errors left their range first
    series = {**SERIES, "a_errors": ("a", "errors"), "b_errors": ("b", "errors"), "c_errors": ("c", "errors")}
    anomaly = {
        "a_cpu": 0.5, "a_latency": 5000.0, "a_errors": 4.0,
        "b_cpu": 0.5, "b_latency": 3.0, "b_errors": 60.0,
        "c_cpu": 0.5, "c_latency": 0.5, "c_errors": 0.5,
    }  # fmt: skip
    within = dict.fromkeys(anomaly, 0.0)
    plain = standout_keys(anomaly, series, within, _identity)  # type: ignore[arg-type]
    assert max(plain, key=lambda c: plain[c]).startswith("a_")
    keys = standout_keys(anomaly, series, within, _identity, frontier={"b"})  # type: ignore[arg-type]
    assert max(keys, key=lambda c: keys[c]).startswith("b_")
    # a cause standing out still comes first
    anomaly["c_cpu"] = 4.0
    keys = standout_keys(anomaly, series, within, _identity, frontier={"b"})  # type: ignore[arg-type]
    assert max(keys, key=lambda c: keys[c]) == "c_cpu"


def test_a_frontier_service_standing_out_nowhere_is_not_promoted() -> None:
    # b left its range a little, with no anomalous callee; a's latency stands out: a stays first
    anomaly = {"a_cpu": 0.5, "a_latency": 5000.0, "b_cpu": 0.5, "b_latency": 3.0, "c_cpu": 0.5, "c_latency": 0.5}
    keys = standout_keys(anomaly, SERIES, dict.fromkeys(anomaly, 0.0), _identity, frontier={"b"})  # type: ignore[arg-type]
    assert max(keys, key=lambda c: keys[c]).startswith("a_")
    assert not keys["b_latency"][1]


def test_service_best_takes_the_best_series() -> None:
    assert service_best({"a_cpu": 0.2, "a_latency": 0.7, "b_cpu": -1.0}, SERIES) == {"a": 0.7, "b": -1.0}


def test_walk_moves_mass_from_effects_to_causes() -> None:
    graph = ReverseWalk.of(nx.DiGraph([("cause", "effect")]))
    seeds = {"cause": 0.0, "effect": 1.0}
    plain, none = walk_scores(graph, seeds, pagerank=False)
    assert plain == {"cause": 0.0, "effect": 1.0} and none is None
    mixed, walk = walk_scores(graph, seeds, damping=0.5, mix=0.25)
    assert walk is not None and walk["cause"] > 0
    assert mixed["cause"] == pytest.approx(0.25 * walk["cause"])
    assert mixed["effect"] == pytest.approx(0.75 + 0.25 * walk["effect"])


def test_an_own_normal_score_adds_to_its_service_and_leaves_the_others_alone() -> None:
    series = {**SERIES, "b_log_change": ("b", "log_change")}
    anomaly = {"a_cpu": 3.0, "a_latency": 0.5, "b_cpu": 2.0, "b_latency": 0.5, "c_cpu": 0.5, "c_latency": 0.5}
    within = dict.fromkeys(anomaly, 0.0)
    before = standout_keys(anomaly, SERIES, within, _identity)  # type: ignore[arg-type]
    assert before["a_cpu"][0] > before["b_cpu"][0]
    with_logs = {**anomaly, "b_log_change": 1.0}
    keys = standout_keys(with_logs, series, {**within, "b_log_change": 0.0}, _identity, own_normal=["b_log_change"])  # type: ignore[arg-type]
    assert keys["b_cpu"][0] > keys["a_cpu"][0], "b's log change adds to its cause tier"
    assert keys["a_cpu"][0] == before["a_cpu"][0] and keys["c_cpu"][0] == before["c_cpu"][0] == 0.0


def test_a_walk_without_anomalous_seeds_scores_nothing() -> None:
    # a cause of many series would win a uniform walk (effects -> causes): with no evidence nothing should
    graph = nx.DiGraph([("root_cpu", "a_latency"), ("root_cpu", "b_latency"), ("root_cpu", "c_latency")])
    walk = ReverseWalk.of(graph)
    seeds = dict.fromkeys(graph.nodes, 0.0)
    scores, ranks = walk_scores(walk, seeds)
    assert set(scores.values()) == {0.0}
    assert ranks is not None and set(ranks.values()) == {0.0}
    some = walk_scores(walk, seeds | {"a_latency": 1.0})[0]
    assert some["a_latency"] > 0 and some["root_cpu"] > 0, "one anomalous seed walks again"


def test_a_request_rate_is_a_symptom_not_a_cause_tier_metric() -> None:
    # RED-only data: b's request rate rises more than a's latency; no resource metric anywhere
    series = {"a_latency": ("a", "latency"), "b_request_rate": ("b", "request_rate"), "c_latency": ("c", "latency")}
    anomaly = {"a_latency": 30.0, "b_request_rate": 50.0, "c_latency": 0.5}
    keys = standout_keys(anomaly, series, dict.fromkeys(anomaly, 0.0), _identity)
    assert all(key[0] == 0.0 for key in keys.values()), "no cause tier on RED-only data"
    assert keys["b_request_rate"][3] is False, "a rate out of its range is not a cause series"
