"""The FastAPI application: routers over :class:`rca.service.Service`.

Each resource has its router in :mod:`rca.api.routers`; the shared plumbing (problem documents, the
request guard, the orjson route) is in :mod:`rca.api.http`, the dependencies (service, settings, API
keys, response caches) in :mod:`rca.api.deps`.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from anyio import to_thread
from fastapi import FastAPI

from rca.api.deps import Caches
from rca.api.http import Guard, JSONRoute, install_error_handlers
from rca.api.routers import analyses, health, incidents, models, telemetry
from rca.service import Service
from rca.settings import Settings
from rca.web import mount_web

BLOCKING_THREADS = 4
"""Threads for blocking request work (store reads, starting analyses)."""


def create_app(settings: Settings | None = None, *, service: Service | None = None, workers: bool = True) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings
        Configuration (default: from the environment).
    service
        The service state to serve (default: built from ``settings`` when the app starts).
    workers
        Start the incident watcher, the retraining scheduler (and ingestion, when the service has it)
        with the app.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = service or Service(settings)
        app.state.service = state
        # a few threads for blocking work: with anyio's default of 40, requests thrash over the GIL
        to_thread.current_default_thread_limiter().total_tokens = BLOCKING_THREADS
        state.retrainer.update_model_age()
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
    app.router.route_class = JSONRoute
    app.state.settings = settings
    app.state.keys = settings.key_scopes
    app.state.caches = Caches()
    app.add_middleware(Guard, max_bytes=settings.max_request_bytes)
    install_error_handlers(app)
    for router in (health.router, analyses.router, incidents.router, telemetry.router, models.router):
        app.include_router(router)
    # further front ends (a web UI's router and static files) are included or mounted here
    mount_web(app)  # the browser UI and local Swagger UI (rca.web)
    return app


def serve(settings: Settings, *, ingest: bool = False) -> str | None:
    """Serve the API on ``settings.host:port`` until interrupted (``rca serve``).

    Returns ``None`` after a clean stop, or the reason when a worker failed for good (the ingest
    thread after its restarts): the server then stops, and ``rca serve`` exits with status 1.
    """
    failures: list[str] = []

    def stop_serving(reason: str) -> None:
        failures.append(reason)
        server.should_exit = True

    service = Service(settings, ingest=ingest, on_fatal=stop_serving)
    app = create_app(settings, service=service)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning"))
    server.run()
    return failures[0] if failures else None
