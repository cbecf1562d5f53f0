"""Analyses: start one (a window of ingested data or an inline case), list, read, graph, explain."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from starlette.concurrency import run_in_threadpool

from rca.analysis import Graph
from rca.api.deps import DEFAULT_MAX_RANK, READ, CachesDep, MaxRank, ServiceDep, ServiceFilter, SettingsDep
from rca.api.http import JSONRoute
from rca.api.schemas import Analysis, AnalysisPage, AnalysisRequest, InlineCase
from rca.data.case import Case
from rca.data.jsoncase import case_from_payload
from rca.explain import Explanation
from rca.service import Service

router = APIRouter(prefix="/v1/analyses", tags=["analyses"], dependencies=[READ], route_class=JSONRoute)

JSON = "application/json"


def _inline_case(body: InlineCase) -> Case:
    return case_from_payload(
        body.time,
        body.series,
        body.inject_time,
        traces=[span.model_dump() for span in body.traces] if body.traces else None,
        graph=body.graph,
        root_cause=body.root_cause.model_dump() if body.root_cause else None,
        symptom=body.symptom,
    )


def _record(service: Service, analysis_id: str) -> dict[str, Any]:
    record = service.records.get_analysis(analysis_id)
    if record is None:
        raise HTTPException(404, f"no analysis {analysis_id!r}; GET /v1/analyses lists them")
    return record


@router.post(
    "",
    status_code=201,
    response_model=Analysis,
    responses={202: {"model": Analysis, "description": "Still running: poll the Location."}},
)
async def create_analysis(
    body: AnalysisRequest, service: ServiceDep, settings: SettingsDep, caches: CachesDep
) -> Response:
    """Analyse a window of ingested data or an inline case; 201 when done in time, else 202."""

    def start() -> tuple[dict[str, Any], Future[dict[str, Any]]]:
        if body.case is not None:
            return service.submit(_inline_case(body.case), method=body.method, k=body.k, source="inline")
        assert body.start is not None and body.end is not None  # AnalysisRequest checks it
        case = service.window_case(body.start, body.end, anomaly_time=body.anomaly_time, symptom=body.symptom)
        return service.submit(case, method=body.method, k=body.k, source="window")

    record, future = await run_in_threadpool(start)
    try:
        # shield: a timeout must not cancel the analysis, only stop waiting for it
        current = await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(future)), timeout=settings.sync_analysis_seconds
        )
    except TimeoutError:
        stored = await run_in_threadpool(service.records.get_analysis, record["id"])
        current = stored or record
    analysis = Analysis.from_record(current)
    document = analysis.model_dump_json().encode()
    if analysis.finished:
        caches.documents.put(analysis.id, document)
    return Response(
        document,
        status_code=201 if analysis.finished else 202,
        media_type=JSON,
        headers={"Location": f"/v1/analyses/{analysis.id}"},
    )


@router.get("", response_model=AnalysisPage)
async def list_analyses(
    service: ServiceDep,
    caches: CachesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    involving: ServiceFilter = None,
    max_rank: MaxRank = DEFAULT_MAX_RANK,
) -> Response:
    """Analyses, newest first (without their graphs); with ``service``, those that rank it among their causes.

    ``total`` counts the analyses that match; ``offset`` pages through them.
    """
    records = service.records

    def page() -> bytes:
        ids, total = records.page_analyses(
            limit=limit, offset=offset, service=involving, max_rank=None if involving is None else max_rank
        )
        rows = records.get_analyses([i for i, _ in ids if caches.summaries.get(i) is None])
        items = []
        for analysis_id, _ in ids:
            analysis = caches.summaries.get(analysis_id)
            if analysis is None:
                if analysis_id not in rows:  # deleted between the two queries
                    continue
                analysis = Analysis.from_record(rows[analysis_id], graph=False)
                if analysis.finished:
                    caches.summaries.put(analysis_id, analysis)
            items.append(analysis)
        return AnalysisPage(items=items, total=total, limit=limit, offset=offset).model_dump_json().encode()

    key = (limit, offset, involving, max_rank if involving else None)
    body = await caches.pages.get_or_compute(key, page, version=lambda: records.analyses_version)
    return Response(body, media_type=JSON)


@router.get("/{analysis_id}", response_model=Analysis, responses={404: {}})
async def get_analysis(analysis_id: str, service: ServiceDep, caches: CachesDep) -> Response:
    """One analysis; ``status`` is pending, running, done or failed."""
    document = caches.documents.get(analysis_id)
    if document is None:
        analysis = Analysis.from_record(await run_in_threadpool(_record, service, analysis_id))
        document = analysis.model_dump_json().encode()
        if analysis.finished:  # finished analyses never change
            caches.documents.put(analysis_id, document)
    return Response(document, media_type=JSON)


@router.get("/{analysis_id}/graph", responses={404: {}, 409: {}})
def get_graph(analysis_id: str, service: ServiceDep) -> Graph:
    """The causal graph around the top candidates of a finished analysis."""
    analysis = Analysis.from_record(_record(service, analysis_id))
    if analysis.graph is None:
        raise HTTPException(409, f"analysis {analysis_id} is {analysis.status}; the graph exists once it is done")
    return analysis.graph


@router.get(
    "/{analysis_id}/graph.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, 404: {}, 409: {}},
)
def get_graph_svg(
    analysis_id: str,
    service: ServiceDep,
    view: Annotated[Literal["series", "services"], Query(description="Nodes are series, or services.")] = "series",
) -> Response:
    """The causal graph as an SVG picture: layered from the symptom (right) back to the causes."""
    _record(service, analysis_id)
    svg = service.graph_svg(analysis_id, view)
    if svg is None:
        raise HTTPException(409, f"analysis {analysis_id} is not done yet")
    return Response(svg, media_type="image/svg+xml")


@router.post("/{analysis_id}/explanation", responses={404: {}, 409: {}, 410: {}})
async def explain_analysis(
    analysis_id: str, service: ServiceDep, k: Annotated[int, Query(ge=1, le=20)] = 5
) -> Explanation:
    """A short explanation of a finished analysis: root cause, first symptom, impact, with numbers.

    The template explainer by default; the LLM explainer when ``RCA_LLM_BASE_URL`` is set (it falls
    back to the template on any error). The ranking is never changed.
    """
    record = await run_in_threadpool(_record, service, analysis_id)
    if record["status"] != "done":
        raise HTTPException(409, f"analysis {analysis_id} is {record['status']}; explain it once it is done")
    explanation = await asyncio.to_thread(service.explain, analysis_id, k)
    if explanation is None:
        raise HTTPException(410, "this server no longer holds the analysis' data; run the analysis again")
    return explanation
