"""The FastAPI application: a thin shell over :class:`rca.api.service.Service`.

Errors are RFC 9457 ``application/problem+json`` documents that say what to fix; bad input is a 4xx,
never a 5xx, and no stack trace ever reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from rca.api.schemas import (
    Analysis,
    AnalysisPage,
    AnalysisRequest,
    Graph,
    Health,
    Incident,
    IncidentPage,
    Job,
    ModelInfo,
    ServiceInfo,
)
from rca.api.service import Service
from rca.errors import DataError, RCAError, UnknownMethodError
from rca.explain import Explanation
from rca.methods import METHODS
from rca.registry.models import RegistryError
from rca.settings import Scope, Settings

log = logging.getLogger("rca.api")

REQUESTS = Counter("rca_http_requests_total", "HTTP requests.", ["method", "route", "status"])
LATENCY = Histogram(
    "rca_http_request_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

PROBLEM = "application/problem+json"
_bearer = HTTPBearer(auto_error=False)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _analysis(record: dict[str, Any], *, graph: bool = True) -> Analysis:
    request = record.get("request") or {}
    result = record.get("result") or {}
    return Analysis(
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
        graph=Graph(**result["graph"]) if graph and result.get("graph") else None,
        timings=result.get("timings", {}),
        error=record.get("error"),
    )


def create_app(settings: Settings | None = None, *, service: Service | None = None, workers: bool = True) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings
        Configuration (default: from the environment).
    service
        The service state to serve (default: built from ``settings``).
    workers
        Start the incident watcher and the retraining scheduler with the app.
    """
    settings = settings or Settings()
    keys = settings.key_scopes

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = service or Service(settings)
        app.state.service = state
        state.update_model_age()
        if workers:
            state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="rca",
        version="1",
        summary="Root-cause analysis for microservices: ranked culprits, evidence and causal graphs.",
        lifespan=lifespan,
    )

    def svc(request: Request) -> Service:
        state: Service = request.app.state.service
        return state

    def require(scope: Scope) -> Callable[..., None]:
        def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
            if not keys:
                return
            if credentials is None:
                raise HTTPException(401, "send an API key: Authorization: Bearer <key>")
            granted = keys.get(credentials.credentials)
            if granted is None:
                raise HTTPException(401, "unknown API key")
            if scope == "admin" and granted != "admin":
                raise HTTPException(403, "this needs an admin key; yours has the read scope")

        return check

    read = [Depends(require("read"))]
    admin = [Depends(require("admin"))]

    @app.middleware("http")
    async def limits_and_metrics(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_request_bytes):
            response: Response = problem(
                413, "Request too large", f"the body may be at most {settings.max_request_bytes} bytes"
            )
        else:
            try:
                response = await call_next(request)
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                response = problem(500, "Internal error", "the server failed; the incident is logged")
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid request", detail, errors=errors[:50])

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            409: "Conflict",
            410: "Gone",
        }
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))

    @app.exception_handler(DataError)
    async def on_data(_request: Request, exc: DataError) -> JSONResponse:
        return problem(422, "Unusable data", str(exc))

    @app.exception_handler(UnknownMethodError)
    async def on_method(_request: Request, exc: UnknownMethodError) -> JSONResponse:
        return problem(422, "Unknown method", str(exc))

    @app.exception_handler(RegistryError)
    async def on_registry(_request: Request, exc: RegistryError) -> JSONResponse:
        return problem(404, "No such model", str(exc))

    @app.exception_handler(RCAError)
    async def on_rca(_request: Request, exc: RCAError) -> JSONResponse:
        return problem(422, "Cannot do that", str(exc))

    # ------------------------------------------------------------------ health
    @app.get("/healthz", tags=["health"])
    def healthz() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get("/readyz", tags=["health"], responses={503: {"model": Health}})
    def readyz(request: Request, response: Response) -> Health:
        """Readiness: the store answers and a model is loaded (or the default method needs none)."""
        state = svc(request)
        checks: dict[str, Any] = {}
        try:
            checks["store"] = {"ok": True, "counts": state.store.counts()}
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["store"] = {"ok": False, "error": type(exc).__name__}
        current = state.registry.current()
        needs_model = METHODS[settings.default_method].learns if settings.default_method in METHODS else False
        checks["model"] = {"ok": current is not None or not needs_model, "version": current and current.version}
        ready = all(c["ok"] for c in checks.values())
        if not ready:
            response.status_code = 503
        return Health(status="ok" if ready else "unavailable", checks=checks)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (``rca_`` prefix)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ analyses
    @app.post(
        "/v1/analyses",
        tags=["analyses"],
        status_code=201,
        dependencies=read,
        responses={202: {"model": Analysis, "description": "Still running: poll the Location."}},
    )
    async def create_analysis(body: AnalysisRequest, request: Request, response: Response) -> Analysis:
        """Analyse a window of ingested data or an inline case; 201 when done in time, else 202."""
        state = svc(request)
        payload = body.model_dump(exclude_none=True)
        record, future = await asyncio.to_thread(state.submit, payload, source="inline" if body.case else "window")
        # shield: a timeout must not cancel the analysis, only stop waiting for it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout=settings.sync_analysis_seconds)
        current = state.records.get_analysis(record["id"]) or record
        location = f"/v1/analyses/{record['id']}"
        response.headers["Location"] = location
        if current["status"] not in ("done", "failed"):
            response.status_code = 202
        return _analysis(current)

    @app.get("/v1/analyses", tags=["analyses"], dependencies=read)
    def list_analyses(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> AnalysisPage:
        """Analyses, newest first."""
        rows, total = svc(request).records.list_analyses(limit=limit, offset=offset)
        items = [_analysis(r, graph=False) for r in rows]
        return AnalysisPage(items=items, total=total, limit=limit, offset=offset)

    def _get(request: Request, analysis_id: str) -> dict[str, Any]:
        record = svc(request).records.get_analysis(analysis_id)
        if record is None:
            raise HTTPException(404, f"no analysis {analysis_id!r}; GET /v1/analyses lists them")
        return record

    @app.get("/v1/analyses/{analysis_id}", tags=["analyses"], dependencies=read, responses={404: {}})
    def get_analysis(analysis_id: str, request: Request) -> Analysis:
        """One analysis; ``status`` is pending, running, done or failed."""
        return _analysis(_get(request, analysis_id))

    @app.get("/v1/analyses/{analysis_id}/graph", tags=["analyses"], dependencies=read, responses={404: {}, 409: {}})
    def get_graph(analysis_id: str, request: Request) -> Graph:
        """The causal graph around the top candidates of a finished analysis."""
        analysis = _analysis(_get(request, analysis_id))
        if analysis.graph is None:
            raise HTTPException(409, f"analysis {analysis_id} is {analysis.status}; the graph exists once it is done")
        return analysis.graph

    @app.get(
        "/v1/analyses/{analysis_id}/graph.svg",
        tags=["analyses"],
        dependencies=read,
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}}, 404: {}, 409: {}},
    )
    def get_graph_svg(analysis_id: str, request: Request) -> Response:
        """The causal graph as an SVG picture."""
        _get(request, analysis_id)
        svg = svc(request).graph_svg(analysis_id)
        if svg is None:
            raise HTTPException(409, f"analysis {analysis_id} is not done yet")
        return Response(svg, media_type="image/svg+xml")

    @app.post(
        "/v1/analyses/{analysis_id}/explanation",
        tags=["analyses"],
        dependencies=read,
        responses={404: {}, 409: {}, 410: {}},
    )
    async def explain_analysis(
        analysis_id: str, request: Request, k: Annotated[int, Query(ge=1, le=20)] = 5
    ) -> Explanation:
        """A short explanation of a finished analysis: root cause, first symptom, impact, with numbers.

        The template explainer by default; the LLM explainer when ``RCA_LLM_BASE_URL`` is set (it falls
        back to the template on any error). The ranking is never changed.
        """
        record = _get(request, analysis_id)
        if record["status"] != "done":
            raise HTTPException(409, f"analysis {analysis_id} is {record['status']}; explain it once it is done")
        explanation = await asyncio.to_thread(svc(request).explain, analysis_id, k)
        if explanation is None:
            raise HTTPException(410, "this server no longer holds the analysis' data; run the analysis again")
        return explanation

    # ------------------------------------------------------------------ incidents
    def _incident(request: Request, row: dict[str, Any], *, embed: bool) -> Incident:
        summary = row.get("summary") or {}
        analysis = None
        if embed and row.get("analysis_id"):
            record = svc(request).records.get_analysis(row["analysis_id"])
            analysis = _analysis(record) if record else None
        return Incident(
            id=row["id"],
            status=row["status"],
            opened_at=row["opened_at"],
            closed_at=row.get("closed_at"),
            onset=summary.get("onset", row["opened_at"]),
            symptoms=summary.get("symptoms", {}),
            analysis_id=row.get("analysis_id"),
            analysis=analysis,
        )

    @app.get("/v1/incidents", tags=["incidents"], dependencies=read)
    def list_incidents(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        embed: Annotated[bool, Query(description="Include each incident's analysis.")] = False,
    ) -> IncidentPage:
        """Incidents the service opened itself, newest first."""
        rows, total = svc(request).records.list_incidents(limit=limit, offset=offset)
        items = [_incident(request, r, embed=embed) for r in rows]
        return IncidentPage(items=items, total=total, limit=limit, offset=offset)

    @app.get("/v1/incidents/{incident_id}", tags=["incidents"], dependencies=read, responses={404: {}})
    def get_incident(incident_id: str, request: Request) -> Incident:
        """One incident with its analysis."""
        row = svc(request).records.get_incident(incident_id)
        if row is None:
            raise HTTPException(404, f"no incident {incident_id!r}; GET /v1/incidents lists them")
        return _incident(request, row, embed=True)

    # ------------------------------------------------------------------ services, methods
    @app.get("/v1/services", tags=["telemetry"], dependencies=read)
    def list_services(request: Request) -> list[ServiceInfo]:
        """Services and series known from the stream, with last-seen times."""
        return [ServiceInfo(**s) for s in svc(request).store.services()]

    @app.get("/v1/methods", tags=["analyses"], dependencies=read)
    def list_methods() -> dict[str, dict[str, Any]]:
        """The methods an analysis may name, with their default parameters."""
        return {
            name: {"learns": factory().learns, "params": _jsonable(factory().get_params())}
            for name, factory in METHODS.items()
        }

    # ------------------------------------------------------------------ models
    @app.get("/v1/models", tags=["models"], dependencies=read)
    def list_models(request: Request) -> list[ModelInfo]:
        """Registered models, oldest first; ``current`` marks the one in use."""
        registry = svc(request).registry
        current = registry.current()
        return [
            ModelInfo(**asdict(r), current=current is not None and r.version == current.version)
            for r in registry.records()
        ]

    @app.post("/v1/models/retrain", tags=["models"], status_code=202, dependencies=admin)
    def retrain(request: Request, response: Response) -> Job:
        """Retrain the default method on recent history in the background (admin)."""
        job = svc(request).start_retrain()
        response.headers["Location"] = f"/v1/jobs/{job['id']}"
        return Job(**job)

    @app.get("/v1/jobs/{job_id}", tags=["models"], dependencies=read, responses={404: {}})
    def get_job(job_id: str, request: Request) -> Job:
        """A background job."""
        row = svc(request).records.get_job(job_id)
        if row is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return Job(**row)

    return app


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool | type(None))}
