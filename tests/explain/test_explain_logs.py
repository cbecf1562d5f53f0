"""The template explanation tells a service's changed log templates (the log-change evidence)."""

from __future__ import annotations

from rca.data import Case
from rca.explain import TemplateExplainer
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


def test_root_cause_and_its_note_carry_the_log_change(nezha_case: Case) -> None:
    service = nezha_case.root_cause.service if nezha_case.root_cause else "ts-contacts-service"
    cpu = next(c for c in nezha_case.frame.columns if c.startswith(service))
    ranking = Ranking(
        (
            Candidate(service, cpu, 2.0, {"anomaly_score": 0.5}),
            Candidate(service, f"{service}_log_change", 1.5, {"anomaly_score": 8.9, "log_change": CHANGE}),
            Candidate("ts-order-service", None, 1.0, {}),
        ),
        info={"method": "run"},
    )
    explanation = TemplateExplainer().explain(nezha_case, ranking)
    assert explanation.root_cause is not None
    assert f"In its logs, {service} started logging ERROR" in explanation.root_cause.text
    assert "42 times a minute, normally 0" in explanation.root_cause.text
    assert "started logging ERROR" in explanation.candidates[1].text
    assert "logging" not in explanation.candidates[2].text
