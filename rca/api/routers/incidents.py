"""Incidents the service opened itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from rca.api.deps import DEFAULT_MAX_RANK, READ, MaxRank, ServiceDep, ServiceFilter
from rca.api.schemas import Analysis, Incident, IncidentPage
from rca.service import Service

router = APIRouter(prefix="/v1/incidents", tags=["incidents"], dependencies=[READ])


def _incident(service: Service, row: dict[str, Any], *, embed: bool) -> Incident:
    analysis = None
    if embed and row.get("analysis_id"):
        record = service.records.get_analysis(row["analysis_id"])
        analysis = Analysis.from_record(record) if record else None
    return Incident.from_row(row, analysis)


@router.get("")
def list_incidents(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    embed: Annotated[bool, Query(description="Include each incident's analysis.")] = False,
    involving: ServiceFilter = None,
    max_rank: MaxRank = DEFAULT_MAX_RANK,
) -> IncidentPage:
    """Incidents the service opened itself, newest first; with ``service``, those whose analysis ranks it.

    ``total`` counts the incidents that match; ``offset`` pages through them.
    """
    rows, total = service.records.list_incidents(
        limit=limit, offset=offset, service=involving, max_rank=None if involving is None else max_rank
    )
    items = [_incident(service, r, embed=embed) for r in rows]
    return IncidentPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{incident_id}", responses={404: {}})
def get_incident(incident_id: str, service: ServiceDep) -> Incident:
    """One incident with its analysis."""
    row = service.records.get_incident(incident_id)
    if row is None:
        raise HTTPException(404, f"no incident {incident_id!r}; GET /v1/incidents lists them")
    return _incident(service, row, embed=True)
