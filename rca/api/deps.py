"""Dependencies of the routes: the service, the settings, the response caches, API-key checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rca.api.cache import Cache
from rca.api.schemas import Analysis
from rca.service import Service
from rca.settings import Scope, Settings

RECENT_DOCUMENTS = 1024
"""Finished analyses whose response body stays in memory."""
PAGE_MAX_AGE_SECONDS = 1.0
"""How long a page of ``GET /v1/analyses`` is reused while this process records no analysis change.

This process' own writes show at once; writes by other processes sharing the store, within this time
(plus the few milliseconds of a refresh, during which the previous page is still served).
"""
RECENT_PAGES = 64
"""Pages of ``GET /v1/analyses`` (by limit, offset and filter) kept in memory."""
SERVICES_MAX_AGE_SECONDS = 1.0
"""How long the answer of ``GET /v1/services`` is reused (it scans the stored series and spans)."""


@dataclass
class Caches:
    """The response caches of one application."""

    documents: Cache[str, bytes] = field(default_factory=lambda: Cache(RECENT_DOCUMENTS))
    """Finished analyses as served by ``GET /v1/analyses/{id}`` (they never change)."""
    summaries: Cache[str, Analysis] = field(default_factory=lambda: Cache(RECENT_DOCUMENTS))
    """Finished analyses without their graphs, as pages list them."""
    pages: Cache[tuple[int, int, str | None, int | None], bytes] = field(
        default_factory=lambda: Cache(RECENT_PAGES, max_age=PAGE_MAX_AGE_SECONDS)
    )
    """Pages of ``GET /v1/analyses`` by (limit, offset, service, max_rank), versioned by the analyses' changes."""
    services: Cache[None, bytes] = field(default_factory=lambda: Cache(1, max_age=SERVICES_MAX_AGE_SECONDS))
    """The answer of ``GET /v1/services``."""


async def get_service(request: Request) -> Service:
    """The running service (set by the application's lifespan).

    These three are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, a thread hop
    per dependency per request that the 4 blocking threads then queue behind.
    """
    service: Service = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_caches(request: Request) -> Caches:
    """The application's response caches."""
    caches: Caches = request.app.state.caches
    return caches


DEFAULT_MAX_RANK = 3
"""A list filtered by service shows the analyses and incidents that rank it among their top three causes."""

ServiceFilter = Annotated[
    str | None,
    Query(
        alias="service",
        min_length=1,
        max_length=300,
        pattern=r"^[^\x00]+$",  # PostgreSQL text cannot hold NUL: a 422, not a database error
        description="Only those whose ranked causes include this service (at `max_rank` or better); "
        "a service no analysis ranks gives an empty page.",
    ),
]
"""The ``service`` filter of the list routes (``service`` itself names the running service there)."""
MaxRank = Annotated[
    int,
    Query(
        ge=1,
        le=100,
        description="With `service`: the worst rank at which it counts (1: the top cause only). "
        "Ignored without `service`.",
    ),
]

ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CachesDep = Annotated[Caches, Depends(get_caches)]

_bearer = HTTPBearer(auto_error=False)


def _require(scope: Scope) -> Callable[..., Awaitable[None]]:
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> None:
        keys: dict[str, Scope] = request.app.state.keys
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


READ = Depends(_require("read"))
"""Requires an API key of any scope (when keys are configured)."""
ADMIN = Depends(_require("admin"))
"""Requires an admin API key (when keys are configured)."""
