"""The template explainer: deterministic, faithful to the ranking, with the evidence numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rca.data import Case
from rca.explain import TemplateExplainer, make_explainer
from rca.explain.evidence import format_number, format_value, unit_of
from rca.explain.mentions import MentionChecker
from rca.rank.ranking import Candidate, Ranking


def test_same_input_gives_the_same_explanation(sock_case: Case, sock_ranking: Ranking) -> None:
    first = TemplateExplainer().explain(sock_case, sock_ranking)
    second = TemplateExplainer().explain(sock_case, sock_ranking)
    assert first.model_dump(exclude={"timings"}) == second.model_dump(exclude={"timings"})
    assert first.source == "template"
    assert first.fallback_reason is None


def test_root_cause_is_the_top_candidate_with_its_numbers(sock_case: Case, sock_ranking: Ranking) -> None:
    explanation = TemplateExplainer().explain(sock_case, sock_ranking)
    top = sock_ranking.candidates[0]
    root = explanation.root_cause
    assert root is not None
    assert (root.service, root.metric, root.score) == (top.service, top.metric, top.score)
    assert (root.service, root.metric) == ("carts", "carts_cpu")
    numbers = root.numbers
    assert numbers is not None
    normal = sock_case.normal().frame["carts_cpu"]
    anomalous = sock_case.anomalous().frame["carts_cpu"]
    assert numbers.baseline == pytest.approx(float(normal.median()))
    assert numbers.peak == pytest.approx(float(anomalous.max()))
    assert numbers.robust_z == pytest.approx(top.evidence["anomaly_score"])  # BARO ranks by the peak robust z
    assert numbers.onset_time == top.evidence["onset_time"]
    assert numbers.unit == "%"
    assert "carts_cpu rose from 1.25% to 100%" in explanation.summary
    assert "robust z 992" in root.text
    assert "2022-05-17 18:37:55 UTC" in root.text


def test_candidates_follow_the_ranking(sock_case: Case, sock_ranking: Ranking) -> None:
    explanation = TemplateExplainer().explain(sock_case, sock_ranking, k=7)
    assert [(n.rank, n.service, n.metric, n.score) for n in explanation.candidates] == [
        (i + 1, c.service, c.metric, c.score) for i, c in enumerate(sock_ranking.top(7))
    ]
    assert explanation.candidates[1].text.startswith("2nd: queue-master / queue-master_cpu (score 19.5)")


def test_first_symptom_and_impact(sock_case: Case, sock_ranking: Ranking) -> None:
    explanation = TemplateExplainer().explain(sock_case, sock_ranking)
    symptom = explanation.first_symptom.numbers
    assert symptom is not None
    # Everything moved at the anomaly time; among equals a latency series is the symptom, not the root cause.
    assert symptom.column == "carts_lat_99"
    assert symptom.onset_time == sock_case.inject_time
    assert explanation.first_symptom.delay_s == 0
    impact = explanation.impact
    assert (impact.total_services, impact.total_series) == (13, 38)
    assert 0 < impact.anomalous_services <= impact.total_services
    assert 0 < impact.anomalous_series <= impact.total_series
    assert "carts" not in impact.services
    assert f"{impact.anomalous_series} of 38 series are anomalous" in impact.text


def test_nezha_case_with_spans(nezha_case: Case, nezha_ranking: Ranking) -> None:
    explanation = TemplateExplainer().explain(nezha_case, nezha_ranking)
    root = explanation.root_cause
    assert root is not None
    assert root.service == nezha_ranking.candidates[0].service
    assert root.service in explanation.summary
    assert explanation.first_symptom.numbers is not None
    assert explanation.first_symptom.numbers.column != root.metric
    assert explanation.impact.total_services == len(nezha_case.telemetry.services)
    assert "nan" not in explanation.summary.lower()
    assert len(explanation.candidates) == 5


def test_alerted_symptom_and_causal_path(sock_case: Case, sock_ranking: Ranking) -> None:
    case = dataclasses.replace(sock_case, symptom="carts_lat_90")
    ranking = dataclasses.replace(
        sock_ranking, graph=(("carts_cpu", "carts_lat_50", 1.0), ("carts_lat_50", "carts_lat_90", 0.5))
    )
    explanation = TemplateExplainer().explain(case, ranking)
    assert explanation.root_cause is not None
    assert explanation.root_cause.path == ["carts_cpu", "carts_lat_50", "carts_lat_90"]
    assert "Causal path: carts_cpu -> carts_lat_50 -> carts_lat_90." in explanation.root_cause.text
    assert explanation.impact.symptom is not None
    assert explanation.impact.symptom.column == "carts_lat_90"
    assert "The alerted series carts_lat_90 fell from" in explanation.impact.text


def test_ranking_evidence_takes_precedence(sock_case: Case) -> None:
    evidence = {"robust_z": 7.0, "baseline": 2.0, "peak": 5.0, "onset_time": None, "path": ["carts_cpu", "x"]}
    ranking = Ranking((Candidate("carts", "carts_cpu", 1.0, evidence), Candidate("user", None, 0.5)))
    explanation = TemplateExplainer().explain(sock_case, ranking)
    root = explanation.root_cause
    assert root is not None and root.numbers is not None
    assert (root.numbers.baseline, root.numbers.peak, root.numbers.robust_z) == (2.0, 5.0, 7.0)
    assert root.numbers.change_pct == pytest.approx(150.0)
    assert root.path == ["carts_cpu", "x"]
    assert "rose from 2% to 5% (+150%, robust z 7)" in root.text
    assert explanation.candidates[1].numbers is None
    assert explanation.candidates[1].text == "2nd: user (score 0.5)."


def test_a_candidate_on_the_call_graphs_frontier_says_so(sock_case: Case) -> None:
    ranking = Ranking(
        (Candidate("user", None, 0.9, {"frontier": True}), Candidate("carts", None, 0.5, {"frontier": False}))
    )
    first, second = TemplateExplainer().explain(sock_case, ranking).candidates[:2]
    assert first.text == "1st: user (score 0.9); none of its callees went anomalous before it."
    assert second.text == "2nd: carts (score 0.5)."


def test_a_candidate_where_a_load_entered_says_so(sock_case: Case) -> None:
    evidence = {"frontier": True, "load_entry": True}
    ranking = Ranking((Candidate("user", None, 0.9, evidence), Candidate("carts", None, 0.5, {"frontier": True})))
    first, second = TemplateExplainer().explain(sock_case, ranking).candidates[:2]
    assert first.text == "1st: user (score 0.9); its request rate rose while no caller's did: the load enters here."
    assert second.text == "2nd: carts (score 0.5); none of its callees went anomalous before it."


def test_a_candidate_scored_on_its_counterfactual_residual_says_against_what(sock_case: Case) -> None:
    by_calls = {"counterfactual": "call graph", "explained_by": ["carts_latency"], "frontier": True}
    by_causes = {"counterfactual": "learned causes", "explained_by": ["a", "b", "c", "d"]}
    ranking = Ranking((Candidate("user", None, 0.9, by_calls), Candidate("carts", None, 0.5, by_causes)))
    first, second = TemplateExplainer().explain(sock_case, ranking).candidates[:2]
    assert first.text == (
        "1st: user (score 0.9); scored on what its neighbours in the call graph (carts_latency) do not explain; "
        "none of its callees went anomalous before it."
    )
    assert second.text == "2nd: carts (score 0.5); scored on what its learned causes (a, b, c, ...) do not explain."


def test_empty_ranking(sock_case: Case) -> None:
    explanation = TemplateExplainer().explain(sock_case, Ranking(()))
    assert explanation.root_cause is None
    assert explanation.candidates == []
    assert explanation.summary.startswith("The ranking has no candidates.")


def test_threshold_changes_what_counts_as_anomalous(sock_case: Case, sock_ranking: Ranking) -> None:
    loose = TemplateExplainer(threshold=3.0).explain(sock_case, sock_ranking).impact
    strict = TemplateExplainer(threshold=50.0).explain(sock_case, sock_ranking).impact
    assert strict.anomalous_series < loose.anomalous_series
    assert strict.threshold == 50.0


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (342_600_000.0, "bytes", "327 MiB"),
        (512.0, "bytes", "512 B"),
        (0.125, "ratio", "12.5%"),
        (12.345, "ms", "12.3 ms"),
        (1.2532, "%", "1.25%"),
        (12_345.6, None, "12,346"),
        (2.24e16, None, "2.24e+16"),
        (0.0, None, "0"),
        (None, "ms", "n/a"),
    ],
)
def test_format_value(value: float | None, unit: str | None, text: str) -> None:
    assert format_value(value, unit) == text


def test_units_from_names_and_overrides() -> None:
    assert unit_of("mem") == "bytes"
    assert unit_of("network_receive_bytes") == "bytes"
    assert unit_of("latency_p99") == "ms"
    assert unit_of("lat_99") is None
    assert unit_of("lat_99", {"lat_99": "s"}) == "s"
    assert format_number(-0.0004) == "-0.0004"


def test_custom_units_reach_the_text(sock_case: Case, sock_ranking: Ranking) -> None:
    explanation = TemplateExplainer(units={"lat_99": "s"}).explain(sock_case, sock_ranking)
    assert explanation.first_symptom.numbers is not None
    assert explanation.first_symptom.numbers.unit == "s"
    assert "fell from 10 s to 0.809 s" in explanation.first_symptom.text


def test_mention_checker() -> None:
    checker = MentionChecker(["carts", "front-end", "ts-order-service"], ["carts_cpu"], ["cpu", "lat_99"])
    assert checker.unknown("`carts` and `front-end` slowed `ts-order-service`; `carts_cpu` and `cpu` rose") == []
    assert checker.unknown("a well-known, CPU-bound pattern; the service was slow") == []
    assert checker.unknown("cartservice and ts-orders-service and `cartz` and payment-db") == [
        "cartservice",
        "cartz",
        "payment-db",
        "ts-orders-service",
    ]
    assert checker.unknown("`cartz_cpu` but `carts_memory`") == ["cartz_cpu"]
    assert checker.is_service("Carts")
    assert not checker.is_service("cart")


def test_factory_returns_the_template_without_a_base_url() -> None:
    assert isinstance(make_explainer(None, None, None), TemplateExplainer)
    assert isinstance(make_explainer("", "m", None), TemplateExplainer)
    with pytest.raises(ValueError, match="RCA_LLM_MODEL"):
        make_explainer("http://127.0.0.1:1/v1", None, None)
    with pytest.raises(ValueError, match="unknown LLM explainer setting"):
        make_explainer("http://127.0.0.1:1/v1", "m", None, max_cals=3)
    with pytest.raises(ValueError, match="at least"):
        make_explainer("http://127.0.0.1:1/v1", "m", None, max_calls=1)


def test_window_is_downsampled_around_the_anomaly_time(sock_case: Case) -> None:
    evidence = TemplateExplainer().evidence(sock_case)
    window = evidence.window("carts_cpu", None)
    assert len(window) == 24
    times = np.array([t for t, _ in window], dtype=float)
    assert times[0] < sock_case.inject_time < times[-1]
    assert np.all(np.diff(times) > 0)
