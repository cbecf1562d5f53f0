"""The default explainer: a deterministic narrative of a ranking in Watchdog's three parts.

Root cause (the top candidate and how its series moved), first symptom (the earliest other series to
leave its baseline), impact (how many services and series are anomalous, and how the alerted series
moved). The same case and ranking always give the same text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rca.data.case import Case
from rca.explain.evidence import (
    DEFAULT_THRESHOLD,
    CaseEvidence,
    candidate_key,
    causal_path,
    finite,
    format_delay,
    format_number,
    format_offset,
    format_time,
    format_value,
)
from rca.explain.model import (
    CandidateNote,
    Explanation,
    ImpactPart,
    RootCausePart,
    SeriesNumbers,
    SymptomPart,
    Timings,
)
from rca.rank.ranking import Candidate, Ranking

_LISTED_SERVICES = 5
_LISTED_TEMPLATES = 3
_TEMPLATE_CHARS = 160


def describe_move(numbers: SeriesNumbers) -> str:
    """``rose from 1.25% to 100% (+7,898%, robust z 992)``, or as much of it as the numbers allow."""
    peak = format_value(numbers.peak, numbers.unit)
    details = []
    if numbers.change_pct is not None:
        details.append(f"{'+' if numbers.change_pct >= 0 else ''}{format_number(numbers.change_pct)}%")
    if numbers.robust_z is not None:
        details.append(f"robust z {format_number(numbers.robust_z)}")
    suffix = f" ({', '.join(details)})" if details else ""
    if numbers.baseline is None or numbers.peak is None:
        return f"reached {peak}{suffix}"
    verb = "rose" if numbers.peak >= numbers.baseline else "fell"
    return f"{verb} from {format_value(numbers.baseline, numbers.unit)} to {peak}{suffix}"


def _quoted(template: str) -> str:
    text = template if len(template) <= _TEMPLATE_CHARS else template[: _TEMPLATE_CHARS - 3] + "..."
    return f"\u201c{text}\u201d"


def describe_log_change(service: str, change: Mapping[str, object]) -> str:
    """``ts-contacts-service started logging ERROR “…#37 … No contacts …” 6.6 times a minute, normally 0``.

    ``change`` is the ``log_change`` evidence of a ranking (:meth:`rca.anomaly.logs.LogChange.evidence`);
    its most changed templates are told, each as started, stopped, or from one rate to another.
    """
    templates = change.get("templates")
    if not isinstance(templates, list):
        return ""
    parts = []
    for template in templates[:_LISTED_TEMPLATES]:
        before = finite(template.get("before_per_minute")) or 0.0
        after = finite(template.get("after_per_minute")) or 0.0
        level = str(template.get("level") or "")
        what = f"{level + ' ' if level else ''}{_quoted(str(template.get('template', '')))}"
        if before == 0:
            parts.append(f"started logging {what} {format_number(after)} times a minute, normally 0")
        elif after == 0:
            parts.append(f"stopped logging {what}, normally {format_number(before)} times a minute")
        else:
            parts.append(f"logged {what} {format_number(after)} times a minute, normally {format_number(before)}")
    return f"{service} {'; '.join(parts)}" if parts else ""


def _log_change(ranking: Ranking, service: str) -> str:
    """The log-change sentence of ``service``, from whichever of its candidates carries it."""
    for candidate in ranking.candidates:
        change = candidate.evidence.get("log_change")
        if candidate.service == service and isinstance(change, Mapping):
            return describe_log_change(service, change)
    return ""


def _when(numbers: SeriesNumbers, case: Case) -> str:
    moment = numbers.onset_time if numbers.onset_time is not None else numbers.peak_time
    if moment is None:
        return ""
    return f" at {format_time(moment)} ({format_offset(moment - case.inject_time)} from the anomaly time)"


def _at(numbers: SeriesNumbers) -> str:
    moment = numbers.onset_time if numbers.onset_time is not None else numbers.peak_time
    return "" if moment is None else f" at {format_time(moment)}"


def _explained(evidence: Mapping[str, Any]) -> str | None:
    """What a candidate scored on its counterfactual residual was measured against (``None``: its own values)."""
    by = evidence.get("counterfactual")
    if by not in ("call graph", "learned causes"):
        return None
    parents = [str(p) for p in evidence.get("explained_by") or []]
    named = f" ({', '.join(parents[:3])}{', ...' if len(parents) > 3 else ''})" if parents else ""
    if by == "call graph":
        return f"scored on what its neighbours in the call graph{named} do not explain"
    return f"scored on what its learned causes{named} do not explain"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _path(case: Case, ranking: Ranking, candidate: Candidate, evidence: CaseEvidence) -> list[str]:
    given = candidate.evidence.get("path")
    if isinstance(given, list | tuple) and all(isinstance(node, str) for node in given):
        return list(given)
    if not ranking.graph or case.symptom is None or case.symptom not in evidence.numbers:
        return []
    return causal_path(ranking, candidate_key(candidate), [case.symptom, case.telemetry.service_of(case.symptom)])


class TemplateExplainer:
    """Narrates a ranking with a fixed template and the evidence numbers.

    Parameters
    ----------
    threshold
        ``|z|`` (robust, against the pre-anomaly baseline) from which a series counts as anomalous.
    units
        Metric or column name -> unit, overriding the built-in unit rules of
        :func:`rca.explain.evidence.unit_of`.
    """

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD, units: Mapping[str, str] | None = None) -> None:
        self.threshold = threshold
        self.units = dict(units or {})

    def evidence(self, case: Case, numbers: Mapping[str, SeriesNumbers] | None = None) -> CaseEvidence:
        """The per-series numbers the template narrates: ``numbers`` (an analysis' own), else computed."""
        return CaseEvidence.build(case, units=self.units, threshold=self.threshold, numbers=numbers)

    def explain(
        self, case: Case, ranking: Ranking, k: int = 5, *, numbers: Mapping[str, SeriesNumbers] | None = None
    ) -> Explanation:
        """Explain ``ranking`` of ``case``, narrating its top ``k`` candidates.

        ``numbers`` are the analysis' per-series numbers (:attr:`rca.analysis.AnalysisResult.series`):
        given, the explanation tells exactly what the ranking's evidence shows; else they are computed.
        """
        start = time.perf_counter()
        explanation = self.render(self.evidence(case, numbers), ranking, k)
        return explanation.model_copy(update={"timings": Timings(total_s=time.perf_counter() - start)})

    def render(self, evidence: CaseEvidence, ranking: Ranking, k: int = 5) -> Explanation:
        """The explanation from precomputed evidence (timings left at zero)."""
        case = evidence.case
        top = ranking.candidates[0] if ranking.candidates else None
        root = self._root_cause(case, ranking, evidence, top) if top is not None else None
        root_numbers = root.numbers if root is not None else None
        symptom = self._first_symptom(case, evidence, root_numbers)
        impact = self._impact(case, evidence, top, symptom.numbers)
        notes = [self._note(case, ranking, evidence, i + 1, c) for i, c in enumerate(ranking.top(k))]
        return Explanation(
            summary=self._summary(case, root, symptom, impact),
            root_cause=root,
            first_symptom=symptom,
            impact=impact,
            candidates=notes,
            timings=Timings(total_s=0.0),
        )

    def _root_cause(self, case: Case, ranking: Ranking, evidence: CaseEvidence, top: Candidate) -> RootCausePart:
        numbers = evidence.for_candidate(top)
        method = ranking.info.get("method")
        by = f" by {method}" if isinstance(method, str) else ""
        text = f"{top.service} is the most likely root cause (ranked 1st{by}, score {format_number(top.score)})."
        if numbers is not None:
            text = (
                f"{top.service} is the most likely root cause (ranked 1st{by}, score {format_number(top.score)}): "
                f"{numbers.column} {describe_move(numbers)}{_when(numbers, case)}."
            )
        logs = _log_change(ranking, top.service)
        if logs:
            text += f" In its logs, {logs}."
        path = _path(case, ranking, top, evidence)
        if path:
            text += f" Causal path: {' -> '.join(path)}."
        return RootCausePart(
            service=top.service, metric=top.metric, score=top.score, numbers=numbers, path=path, text=text
        )

    def _first_symptom(self, case: Case, evidence: CaseEvidence, root: SeriesNumbers | None) -> SymptomPart:
        numbers = evidence.first_symptom(root.column if root is not None else None)
        if numbers is None:
            return SymptomPart(
                text=f"No other series left its baseline band (|z| >= {format_number(evidence.threshold)})."
            )
        delay = None
        if root is not None and root.onset_time is not None and numbers.onset_time is not None:
            delay = numbers.onset_time - root.onset_time
        after = ", " + format_delay(delay, "the root cause's onset") if delay is not None else ""
        text = f"{numbers.column} ({numbers.service}) {describe_move(numbers)}{_when(numbers, case)}{after}."
        return SymptomPart(numbers=numbers, delay_s=delay, text=text)

    def _impact(
        self, case: Case, evidence: CaseEvidence, top: Candidate | None, first: SeriesNumbers | None
    ) -> ImpactPart:
        anomalous = evidence.anomalous()
        services = list(dict.fromkeys(evidence.numbers[c].service for c in anomalous))
        others = [s for s in services if top is None or s != top.service]
        total_services = len(case.telemetry.services)
        threshold = format_number(evidence.threshold)
        text = (
            f"{len(services)} of {total_services} services and {len(anomalous)} of {len(evidence.numbers)} series "
            f"are anomalous (|z| >= {threshold})."
        )
        if others:
            listed = ", ".join(others[:_LISTED_SERVICES])
            more = f" and {len(others) - _LISTED_SERVICES} more" if len(others) > _LISTED_SERVICES else ""
            besides = f" besides {top.service}" if top is not None else ""
            text += f" Most affected{besides}: {listed}{more}."
        symptom = first
        if case.symptom is not None and case.symptom in evidence.numbers:
            symptom = evidence.numbers[case.symptom]
            text += f" The alerted series {symptom.column} {describe_move(symptom)}."
        return ImpactPart(
            anomalous_services=len(services),
            total_services=total_services,
            anomalous_series=len(anomalous),
            total_series=len(evidence.numbers),
            threshold=evidence.threshold,
            services=others,
            symptom=symptom,
            text=text,
        )

    def _note(self, case: Case, ranking: Ranking, evidence: CaseEvidence, rank: int, c: Candidate) -> CandidateNote:
        numbers = evidence.for_candidate(c)
        name = c.service if c.metric is None else f"{c.service} / {c.metric}"
        text = f"{_ordinal(rank)}: {name} (score {format_number(c.score)})"
        if numbers is not None:
            text += f", {describe_move(numbers)}{_when(numbers, case)}"
        else:
            score = finite(c.evidence.get("anomaly_score"))
            if score is not None:
                text += f", anomaly score {format_number(score)}"  # the method's: the series is not in the data
        change = c.evidence.get("log_change")
        if isinstance(change, Mapping) and describe_log_change(c.service, change):
            text += f"; {describe_log_change(c.service, change)}"
        if (explained := _explained(c.evidence)) is not None:
            text += f"; {explained}"
        if c.evidence.get("load_entry") is True:
            text += "; its request rate rose while no caller's did: the load enters here"
        elif c.evidence.get("frontier") is True:
            text += "; none of its callees went anomalous before it"
        path = _path(case, ranking, c, evidence)
        if path:
            text += f", path {' -> '.join(path)}"
        return CandidateNote(
            rank=rank, service=c.service, metric=c.metric, score=c.score, numbers=numbers, path=path, text=text + "."
        )

    def _summary(self, case: Case, root: RootCausePart | None, symptom: SymptomPart, impact: ImpactPart) -> str:
        if root is None:
            head = "The ranking has no candidates."
        elif root.numbers is not None:
            n = root.numbers
            head = f"Root cause: {root.service}, {n.column} {describe_move(n)}{_at(n)}."
        else:
            head = f"Root cause: {root.service} (score {format_number(root.score)})."
        if symptom.numbers is not None:
            s = symptom.numbers
            after = f", {format_delay(symptom.delay_s, 'the root cause')}" if symptom.delay_s is not None else ""
            middle = f" First symptom: {s.service}, {s.column} {describe_move(s)}{after}."
        else:
            middle = " First symptom: none besides the root cause."
        tail = (
            f" Impact: {impact.anomalous_services} of {impact.total_services} services and "
            f"{impact.anomalous_series} of {impact.total_series} series anomalous."
        )
        return head + middle + tail
