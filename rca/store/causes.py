"""The services of each analysis' ranked causes, kept beside it so that lists filter by service.

``cause_services`` holds one row per analysis and ranked service: the service's rank among the
analysis' ranked causes (``1``: the top cause; a ranking's ``rank`` counts services, so ranks are
1..k). Every ranked service is kept, not only the top one, so that "analyses involving X" can mean
"X among the top three" as well as "X first"; that is at most ``k`` rows per analysis (5 by default).
An incident involves the services of its analysis (``incidents.analysis_id``), so incidents filter
through the same rows and nothing is copied. Rows are written in the transaction that stores the
result (:meth:`rca.store.records.Records.update_analysis`) and deleted with their analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rca.store import schema

_BACKFILL_CHUNK = 200
"""Analyses read at a time when filling the table from stored results (their documents can be large)."""


def ranked_services(result: Mapping[str, Any] | None) -> dict[str, int]:
    """``service -> best rank`` of a stored result document's ranking (entries without both are skipped)."""
    ranks: dict[str, int] = {}
    ranking = (result or {}).get("ranking")
    for item in ranking if isinstance(ranking, list) else []:
        service = item.get("service") if isinstance(item, Mapping) else None
        rank = item.get("rank") if isinstance(item, Mapping) else None
        if isinstance(service, str) and service and isinstance(rank, int) and not isinstance(rank, bool):
            ranks[service] = min(rank, ranks.get(service, rank))
    return ranks


def replace(conn: Connection, analysis_id: str, result: Mapping[str, Any] | None) -> None:
    """Set the ranked services of ``analysis_id`` from its result (inside ``conn``'s transaction)."""
    table = schema.cause_services
    conn.execute(sa.delete(table).where(table.c.analysis_id == analysis_id))
    rows = [{"analysis_id": analysis_id, "service": s, "rank": r} for s, r in ranked_services(result).items()]
    if rows:
        conn.execute(sa.insert(table), rows)


def backfill(conn: Connection) -> int:
    """Fill the ranked services of finished analyses that have none from their stored results.

    Run once by :meth:`rca.store.store.Store.create` on a store older than schema version 3; returns
    how many analyses were filled.
    """
    analyses, table = schema.analyses, schema.cause_services
    missing = (
        sa.select(analyses.c.id)
        .where(analyses.c.status == "done", ~analyses.c.id.in_(sa.select(table.c.analysis_id)))
        .order_by(analyses.c.id)
    )
    ids = list(conn.execute(missing).scalars())
    for start in range(0, len(ids), _BACKFILL_CHUNK):
        chunk = ids[start : start + _BACKFILL_CHUNK]
        rows = conn.execute(sa.select(analyses.c.id, analyses.c.result).where(analyses.c.id.in_(chunk))).all()
        for analysis_id, result in rows:
            replace(conn, analysis_id, result)
    return len(ids)


def involving(service: str, max_rank: int | None = None) -> sa.Select[tuple[str]]:
    """The ids of analyses that rank ``service`` among their causes, at ``max_rank`` or better (``None``: any)."""
    table = schema.cause_services
    query = sa.select(table.c.analysis_id).where(table.c.service == service)
    return query if max_rank is None else query.where(table.c.rank <= max_rank)
