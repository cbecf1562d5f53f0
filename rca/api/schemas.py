"""Request and response models of the HTTP API (the OpenAPI document is generated from them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Status = Literal["pending", "running", "done", "failed"]
MAX_NANOSECONDS = 2**63 - 1
"""The store keeps times as signed 64-bit nanoseconds."""
MAX_UNIX_SECONDS = MAX_NANOSECONDS // 10**9
"""The latest time the store can hold, in Unix seconds (April 2262)."""


class SpanIn(BaseModel):
    """One span of an inline case."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(max_length=64)
    span_id: str = Field(max_length=32)
    parent_span_id: str = Field("", max_length=32, description="Empty for a root span.")
    service: str = Field(max_length=300)
    operation: str = Field("", max_length=1000)
    start_ns: int = Field(ge=0, le=MAX_NANOSECONDS)
    end_ns: int = Field(ge=0, le=MAX_NANOSECONDS)
    status_code: int | None = Field(None, ge=0, le=2, description="OTLP status: 0 unset, 1 ok, 2 error.")


class RootCauseIn(BaseModel):
    """A known label (optional; kept with the analysis)."""

    model_config = ConfigDict(extra="forbid")

    service: str
    metric: str | None = None
    fault: str | None = None


class InlineCase(BaseModel):
    """A case sent in the request body (the contract of ``POST /v1/analyses``)."""

    model_config = ConfigDict(extra="forbid")

    time: list[float] = Field(min_length=3, max_length=100_000, description="Unix seconds, ascending.")
    series: dict[str, list[float | None]] = Field(
        min_length=1, max_length=5_000, description="`<service>_<metric>` -> one value per timestamp (null = missing)."
    )
    inject_time: float = Field(description="The anomaly start, Unix seconds; rows before it are the baseline.")
    traces: list[SpanIn] | None = Field(None, max_length=500_000)
    graph: list[tuple[str, str]] | None = Field(None, description="Known caller -> callee service edges.")
    root_cause: RootCauseIn | None = None
    symptom: str | None = Field(None, description="The series an alert fired on.")


class AnalysisRequest(BaseModel):
    """Analyse a window of ingested data (`start`, `end`) or an inline `case`."""

    model_config = ConfigDict(extra="forbid")

    start: float | None = Field(
        None, ge=0, le=MAX_UNIX_SECONDS, description="Window start, Unix seconds (window analyses)."
    )
    end: float | None = Field(
        None, ge=0, le=MAX_UNIX_SECONDS, description="Window end, Unix seconds (window analyses)."
    )
    anomaly_time: float | None = Field(
        None,
        ge=0,
        le=MAX_UNIX_SECONDS,
        description="When the anomaly started; default: detected from the symptom, else the window's middle.",
    )
    symptom: str | None = Field(None, description="The series an alert fired on.")
    case: InlineCase | None = None
    method: str | None = Field(None, description="Method name (`GET /v1/methods`); default from settings.")
    k: int | None = Field(None, ge=1, le=100, description="How many candidates to return.")

    @model_validator(mode="after")
    def _one_source(self) -> AnalysisRequest:
        if self.case is None and (self.start is None or self.end is None):
            raise ValueError(
                "send either `case` (an inline case) or both `start` and `end` (a window of ingested data)"
            )
        if self.case is not None and (self.start is not None or self.end is not None):
            raise ValueError("send `case` or a `start`/`end` window, not both")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("`end` must be after `start`")
        return self


class RankedCause(BaseModel):
    """One root-cause candidate."""

    rank: int
    service: str
    metric: str | None
    score: float
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="anomaly_score, onset_time, path (cause -> symptom), ..."
    )


class GraphNode(BaseModel):
    """A node of the causal graph (a series, or a service)."""

    id: str
    service: str | None = None
    score: float | None = None
    anomaly_score: float | None = Field(None, description="How far it moved (1 = its baseline's own largest swing).")
    root_cause_rank: int | None = None
    layer: int | None = Field(None, description="Hops to the symptom along cause -> effect edges (0: the symptom).")
    order: int | None = Field(None, description="Position within the layer.")
    series: list[str] | None = Field(None, description="A service node's series.")


class GraphEdge(BaseModel):
    """A weighted cause -> effect edge."""

    source: str
    target: str
    weight: float
    kinds: list[Literal["learned", "call", "service"]] = Field(
        default_factory=list, description="Where it came from: learned, the call graph, within a service."
    )
    on_path: bool = Field(False, description="On the evidence path from the top cause to the symptom.")


class Baseline(BaseModel):
    """The range and median of a series before the anomaly time."""

    low: float
    median: float
    high: float


class SeriesWindow(BaseModel):
    """A series around the anomaly, thinned for a chart."""

    id: str
    service: str
    rank: int | None = Field(description="Its rank among the candidates (null: the symptom, not a top cause).")
    symptom: bool
    anomaly_time: float
    time: list[float]
    values: list[float | None]
    baseline: Baseline | None


class ServiceGraph(BaseModel):
    """The causal graph collapsed to services."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    symptom: str | None = None


class Graph(BaseModel):
    """The causal graph around the top candidates, layered from the symptom."""

    nodes: list[GraphNode]
    edges: list[GraphEdge] = Field(description="The evidence paths' edges and the strongest others.")
    symptom: str | None = Field(None, description="The series the layers are counted from.")
    services: ServiceGraph | None = Field(None, description="The same graph collapsed to services.")
    total_edges: int | None = Field(None, description="Edges in the method's whole graph.")
    series: list[SeriesWindow] = Field(
        default_factory=list, description="The symptom's and the top causes' series around the anomaly."
    )
    svg_url: str | None = None


class Analysis(BaseModel):
    """An analysis and, once done, its result."""

    id: str
    status: Status
    created_at: float
    updated_at: float | None = None
    method: str
    k: int
    source: Literal["inline", "window", "incident"]
    window: dict[str, float | None] = Field(default_factory=dict)
    model_version: str | None = None
    ranking: list[RankedCause] | None = None
    graph: Graph | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None


class Page(BaseModel):
    """Paging information."""

    total: int
    limit: int
    offset: int


class AnalysisPage(Page):
    """A page of analyses, newest first (without their graphs: GET /v1/analyses/{id}/graph has them)."""

    items: list[Analysis]


class Incident(BaseModel):
    """An incident the service opened itself."""

    id: str
    status: Literal["open", "closed"]
    opened_at: float
    closed_at: float | None = None
    onset: float
    symptoms: dict[str, float] = Field(description="Symptom series -> largest robust z-score seen.")
    analysis_id: str | None = None
    analysis: Analysis | None = None


class IncidentPage(Page):
    """A page of incidents, newest first."""

    items: list[Incident]


class ServiceInfo(BaseModel):
    """A service known from the stream."""

    service: str
    series: int
    last_seen: float | None


class ModelInfo(BaseModel):
    """A registered model."""

    version: str
    method: str
    created: float
    training_start: float | None
    training_end: float | None
    fingerprint: str
    series: int
    validation: dict[str, Any]
    current: bool


class Job(BaseModel):
    """A background job (retraining)."""

    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    created_at: float
    updated_at: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Health(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, Any] = Field(default_factory=dict)
