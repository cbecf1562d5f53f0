"""The model registry and background jobs (retraining)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Response

from rca.api.deps import ADMIN, READ, ServiceDep
from rca.api.schemas import Job, ModelInfo

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", dependencies=[READ])
def list_models(service: ServiceDep) -> list[ModelInfo]:
    """Registered models, oldest first; ``current`` marks the one in use."""
    current = service.registry.current()
    return [
        ModelInfo(**asdict(r), current=current is not None and r.version == current.version)
        for r in service.registry.records()
    ]


@router.post("/models/retrain", status_code=202, dependencies=[ADMIN])
def retrain(service: ServiceDep, response: Response) -> Job:
    """Retrain the default method on recent history in the background (admin)."""
    job = service.retrainer.start()
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return Job(**job)


@router.get("/jobs/{job_id}", dependencies=[READ], responses={404: {}})
def get_job(job_id: str, service: ServiceDep) -> Job:
    """A background job."""
    row = service.records.get_job(job_id)
    if row is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return Job(**row)
