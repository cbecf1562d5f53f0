"""The explanation every explainer returns: three Watchdog-style parts, the narrated candidates, provenance."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["template", "llm"]
"""Who wrote the narrative: the deterministic template, or an LLM over the same evidence."""

FallbackReason = Literal[
    "http_error",
    "timeout",
    "malformed_output",
    "budget_exhausted",
    "unknown_service",
    "ranking_contradicted",
    "no_candidates",
]
"""Why the LLM path gave up and the template's explanation was returned instead."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeriesNumbers(_Frozen):
    """How one series moved: its pre-anomaly baseline against its most deviant point after the anomaly time.

    Attributes
    ----------
    column
        The frame column, e.g. ``"carts_cpu"``.
    service, metric
        What the column measures.
    unit
        ``"bytes"``, ``"%"``, ``"ms"``, ``"s"``, ``"req/s"``, ``"ratio"`` or ``None`` when unknown.
    baseline
        Median before the anomaly time.
    peak
        The value at the largest robust deviation from the anomaly time on.
    peak_time
        When ``peak`` was observed (Unix seconds).
    robust_z
        How far the peak is from the baseline median, in IQRs of the baseline; signed: negative for a
        drop. The one per-series score an analysis shows (:func:`rca.explain.evidence.series_numbers`).
    onset_time
        First time the series left its baseline band (``|z| >= threshold``), or ``None``.
    change_pct
        ``(peak - baseline) / |baseline|`` in percent, ``None`` for a zero baseline.
    """

    column: str
    service: str
    metric: str
    unit: str | None = None
    baseline: float | None = None
    peak: float | None = None
    peak_time: float | None = None
    robust_z: float | None = None
    onset_time: float | None = None
    change_pct: float | None = None


class RootCausePart(_Frozen):
    """The state change the ranking puts first (Watchdog's "root cause").

    Attributes
    ----------
    service
        The top-ranked candidate's service.
    metric
        Its series, or ``None`` for a service-level candidate.
    score
        Its ranking score.
    numbers
        How its series moved, when it has one in the data.
    path
        The causal path from the root cause to the symptom, where the ranking gives one.
    text
        One or two sentences.
    """

    service: str
    metric: str | None
    score: float
    numbers: SeriesNumbers | None = None
    path: list[str] = Field(default_factory=list)
    text: str


class SymptomPart(_Frozen):
    """The first failure the root cause produced (Watchdog's "critical failure").

    Attributes
    ----------
    numbers
        The earliest anomalous series other than the root cause's own series (latency, error and
        success series preferred among equally early ones), or ``None`` when nothing else moved.
    delay_s
        Seconds from the root cause's onset to this symptom's onset.
    text
        One sentence.
    """

    numbers: SeriesNumbers | None = None
    delay_s: float | None = None
    text: str


class ImpactPart(_Frozen):
    """How far the incident spread (Watchdog's "impact").

    Attributes
    ----------
    anomalous_services, total_services
        Services with at least one anomalous series, out of all services in the data.
    anomalous_series, total_series
        Anomalous series out of all series.
    threshold
        The ``|z|`` above which a series counts as anomalous.
    services
        The affected services other than the root cause, most deviant first.
    symptom
        The alerted series (the case's symptom) or, without one, the first symptom, and how it moved.
    text
        One or two sentences.
    """

    anomalous_services: int
    total_services: int
    anomalous_series: int
    total_series: int
    threshold: float
    services: list[str] = Field(default_factory=list)
    symptom: SeriesNumbers | None = None
    text: str


class CandidateNote(_Frozen):
    """One ranked candidate, as the ranking gave it, with its numbers and a line of text.

    Attributes
    ----------
    rank
        1-based position in the ranking.
    service, metric, score
        As in the ranking.
    numbers
        How its series moved, when it has one.
    path
        Its causal path to the symptom, where the ranking gives one.
    text
        One line.
    """

    rank: int
    service: str
    metric: str | None
    score: float
    numbers: SeriesNumbers | None = None
    path: list[str] = Field(default_factory=list)
    text: str


class ToolCallRecord(_Frozen):
    """One tool call an LLM agent made.

    Attributes
    ----------
    node
        The causal-subgraph node (series or service) whose agent called the tool.
    name
        ``"read_series"`` or ``"read_spans"``.
    arguments
        The arguments as the model sent them (parsed JSON).
    ok
        Whether the tool answered with data rather than an error message.
    result_chars
        Size of the answer sent back to the model.
    """

    node: str
    name: str
    arguments: dict[str, Any]
    ok: bool
    result_chars: int


class NodeReport(_Frozen):
    """The structured hand-off one node agent gave its parent.

    Attributes
    ----------
    node
        The series or service the agent examined.
    service
        That node's service.
    depth
        0 for the symptom, 1 for its direct causes, ...
    is_abnormal
        The agent's verdict on its node.
    finding
        What it found, in its words (bounded length).
    likely_cause
        The service it blames for what it saw (its own or a child's), or ``None``.
    """

    node: str
    service: str
    depth: int
    is_abnormal: bool
    finding: str
    likely_cause: str | None = None


class Timings(_Frozen):
    """Where the time went, in seconds.

    Attributes
    ----------
    total_s
        The whole ``explain`` call.
    llm_s
        Time spent waiting for the LLM endpoint (0 for the template).
    """

    total_s: float
    llm_s: float = 0.0


class Explanation(_Frozen):
    """A narrative of a ranking. The ranking itself is never changed by an explainer.

    Attributes
    ----------
    summary
        Three sentences: root cause, first symptom, impact.
    root_cause, first_symptom, impact
        The three parts, each with its numbers.
    candidates
        The top candidates in ranking order, narrated.
    source
        ``"template"`` or ``"llm"``.
    llm_model
        The model asked, when an LLM was configured (also on fallback).
    fallback_reason
        Why the LLM path fell back to the template, or ``None``.
    fallback_detail
        The error behind ``fallback_reason``, for operators.
    llm_note
        Where the LLM disagreed with the ranking, its note (the ranking stays as it is).
    llm_calls
        Chat-completion requests made.
    tool_call_count
        Tool calls executed.
    tool_calls
        The tool-call transcript, in order.
    node_reports
        The agents' hand-offs, children before parents.
    tokens
        Total tokens the endpoint reported using, when it reports usage.
    timings
        Wall times.
    """

    summary: str
    root_cause: RootCausePart | None
    first_symptom: SymptomPart
    impact: ImpactPart
    candidates: list[CandidateNote]
    source: Source = "template"
    llm_model: str | None = None
    fallback_reason: FallbackReason | None = None
    fallback_detail: str | None = None
    llm_note: str | None = None
    llm_calls: int = 0
    tool_call_count: int = 0
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    node_reports: list[NodeReport] = Field(default_factory=list)
    tokens: int | None = None
    timings: Timings
