"""The service's own records in the store: analyses, incidents and jobs.

Each is a row with an id, timestamps, a status and JSON documents (``rca.store.schema``), so the
API can evolve what it keeps without migrations. Ids are random UUID4 hex strings. Records are
written without waiting for the disk (:meth:`Store.transaction` with ``durable=False``): a crash of the
machine may lose the last few, which an SRE can run again; a crash of the process loses none.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from rca.store import causes, schema
from rca.store.store import Store


def new_id() -> str:
    """A fresh random id."""
    return uuid.uuid4().hex


class Records:
    """Analyses, incidents and jobs kept in a :class:`~rca.store.store.Store`'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self._analyses_version = 0
        self._version_lock = threading.Lock()

    @property
    def analyses_version(self) -> int:
        """A number that changes whenever this object creates or updates an analysis.

        A reader that takes it before reading analyses knows its copy is current while it is unchanged
        (for writes made through this object; other processes writing the same database go unseen).
        """
        return self._analyses_version

    def _analyses_changed(self) -> None:
        with self._version_lock:
            self._analyses_version += 1

    # ------------------------------------------------------------ analyses
    def create_analysis(self, request: dict[str, Any]) -> dict[str, Any]:
        """A new pending analysis of ``request``."""
        analysis_id = new_id()
        row = {
            "id": analysis_id,
            "created_at": time.time(),
            "updated_at": None,
            "status": "pending",
            "request": request,
        }
        with self.store.transaction(durable=False) as conn:
            conn.execute(sa.insert(schema.analyses).values(**row, result=None, error=None))
        self._analyses_changed()
        return {**row, "result": None, "error": None}

    def update_analysis(
        self, analysis_id: str, *, status: str, result: dict[str, Any] | None = None, error: str | None = None
    ) -> dict[str, Any]:
        """Set an analysis' status and, when finished, its result or error; returns what changed.

        A result's ranked services are stored with it (:mod:`rca.store.causes`), for lists by service.
        """
        values: dict[str, Any] = {"status": status, "updated_at": time.time()}
        if result is not None:
            values["result"] = result
        if error is not None:
            values["error"] = error
        with self.store.transaction(durable=False) as conn:
            conn.execute(sa.update(schema.analyses).where(schema.analyses.c.id == analysis_id).values(**values))
            if result is not None:
                causes.replace(conn, analysis_id, result)
        self._analyses_changed()
        return values

    def get_analysis(self, analysis_id: str) -> dict[str, Any] | None:
        """One analysis, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.analyses).where(schema.analyses.c.id == analysis_id)).mappings().first()
        return None if row is None else dict(row)

    def page_analyses(
        self, *, limit: int, offset: int, service: str | None = None, max_rank: int | None = None
    ) -> tuple[list[tuple[str, str]], int]:
        """The ids and statuses of a page of analyses, newest first, and the total count.

        With ``service``, only analyses that rank it among their causes at ``max_rank`` or better
        (``None``: at any rank); an unknown service gives an empty page.
        """
        table = schema.analyses
        where = [] if service is None else [table.c.id.in_(causes.involving(service, max_rank))]
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
            rows = conn.execute(
                sa.select(table.c.id, table.c.status)
                .where(*where)
                .order_by(table.c.created_at.desc(), table.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [(r.id, r.status) for r in rows], int(total)

    def get_analyses(self, analysis_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The analyses with these ids, by id (missing ids are left out)."""
        if not analysis_ids:
            return {}
        table = schema.analyses
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.id.in_(list(analysis_ids)))).mappings()
            return {r["id"]: dict(r) for r in rows}

    # ------------------------------------------------------------ incidents
    def open_incident(self, opened_at: float, summary: dict[str, Any]) -> dict[str, Any]:
        """Record a newly opened incident."""
        row = {"id": new_id(), "opened_at": opened_at, "closed_at": None, "status": "open", "summary": summary}
        with self.store.transaction(durable=False) as conn:
            conn.execute(sa.insert(schema.incidents).values(**row, analysis_id=None))
        return {**row, "analysis_id": None}

    def update_incident(self, incident_id: str, **values: Any) -> None:
        """Change an incident's fields (``status``, ``closed_at``, ``analysis_id``, ``summary``)."""
        with self.store.transaction(durable=False) as conn:
            conn.execute(sa.update(schema.incidents).where(schema.incidents.c.id == incident_id).values(**values))

    def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident, or ``None``."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(schema.incidents).where(schema.incidents.c.id == incident_id)).mappings().first()
            )
        return None if row is None else dict(row)

    def list_incidents(
        self,
        *,
        limit: int,
        offset: int,
        status: str | None = None,
        service: str | None = None,
        max_rank: int | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of incidents, newest first, and the total count.

        With ``service``, only incidents whose analysis ranks it among its causes at ``max_rank`` or
        better (``None``: at any rank); an incident not analysed yet involves no service.
        """
        table = schema.incidents
        where = [] if status is None else [table.c.status == status]
        if service is not None:
            where.append(table.c.analysis_id.in_(causes.involving(service, max_rank)))
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
            rows = conn.execute(
                sa.select(table)
                .where(*where)
                .order_by(table.c.opened_at.desc(), table.c.id)
                .limit(limit)
                .offset(offset)
            ).mappings()
            return [dict(r) for r in rows], int(total)

    # ------------------------------------------------------------ jobs
    def create_job(self, kind: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new queued job."""
        row = {"id": new_id(), "kind": kind, "created_at": time.time(), "updated_at": None, "status": "queued"}
        with self.store.transaction(durable=False) as conn:
            conn.execute(sa.insert(schema.jobs).values(**row, detail=detail or {}))
        return {**row, "detail": detail or {}}

    def update_job(self, job_id: str, *, status: str, detail: dict[str, Any] | None = None) -> None:
        """Set a job's status (and detail)."""
        values: dict[str, Any] = {"status": status, "updated_at": time.time()}
        if detail is not None:
            values["detail"] = detail
        with self.store.transaction(durable=False) as conn:
            conn.execute(sa.update(schema.jobs).where(schema.jobs.c.id == job_id).values(**values))

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """One job, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.jobs).where(schema.jobs.c.id == job_id)).mappings().first()
        return None if row is None else dict(row)
