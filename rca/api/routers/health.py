"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rca.api.deps import ServiceDep, SettingsDep
from rca.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": Health}})
def readyz(service: ServiceDep, settings: SettingsDep, response: Response) -> Health:
    """Readiness: the store answers and, with ``--ingest``, the ingest thread consumes.

    A missing model does not make the service unready: analyses then fit the method on each case's
    own baseline (the ``model`` check says which applies).
    """
    checks: dict[str, Any] = {}
    try:
        checks["store"] = {"ok": True, "counts": service.store.counts()}
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["store"] = {"ok": False, "error": type(exc).__name__}
    current = service.registry.current()
    checks["model"] = {
        "ok": True,
        "version": current and current.version,
        "note": (
            f"analyses use model {current.version}"
            if current is not None
            else f"no model registered: {settings.default_method} fits on each case's baseline (`rca train` adds one)"
        ),
    }
    if service.ingest is not None:
        checks["ingest"] = service.ingest.status()
    ready = all(c["ok"] for c in checks.values())
    if not ready:
        response.status_code = 503
    return Health(status="ok" if ready else "unavailable", checks=checks)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus metrics (``rca_`` prefix)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
