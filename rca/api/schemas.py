"""Request and response models of the HTTP API (the OpenAPI document is generated from them)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rca.analysis import ROBUST_Z, Graph, RankedCause

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
        min_length=1,
        max_length=5_000,
        description=(
            "`<service>_<metric>` -> one value per timestamp. null is a missing value, and so is NaN (which "
            "Python's json module writes); Infinity is refused (422 naming the series and position)."
        ),
    )
    inject_time: float = Field(
        allow_inf_nan=False, description="The anomaly start, Unix seconds; rows before it are the baseline."
    )
    traces: list[SpanIn] | None = Field(None, max_length=500_000)
    graph: list[tuple[str, str]] | None = Field(None, description="Known caller -> callee service edges.")
    root_cause: RootCauseIn | None = None
    symptom: str | None = Field(None, description="The series an alert fired on.")

    @field_validator("time")
    @classmethod
    def _finite_times(cls, time: list[float]) -> list[float]:
        bad = np.flatnonzero(~np.isfinite(np.asarray(time, dtype=float)))
        if bad.size:
            raise ValueError(f"time[{bad[0]}] is {time[bad[0]]}; times must be finite Unix seconds")
        return time

    @field_validator("series")
    @classmethod
    def _no_infinity(cls, series: dict[str, list[float | None]]) -> dict[str, list[float | None]]:
        for name, values in series.items():
            bad = np.flatnonzero(np.isinf(np.asarray(values, dtype=float)))  # None and NaN are missing values
            if bad.size:
                raise ValueError(
                    f"series {name!r} holds {'Infinity' if values[bad[0]] > 0 else '-Infinity'} at position "
                    f"{bad[0]} (of {len(values)}): "
                    "send a finite number, or null for a missing value"
                )
        return series


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
    robust_z: dict[str, float | None] | None = Field(None, description=ROBUST_Z)
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any], *, graph: bool = True) -> Analysis:
        """The analysis of a stored record (:class:`rca.store.records.Records`).

        ``graph=False`` leaves out the bulky parts: the graph and every series' robust z.
        """
        request = record.get("request") or {}
        result = record.get("result") or {}
        return cls(
            id=record["id"],
            status=record["status"],
            created_at=record["created_at"],
            updated_at=record.get("updated_at"),
            method=request.get("method", ""),
            k=request.get("k", 0),
            source=request.get("source", "inline"),
            window=request.get("window", {}),
            model_version=result.get("model_version"),
            ranking=result.get("ranking"),
            graph=result.get("graph") if graph else None,
            robust_z=result.get("robust_z") if graph else None,
            timings=result.get("timings", {}),
            error=record.get("error"),
        )

    @property
    def finished(self) -> bool:
        """Whether the analysis is done or failed (it never changes again)."""
        return self.status in ("done", "failed")


class Page(BaseModel):
    """Paging information."""

    total: int
    limit: int
    offset: int


class AnalysisPage(Page):
    """A page of analyses, newest first (without their graphs: GET /v1/analyses/{id}/graph has them)."""

    items: list[Analysis]


class IncidentSymptom(BaseModel):
    """A series the incident involves, with the detector's statistic and the analysis' score."""

    detection_score: float = Field(
        description=(
            "The detector's statistic, not a z-score: the largest rise of one point above the series' normal "
            "history, in multiples of its widest swing (what opened or joined the incident); for a "
            "`<service>_log_change` series, the largest log change of one bucket (normal range: 1)."
        )
    )
    robust_z: float | None = Field(
        None,
        description=(
            "The series' robust z in the incident's analysis, the number its ranking and explanation show "
            "(null until the analysis is done)."
        ),
    )


DATA_TIME = "data time (the timestamps the telemetry carries, as sent or replayed), Unix seconds UTC"
WALL_TIME = "wall clock of the service, Unix seconds UTC"


class Incident(BaseModel):
    """An incident the service opened itself.

    Times are on two clocks: ``onset``, ``detected_data_time`` and ``recovered_data_time`` are the data's
    own (the timestamps of the points, so they match the data; a replay with ``--now`` shifts them),
    ``opened_at`` and ``closed_at`` the service's wall clock (when it acted).
    """

    id: str
    status: Literal["open", "closed"]
    opened_at: float = Field(description=f"When the service opened it: {WALL_TIME}.")
    closed_at: float | None = Field(None, description=f"When the service closed it: {WALL_TIME}.")
    onset: float = Field(description=f"The first anomalous point of the series that opened it: {DATA_TIME}.")
    detected_data_time: float | None = Field(None, description=f"The point that opened it: {DATA_TIME}.")
    recovered_data_time: float | None = Field(None, description=f"The point that closed it: {DATA_TIME}.")
    symptoms: dict[str, IncidentSymptom] = Field(
        description="Series involved -> the detector's statistic and the analysis' robust z."
    )
    analysis_id: str | None = None
    analysis: Analysis | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], analysis: Analysis | None = None) -> Incident:
        """The incident of a stored row, with its analysis when given (its robust z fill the symptoms)."""
        summary = row.get("summary") or {}
        scores = (analysis.robust_z if analysis is not None else None) or {}
        return cls(
            id=row["id"],
            status=row["status"],
            opened_at=row["opened_at"],
            closed_at=row.get("closed_at"),
            onset=summary.get("onset", row["opened_at"]),
            detected_data_time=summary.get("detected"),
            recovered_data_time=summary.get("recovered"),
            symptoms={
                series: IncidentSymptom(detection_score=score, robust_z=scores.get(series))
                for series, score in summary.get("symptoms", {}).items()
            },
            analysis_id=row.get("analysis_id"),
            analysis=analysis,
        )


class IncidentPage(Page):
    """A page of incidents, newest first."""

    items: list[Incident]


class ServiceInfo(BaseModel):
    """A service known from the stream."""

    service: str
    series: int
    last_seen: float | None
    units: dict[str, str] = Field(default_factory=dict, description="metric -> unit as sent (UCUM: %, By, ms)")


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
