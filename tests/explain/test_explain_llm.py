"""The LLM explainer against a fake OpenAI-compatible server: recursion, tools, budgets, every fallback."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from fake_llm import FakeLLM, Recorded, Reply, ScriptedModel, completion, json_reply, tool_call

from rca.data import Case
from rca.explain import Explanation, LLMExplainer, TemplateExplainer, make_explainer
from rca.explain.evidence import series_numbers
from rca.rank.ranking import Ranking

GRAPH = (
    ("queue-master_cpu", "carts_cpu", 1.0),
    ("carts_cpu", "carts_lat_99", 1.0),
    ("user_cpu", "carts_lat_99", 0.5),
)
"""A causal graph over BARO's top three of carts-cpu/1 and its first symptom: a two-level agent tree."""


@pytest.fixture
def deep_ranking(sock_ranking: Ranking) -> Ranking:
    """BARO's ranking with a causal graph, so that the agent tree has depth 2."""
    return dataclasses.replace(sock_ranking, graph=GRAPH)


def explainer(llm: FakeLLM, **kwargs: Any) -> LLMExplainer:
    return LLMExplainer(llm.url, "fake-model", **kwargs)


def node_requests(llm: FakeLLM) -> list[Recorded]:
    return [r for r in llm.requests if r.payload["task"] == "node"]


def assert_template_fallback(result: Explanation, case: Case, ranking: Ranking, reason: str) -> None:
    template = TemplateExplainer().explain(case, ranking)
    assert result.source == "template"
    assert result.fallback_reason == reason
    assert result.fallback_detail
    assert result.llm_model == "fake-model"
    assert result.summary == template.summary
    assert result.candidates == template.candidates
    assert result.root_cause == template.root_cause


def test_happy_path_recursion_children_first(llm: FakeLLM, sock_case: Case, deep_ranking: Ranking) -> None:
    before = deep_ranking.candidates
    result = explainer(llm).explain(sock_case, deep_ranking)
    assert result.source == "llm"
    assert result.fallback_reason is None
    assert result.summary == "LLM: `carts` is the root cause."
    assert result.root_cause is not None and result.root_cause.text == "LLM: `carts` saturated first."
    # The ranking is untouched and the numbers are the template's.
    template = TemplateExplainer().explain(sock_case, deep_ranking)
    assert deep_ranking.candidates == before
    assert result.candidates == template.candidates
    assert result.root_cause.numbers == template.root_cause.numbers  # type: ignore[union-attr]
    # One agent per node, children before parents, then one synthesis call.
    nodes = [r.payload["node"] for r in node_requests(llm) if not r.tool_results]
    assert nodes == ["queue-master_cpu", "carts_cpu", "user_cpu", "carts_lat_99"]
    assert [(r.node, r.depth) for r in result.node_reports] == [
        ("queue-master_cpu", 2),
        ("carts_cpu", 1),
        ("user_cpu", 1),
        ("carts_lat_99", 0),
    ]
    assert llm.requests[-1].payload["task"] == "synthesis"
    assert result.llm_calls == len(llm.requests) == 4 * 2 + 1
    # A parent sees its children's reports, the synthesis sees all.
    root_request = next(r for r in node_requests(llm) if r.payload["node"] == "carts_lat_99")
    assert [c["node"] for c in root_request.payload["children"]] == ["carts_cpu", "user_cpu"]
    assert len(llm.requests[-1].payload["reports"]) == 4
    assert [c["service"] for c in llm.requests[-1].payload["ranking"]] == [c.service for c in before[:5]]


def test_tool_calls_are_executed_with_their_arguments(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    around = sock_case.inject_time + 30
    llm.reset(ScriptedModel(tools=lambda p: [tool_call("read_series", {"column": p["node"], "around": around})]))
    result = explainer(llm).explain(sock_case, sock_ranking)
    assert result.source == "llm"
    assert result.tool_call_count == len(result.tool_calls) == 4
    assert all(t.name == "read_series" and t.ok for t in result.tool_calls)
    assert [t.arguments["column"] for t in result.tool_calls] == [t.node for t in result.tool_calls]
    answered = next(r for r in llm.requests if r.tool_results and r.payload["node"] == "carts_cpu")
    (series,) = answered.tool_results
    normal = sock_case.normal().frame["carts_cpu"]
    assert series["column"] == "carts_cpu"
    assert series["baseline"] == pytest.approx(float(normal.median()), rel=1e-3)
    assert series["onset_time"] == sock_case.inject_time
    assert 1 <= len(series["window"]) <= 24
    assert series["window"][0][0] < around < series["window"][-1][0]
    # Tool results go back under the call's id, after the assistant's tool-call message.
    messages = answered.body["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == messages[-1]["tool_call_id"] == "call_1"


def test_requests_carry_model_limits_and_tools(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    explainer(llm, max_tokens=321).explain(sock_case, sock_ranking)
    first = llm.requests[0]
    assert first.path == "/v1/chat/completions"
    assert first.body["model"] == "fake-model"
    assert first.body["max_tokens"] == 321
    assert [t["function"]["name"] for t in first.body["tools"]] == ["read_series"]  # no spans in sock-shop
    assert "tools" not in llm.requests[-1].body
    assert "authorization" not in first.headers


def test_api_key_is_sent_as_bearer(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    LLMExplainer(llm.url, "fake-model", api_key="sk-test").explain(sock_case, sock_ranking)
    assert llm.requests
    assert all(r.headers["authorization"] == "Bearer sk-test" for r in llm.requests)


def test_read_spans_on_a_case_with_spans(llm: FakeLLM, nezha_case: Case, nezha_ranking: Ranking) -> None:
    llm.reset(ScriptedModel(tools=lambda p: [tool_call("read_spans", {"service": p["service"], "limit": 2})]))
    result = explainer(llm, k=2).explain(nezha_case, nezha_ranking)
    assert result.source == "llm"
    assert [t["function"]["name"] for t in llm.requests[0].body["tools"]] == ["read_series", "read_spans"]
    assert {t.name for t in result.tool_calls} == {"read_spans"}
    assert all(
        t.arguments == {"service": r.service, "limit": 2}
        for t, r in zip(result.tool_calls, result.node_reports, strict=True)
    )
    spans = nezha_case.telemetry.traces
    assert spans is not None
    answers = [r.tool_results[0] for r in llm.requests if r.tool_results]
    assert any("error" not in answer for answer in answers)
    for call, answer in zip(result.tool_calls, answers, strict=True):
        service = call.arguments["service"]
        if "error" in answer:  # a pod-only service: the tool says so and lists the ones with spans
            assert not (spans["service"] == service).any() and "services with spans" in answer["error"]
            continue
        assert answer["service"] == service and answer["spans"] == int((spans["service"] == service).sum())
        assert answer["before"]["count"] + answer["after"]["count"] == answer["spans"]
        assert len(answer["top_operations"]) <= 2
        assert answer["before"]["p50_ms"] <= answer["before"]["p90_ms"]


def test_bad_tool_arguments_are_reported_to_the_model(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    llm.reset(
        ScriptedModel(
            tools=lambda p: [
                tool_call("read_series", {"column": "nope_cpu"}, "a"),
                tool_call("read_series", "{not json", "b"),
                tool_call("delete_everything", {}, "c"),
                tool_call("read_spans", {"service": "carts"}, "d"),
            ]
        )
    )
    result = explainer(llm, k=1).explain(sock_case, sock_ranking)
    assert result.source == "llm"
    assert result.tool_calls and not any(t.ok for t in result.tool_calls)
    errors = [answer["error"] for answer in next(r for r in llm.requests if r.tool_results).tool_results]
    assert "unknown column 'nope_cpu'" in errors[0]
    assert "JSON object" in errors[1]
    assert "unknown tool 'delete_everything'" in errors[2]
    assert errors[3] == "this case has no spans"


def test_depth_is_bounded(llm: FakeLLM, sock_case: Case, deep_ranking: Ranking) -> None:
    result = explainer(llm, max_depth=1).explain(sock_case, deep_ranking)
    assert result.source == "llm"
    assert max(r.depth for r in result.node_reports) == 1
    root = next(r for r in node_requests(llm) if r.payload["node"] == "carts_lat_99" and not r.tool_results)
    assert [c["node"] for c in root.payload["children"]] == ["carts_cpu", "queue-master_cpu", "user_cpu"]


def test_call_budget_prunes_the_tree_and_is_respected(llm: FakeLLM, sock_case: Case, deep_ranking: Ranking) -> None:
    result = explainer(llm, max_calls=3).explain(sock_case, deep_ranking)
    assert len(llm.requests) == result.llm_calls == 3
    assert result.source == "llm"
    # Two agents (the symptom and the top candidate), each with a single forced turn, then the synthesis.
    assert [r.node for r in result.node_reports] == ["carts_cpu", "carts_lat_99"]
    assert all("tools" not in r.body for r in llm.requests)


def test_a_model_that_never_stops_calling_tools_exhausts_the_budget(
    llm: FakeLLM, sock_case: Case, sock_ranking: Ranking
) -> None:
    def greedy(request: Recorded) -> Reply:
        return completion(None, tool_calls=[tool_call("read_series", {"column": "carts_cpu"})])

    llm.reset(greedy)
    result = explainer(llm, max_calls=12, max_turns=3).explain(sock_case, sock_ranking)
    assert_template_fallback(result, sock_case, sock_ranking, "budget_exhausted")
    assert len(llm.requests) == 3 <= 12
    assert "tools" not in llm.requests[-1].body
    assert result.tool_call_count == 2


def test_token_budget(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    def costly(request: Recorded) -> Reply:
        return json_reply({"is_abnormal": True, "finding": "x"}, usage={"total_tokens": 700})

    llm.reset(costly)
    result = explainer(llm, max_total_tokens=1000).explain(sock_case, sock_ranking)
    assert_template_fallback(result, sock_case, sock_ranking, "budget_exhausted")
    assert len(llm.requests) == 2
    assert result.tokens == 1400


def test_http_error_falls_back(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    llm.reset(lambda request: Reply(status=500, body={"error": "boom"}))
    result = explainer(llm).explain(sock_case, sock_ranking)
    assert_template_fallback(result, sock_case, sock_ranking, "http_error")
    assert "HTTP 500" in (result.fallback_detail or "")
    assert len(llm.requests) == 1


def test_unreachable_endpoint_falls_back(sock_case: Case, sock_ranking: Ranking) -> None:
    with FakeLLM() as closed:
        url = closed.url
    result = LLMExplainer(url, "fake-model").explain(sock_case, sock_ranking)
    assert result.fallback_reason == "http_error"
    assert result.source == "template"


def test_slow_endpoint_times_out(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    llm.reset(lambda request: Reply(body={}, delay=3.0))
    start = time.monotonic()
    result = explainer(llm, timeout_s=0.5).explain(sock_case, sock_ranking)
    assert time.monotonic() - start < 2.0
    assert_template_fallback(result, sock_case, sock_ranking, "timeout")


def test_wall_time_limit_covers_the_whole_recursion(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    model = ScriptedModel()

    def sluggish(request: Recorded) -> Reply:
        reply = model(request)
        reply.delay = 0.3
        return reply

    llm.reset(sluggish)
    start = time.monotonic()
    result = explainer(llm, timeout_s=1.0).explain(sock_case, sock_ranking)
    assert time.monotonic() - start < 1.8
    assert result.fallback_reason == "timeout"
    assert 2 <= len(llm.requests) <= 4


@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw=b"this is not json"),
        Reply(body={"choices": []}),
        completion("I think the root cause is carts."),
        json_reply({"is_abnormal": "yes", "finding": "x"}),
        json_reply({"is_abnormal": True, "finding": ""}),
        json_reply({"is_abnormal": True, "finding": "x", "likely_cause": 3}),
    ],
    ids=["not-json", "no-choices", "prose", "bad-bool", "empty-finding", "bad-cause"],
)
def test_malformed_output_falls_back(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking, reply: Reply) -> None:
    llm.reset(lambda request: reply)
    result = explainer(llm).explain(sock_case, sock_ranking)
    assert_template_fallback(result, sock_case, sock_ranking, "malformed_output")


def test_fenced_json_is_accepted(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    model = ScriptedModel(tools=lambda p: [])

    def fenced(request: Recorded) -> Reply:
        body = model(request).body
        content = body["choices"][0]["message"]["content"]
        body["choices"][0]["message"]["content"] = f"Here it is:\n```json\n{content}\n```"
        return Reply(body=body)

    llm.reset(fenced)
    assert explainer(llm).explain(sock_case, sock_ranking).source == "llm"


@pytest.mark.parametrize(
    "model",
    [
        ScriptedModel(report=lambda p: {"is_abnormal": True, "finding": "`cartservice` is slow", "likely_cause": None}),
        ScriptedModel(report=lambda p: {"is_abnormal": True, "finding": "cpu rose", "likely_cause": "redis-cart"}),
        ScriptedModel(
            synthesis=lambda p: {
                "summary": "`carts` overloaded `ts-order-service`.",
                "root_cause": "`carts`",
                "first_symptom": "x",
                "impact": "y",
            }
        ),
    ],
    ids=["finding", "likely-cause", "synthesis"],
)
def test_a_service_not_in_the_data_falls_back(
    llm: FakeLLM, sock_case: Case, sock_ranking: Ranking, model: ScriptedModel
) -> None:
    llm.reset(model)
    result = explainer(llm).explain(sock_case, sock_ranking)
    assert_template_fallback(result, sock_case, sock_ranking, "unknown_service")


def test_narrative_that_blames_another_service_falls_back(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    llm.reset(
        ScriptedModel(
            synthesis=lambda p: {
                "summary": "`user` is the root cause.",
                "root_cause": "`user` saturated first.",
                "first_symptom": "x",
                "impact": "y",
            }
        )
    )
    result = explainer(llm).explain(sock_case, sock_ranking)
    assert_template_fallback(result, sock_case, sock_ranking, "ranking_contradicted")


def test_disagreement_is_kept_as_a_note(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    def synthesis(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "summary": "`carts` first.",
            "root_cause": "`carts` CPU saturated.",
            "first_symptom": "x",
            "impact": "y",
            "disagreement": "`user` moved as much as `carts`.",
        }

    llm.reset(ScriptedModel(synthesis=synthesis))
    result = explainer(llm).explain(sock_case, sock_ranking)
    assert result.source == "llm"
    assert result.llm_note == "`user` moved as much as `carts`."
    assert [c.service for c in result.candidates] == [c.service for c in sock_ranking.top(5)]


def test_empty_ranking_makes_no_request(llm: FakeLLM, sock_case: Case) -> None:
    result = explainer(llm).explain(sock_case, Ranking(()))
    assert result.fallback_reason == "no_candidates"
    assert llm.requests == []


def test_long_tool_results_are_cut(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    result = explainer(llm, max_tool_result_chars=300, k=1).explain(sock_case, sock_ranking)
    assert result.source == "llm"
    tool_messages = [m for r in llm.requests for m in r.body["messages"] if m["role"] == "tool"]
    assert tool_messages
    assert all(len(m["content"]) <= 300 and m["content"].endswith("[truncated]") for m in tool_messages)
    assert all(t.result_chars <= 300 for t in result.tool_calls)


def test_factory_builds_the_llm_explainer(llm: FakeLLM, sock_case: Case, sock_ranking: Ranking) -> None:
    built = make_explainer(llm.url + "/", "fake-model", "key", max_calls=5, timeout_s=3.0)
    assert isinstance(built, LLMExplainer)
    assert (built.base_url, built.max_calls, built.timeout_s) == (llm.url, 5, 3.0)
    result = built.explain(sock_case, sock_ranking)
    assert result.source == "llm"
    assert len(llm.requests) <= 5
    assert json.loads(result.model_dump_json())["llm_model"] == "fake-model"


def test_agents_and_the_fallback_tell_the_analysis_numbers(
    llm: FakeLLM, sock_case: Case, deep_ranking: Ranking
) -> None:
    # the numbers an analysis computed once (here marked, so that a recomputation would show)
    numbers = {c: n.model_copy(update={"robust_z": 1234.0}) for c, n in series_numbers(sock_case).items()}
    llm.reset(lambda request: Reply(status=500, body={"error": "boom"}))
    result = explainer(llm).explain(sock_case, deep_ranking, numbers=numbers)
    assert node_requests(llm)[0].payload["evidence"]["robust_z"] == 1234.0
    assert result.fallback_reason == "http_error"
    assert result.root_cause is not None and result.root_cause.numbers is not None
    assert result.root_cause.numbers.robust_z == 1234.0
    assert "robust z 1,234)" in result.summary
