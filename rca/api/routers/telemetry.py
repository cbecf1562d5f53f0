"""What the service knows: ingested services and series, and the methods an analysis may name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import TypeAdapter

from rca.api.deps import READ, CachesDep, ServiceDep
from rca.api.schemas import ServiceInfo
from rca.methods import METHODS
from rca.registry.models import jsonable

router = APIRouter(prefix="/v1", dependencies=[READ])

_SERVICES = TypeAdapter(list[ServiceInfo])


@router.get("/services", tags=["telemetry"], response_model=list[ServiceInfo])
async def list_services(service: ServiceDep, caches: CachesDep) -> Response:
    """Services and series known from the stream, with last-seen times (as of at most a second ago)."""

    def known() -> bytes:
        return _SERVICES.dump_json([ServiceInfo(**s) for s in service.store.services()])

    return Response(await caches.services.get_or_compute(None, known), media_type="application/json")


@router.get("/methods", tags=["analyses"])
def list_methods() -> dict[str, dict[str, Any]]:
    """The methods an analysis may name, with their default parameters."""
    return {
        name: {"learns": factory().learns, "params": jsonable(factory().get_params())}
        for name, factory in METHODS.items()
    }
