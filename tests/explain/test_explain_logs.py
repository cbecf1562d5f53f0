"""The explanations tell a service's changed log templates (the log-change evidence): the template in its
text, the LLM explainer through its ``read_logs`` tool."""

from __future__ import annotations

from fake_llm import FakeLLM, ScriptedModel, tool_call

from rca.data import Case
from rca.explain import LLMExplainer, TemplateExplainer
from rca.explain.template import describe_log_change
from rca.rank.ranking import Candidate, Ranking

CHANGE = {
    "score": 8.9,
    "templates": [
        {
            "template": "c.s.ContactsServiceImpl#37 [findContactsById][No contacts according to contactsId]",
            "level": "ERROR",
            "before_per_minute": 0.0,
            "after_per_minute": 42.0,
            "z": 4.3,
            "example": "16:52:07.566 ERROR c.s.ContactsServiceImpl#37 [findContactsById][No contacts]",
        },
        {
            "template": "c.s.ContactsServiceImpl#34 [findContactsById][Find contacts]",
            "level": "INFO",
            "before_per_minute": 5.73,
            "after_per_minute": 0.0,
            "z": -4.6,
            "example": "",
        },
        {
            "template": "c.c.ContactsController#83 [x]",
            "level": "INFO",
            "before_per_minute": 30.0,
            "after_per_minute": 12.5,
        },
    ],
}


def test_describe_log_change_tells_started_stopped_and_changed_templates() -> None:
    text = describe_log_change("ts-contacts-service", CHANGE)
    assert text.startswith(
        "ts-contacts-service started logging ERROR \u201cc.s.ContactsServiceImpl#37 [findContactsById]"
        "[No contacts according to contactsId]\u201d 42 times a minute, normally 0; "
    )
    assert (
        "stopped logging INFO \u201cc.s.ContactsServiceImpl#34 [findContactsById][Find contacts]\u201d, normally 5.73"
        in text
    )
    assert text.endswith("logged INFO \u201cc.c.ContactsController#83 [x]\u201d 12.5 times a minute, normally 30")
    assert describe_log_change("s", {"templates": []}) == ""


def logged_ranking(case: Case) -> Ranking:
    """The case's root cause first, with a log change as its second candidate; a service without logs after it."""
    service = case.root_cause.service if case.root_cause else "ts-contacts-service"
    cpu = next(c for c in case.frame.columns if c.startswith(service))
    return Ranking(
        (
            Candidate(service, cpu, 2.0, {"anomaly_score": 0.5}),
            Candidate(service, f"{service}_log_change", 1.5, {"anomaly_score": 8.9, "log_change": CHANGE}),
            Candidate("ts-order-service", None, 1.0, {}),
        ),
        info={"method": "run"},
    )


def test_root_cause_and_its_note_carry_the_log_change(nezha_case: Case) -> None:
    ranking = logged_ranking(nezha_case)
    service = ranking.candidates[0].service
    explanation = TemplateExplainer().explain(nezha_case, ranking)
    assert explanation.root_cause is not None
    assert f"In its logs, {service} started logging ERROR" in explanation.root_cause.text
    assert "42 times a minute, normally 0" in explanation.root_cause.text
    assert "started logging ERROR" in explanation.candidates[1].text
    assert "logging" not in explanation.candidates[2].text


def test_the_llm_agents_read_a_candidates_changed_templates(llm: FakeLLM, nezha_case: Case) -> None:
    ranking = logged_ranking(nezha_case)
    service = ranking.candidates[0].service
    llm.reset(ScriptedModel(tools=lambda p: [tool_call("read_logs", {"service": p["service"], "limit": 2})]))
    result = LLMExplainer(llm.url, "fake-model").explain(nezha_case, ranking)
    assert result.source == "llm", result.fallback_detail
    offered = [t["function"]["name"] for t in llm.requests[0].body["tools"]]
    assert offered == ["read_series", "read_spans", "read_logs"]
    assert "read_logs" in llm.requests[0].payload["instructions"]
    calls = [t for t in result.tool_calls if t.name == "read_logs"]
    assert calls and {t.arguments["service"] for t in calls} >= {service, "ts-order-service"}
    answers = {r.payload["node"]: r.tool_results[0] for r in llm.requests if r.tool_results}
    read = [a for a in answers.values() if a.get("service") == service]
    assert read, answers
    # the answer that reaches the model: the ranking's templates, cut at the limit, with their example lines
    assert read[0]["templates"] == CHANGE["templates"][:2]
    assert read[0]["templates"][0]["example"].endswith("[No contacts]")
    assert read[0]["anomaly_time"] == nezha_case.inject_time
    without = [a for a in answers.values() if "error" in a]
    assert without and all(f"services with log evidence: ['{service}']" in a["error"] for a in without)
    assert {t.ok for t in calls} == {True, False}


def test_read_logs_is_offered_only_with_log_evidence(llm: FakeLLM, nezha_case: Case) -> None:
    plain = Ranking(tuple(c for c in logged_ranking(nezha_case).candidates if "log_change" not in c.evidence))
    LLMExplainer(llm.url, "fake-model").explain(nezha_case, plain)
    assert [t["function"]["name"] for t in llm.requests[0].body["tools"]] == ["read_series", "read_spans"]
