"""The FastAPI application: a thin shell over :class:`rca.api.service.Service`.

Errors are RFC 9457 ``application/problem+json`` documents that say what to fix; bad input is a 4xx,
never a 5xx, and no stack trace ever reaches a client.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
from anyio import to_thread
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from rca.api.schemas import (
    Analysis,
    AnalysisPage,
    AnalysisRequest,
    Graph,
    Health,
    Incident,
    IncidentPage,
    InlineCase,
    Job,
    ModelInfo,
    ServiceInfo,
)
from rca.api.service import Service
from rca.data.case import Case
from rca.data.jsoncase import case_from_payload
from rca.errors import DataError, RCAError, UnknownMethodError
from rca.explain import Explanation
from rca.methods import METHODS
from rca.registry.models import RegistryError
from rca.settings import Scope, Settings
from rca.web import mount_web

log = logging.getLogger("rca.api")

REQUESTS = Counter("rca_http_requests_total", "HTTP requests.", ["method", "route", "status"])
LATENCY = Histogram(
    "rca_http_request_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

PROBLEM = "application/problem+json"
BLOCKING_THREADS = 4
"""Threads for blocking request work (store reads, starting analyses)."""
SERVICES_MAX_AGE_SECONDS = 1.0
"""How long the answer of ``GET /v1/services`` is reused (it scans the stored series and spans)."""
RECENT_DOCUMENTS = 1024
"""Finished analyses whose response body stays in memory."""
PAGE_MAX_AGE_SECONDS = 1.0
"""How long a page of ``GET /v1/analyses`` is reused while this process records no analysis change.

This process' own writes show at once; writes by other processes sharing the store, within this time
(plus the few milliseconds of a refresh, during which the previous page is still served).
"""
RECENT_PAGES = 64
"""Pages of ``GET /v1/analyses`` (by limit and offset) kept in memory."""
_bearer = HTTPBearer(auto_error=False)
K = TypeVar("K")
V = TypeVar("V")


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class _JSONRequest(Request):
    """A request whose JSON body is parsed by orjson (inline cases are large)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)  # NaN and Infinity, which Python clients send, or the precise error
        return self._json


class _JSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            response: Response = await handler(_JSONRequest(request.scope, request.receive))
            return response

        return handle


class _Guard:
    """ASGI middleware: the request size limit, a problem document for any unhandled error, metrics.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a stream per request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        too_large = f"the body may be at most {self.max_bytes} bytes"
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a streamed body has no content-length to check up front
                raise HTTPException(413, too_large)  # FastAPI passes it on to the problem handler
            return message

        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_bytes:
            await problem(413, "Request too large", too_large)(scope, receive, observed_send)
        else:
            try:
                await self.app(scope, counted_receive, observed_send)
            except Exception:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if not status:  # nothing sent yet: answer with a problem document
                    failed = problem(500, "Internal error", "the server failed; the incident is logged")
                    await failed(scope, receive, observed_send)
        path = getattr(scope.get("route"), "path", "unmatched")
        REQUESTS.labels(scope["method"], path, str(status or 500)).inc()
        LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)


class _Recent(Generic[K, V]):
    """The most recently used entries, up to ``size`` (least recently used out)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)


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
        # a few threads for blocking work: with anyio's default of 40, requests thrash over the GIL
        to_thread.current_default_thread_limiter().total_tokens = BLOCKING_THREADS
        state.update_model_age()
        if workers:
            state.start()
        # the objects alive now (modules, models, the app) live as long as the process: leaving them out
        # of garbage collection spares every request behind a full collection a pause of ~100 ms
        gc.collect()
        gc.freeze()
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
    app.router.route_class = _JSONRoute
    app.add_middleware(_Guard, max_bytes=settings.max_request_bytes)
    finished: _Recent[str, bytes] = _Recent(RECENT_DOCUMENTS)  # finished analyses never change
    summaries: _Recent[str, bytes] = _Recent(RECENT_DOCUMENTS)  # the same without the graph, as pages list them
    pages: _Recent[tuple[int, int], tuple[int, float, bytes]] = _Recent(RECENT_PAGES)  # (version, when, body)
    pages_lock = asyncio.Lock()

    def svc(request: Request) -> Service:
        state: Service = request.app.state.service
        return state

    def require(scope: Scope) -> Callable[..., Awaitable[None]]:
        async def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
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
            413: "Request too large",
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
    async def healthz() -> Health:
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
        response_model=Analysis,
        responses={202: {"model": Analysis, "description": "Still running: poll the Location."}},
    )
    async def create_analysis(body: AnalysisRequest, request: Request) -> Response:
        """Analyse a window of ingested data or an inline case; 201 when done in time, else 202."""
        state = svc(request)

        def start() -> tuple[dict[str, Any], Future[dict[str, Any]]]:
            if body.case is not None:
                return state.submit(_inline_case(body.case), method=body.method, k=body.k, source="inline")
            assert body.start is not None and body.end is not None  # AnalysisRequest checks it
            case = state.window_case(body.start, body.end, anomaly_time=body.anomaly_time, symptom=body.symptom)
            return state.submit(case, method=body.method, k=body.k, source="window")

        record, future = await run_in_threadpool(start)
        try:
            # shield: a timeout must not cancel the analysis, only stop waiting for it
            current = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), timeout=settings.sync_analysis_seconds
            )
        except TimeoutError:
            stored = await run_in_threadpool(state.records.get_analysis, record["id"])
            current = stored or record
        analysis = _analysis(current)
        document = analysis.model_dump_json().encode()
        finished_now = analysis.status in ("done", "failed")
        if finished_now:
            finished.put(analysis.id, document)
        return Response(
            document,
            status_code=201 if finished_now else 202,
            media_type="application/json",
            headers={"Location": f"/v1/analyses/{analysis.id}"},
        )

    @app.get("/v1/analyses", tags=["analyses"], dependencies=read, response_model=AnalysisPage)
    async def list_analyses(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> Response:
        """Analyses, newest first (without their graphs)."""
        records = svc(request).records

        def page() -> bytes:
            ids, total = records.page_analyses(limit=limit, offset=offset)
            rows = records.get_analyses([i for i, _ in ids if summaries.get(i) is None])
            items = []
            for analysis_id, _ in ids:
                document = summaries.get(analysis_id)
                if document is None:
                    if analysis_id not in rows:  # deleted between the two queries
                        continue
                    analysis = _analysis(rows[analysis_id], graph=False)
                    document = analysis.model_dump_json().encode()
                    if analysis.status in ("done", "failed"):
                        summaries.put(analysis_id, document)
                items.append(document)
            envelope = b'{"items":[%s],"total":%d,"limit":%d,"offset":%d}'
            return envelope % (b",".join(items), total, limit, offset)

        def current(*, refreshing: bool) -> bytes | None:
            cached = pages.get((limit, offset))
            if cached is None or cached[0] != records.analyses_version:
                return None  # this process changed an analysis since: its own writes show at once
            if time.monotonic() - cached[1] <= PAGE_MAX_AGE_SECONDS or refreshing:
                return cached[2]  # young enough, or being refreshed: serve it rather than queue behind the refresh
            return None

        body = current(refreshing=pages_lock.locked())
        if body is None:
            async with pages_lock:  # one refresh at a time; the others wait for it rather than repeat it
                body = current(refreshing=False)
                if body is None:
                    version = records.analyses_version  # taken before reading: a write during the read shows next time
                    body = await run_in_threadpool(page)
                    pages.put((limit, offset), (version, time.monotonic(), body))
        return Response(body, media_type="application/json")

    def _get(request: Request, analysis_id: str) -> dict[str, Any]:
        record = svc(request).records.get_analysis(analysis_id)
        if record is None:
            raise HTTPException(404, f"no analysis {analysis_id!r}; GET /v1/analyses lists them")
        return record

    @app.get(
        "/v1/analyses/{analysis_id}",
        tags=["analyses"],
        dependencies=read,
        response_model=Analysis,
        responses={404: {}},
    )
    async def get_analysis(analysis_id: str, request: Request) -> Response:
        """One analysis; ``status`` is pending, running, done or failed."""
        document = finished.get(analysis_id)
        if document is None:
            analysis = _analysis(await run_in_threadpool(_get, request, analysis_id))
            document = analysis.model_dump_json().encode()
            if analysis.status in ("done", "failed"):  # finished analyses never change
                finished.put(analysis_id, document)
        return Response(document, media_type="application/json")

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
    def get_graph_svg(
        analysis_id: str,
        request: Request,
        view: Annotated[Literal["series", "services"], Query(description="Nodes are series, or services.")] = "series",
    ) -> Response:
        """The causal graph as an SVG picture: layered from the symptom (right) back to the causes."""
        _get(request, analysis_id)
        svg = svc(request).graph_svg(analysis_id, view)
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
    services: list[tuple[float, bytes]] = []  # (when, body) of the last answer
    services_lock = asyncio.Lock()

    @app.get("/v1/services", tags=["telemetry"], dependencies=read, response_model=list[ServiceInfo])
    async def list_services(request: Request) -> Response:
        """Services and series known from the stream, with last-seen times (as of at most a second ago)."""
        async with services_lock:  # one refresh at a time; the others wait for it rather than repeat it
            now = time.monotonic()
            if not services or now - services[0][0] > SERVICES_MAX_AGE_SECONDS:
                known = await run_in_threadpool(svc(request).store.services)
                body = TypeAdapter(list[ServiceInfo]).dump_json([ServiceInfo(**s) for s in known])
                services[:] = [(now, body)]
            return Response(services[0][1], media_type="application/json")

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

    mount_web(app)  # the browser UI and local Swagger UI (rca.web)
    return app


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool | type(None))}
