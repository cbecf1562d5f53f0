"""The read side of the log tables: counts and kept lines of a window, and the window's logs in the case format."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa

from rca.data.logs import COUNT_COLUMNS
from rca.store.schema import log_counts, log_samples, log_templates

if TYPE_CHECKING:
    from rca.store.store import Store

SAMPLE_COLUMNS = ["service", "template_key", "level", "time", "message", "trace_id", "span_id"]
"""Columns of :meth:`LogReads.read_samples`."""


class LogReads:
    """Reads of :class:`rca.store.logs.LogStore` (its ``store`` and stored ``bucket_seconds``)."""

    store: Store
    bucket_seconds: float

    def read_counts(
        self, start: float | None = None, end: float | None = None, *, step_seconds: float | None = None
    ) -> pd.DataFrame:
        """Log counts of buckets starting in ``[start, end)``, as :func:`rca.data.logs.log_counts` gives them.

        Parameters
        ----------
        start, end
            Unix seconds; ``None`` leaves that side open.
        step_seconds
            Bucket width of the result (default the stored width). Stored buckets are summed into
            ``floor(bucket / step) * step``; a step that is a multiple of the stored width is exact.

        Returns
        -------
        pandas.DataFrame
            :data:`rca.data.logs.COUNT_COLUMNS`: ``service``, ``template_key``, ``level``, ``bucket``
            (start, Unix seconds), ``count``, sorted by service, template key, level and bucket, as
            :func:`rca.data.logs.log_counts` sorts them.
        """
        c, tpl = log_counts, log_templates
        query = sa.select(tpl.c.service, tpl.c.template_key, tpl.c.level, c.c.bucket, c.c.count).join(
            tpl, tpl.c.id == c.c.template_id
        )
        if start is not None:
            query = query.where(c.c.bucket >= start)
        if end is not None:
            query = query.where(c.c.bucket < end)
        with self.store.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=list(COUNT_COLUMNS))
        frame["bucket"] = frame["bucket"].astype("float64")
        frame["count"] = frame["count"].astype("int64")
        step = float(step_seconds or self.bucket_seconds)
        if step != self.bucket_seconds and not frame.empty:
            frame["bucket"] = (frame["bucket"] // step) * step
            frame = frame.groupby(list(COUNT_COLUMNS[:4]), as_index=False, sort=False).agg(count=("count", "sum"))
        return frame.sort_values(list(COUNT_COLUMNS[:4])).reset_index(drop=True)

    def read_samples(self, start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """Kept raw lines with ``start <= time < end``: columns :data:`SAMPLE_COLUMNS`, by stream and time."""
        s, tpl = log_samples, log_templates
        query = sa.select(
            tpl.c.service, tpl.c.template_key, tpl.c.level, s.c.ts, s.c.message, s.c.trace_id, s.c.span_id
        ).join(tpl, tpl.c.id == s.c.template_id)
        if start is not None:
            query = query.where(s.c.ts >= start)
        if end is not None:
            query = query.where(s.c.ts < end)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(tpl.c.service, tpl.c.template_key, tpl.c.level, s.c.ts)).all()
        frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
        frame["time"] = frame["time"].astype("float64")
        return frame

    def read_logs(self, start: float | None = None, end: float | None = None) -> pd.DataFrame | None:
        """The window's log records in the case format (``Telemetry.logs``), rebuilt from counts and kept lines.

        One row per counted record of the buckets starting in ``[start, end)``, so that
        :func:`rca.data.logs.log_counts` of the result at the stored bucket width (or a multiple)
        equals :meth:`read_counts`. Kept lines are rows of their own, at their time with their trace
        and span ids; the other records of a bucket are rows at the bucket's start carrying the text
        of a kept line of the same stream (the latest up to that bucket's end, else the first after)
        and no ids. A stream without a kept line near the window carries its template key as text.

        Returns
        -------
        pandas.DataFrame or None
            Columns ``time, service, level, message, trace_id, span_id`` sorted by time; ``None`` when
            no log was counted in the window.
        """
        counts = self.read_counts(start, end, step_seconds=self.bucket_seconds)
        if counts.empty:
            return None
        near = self.read_samples(None if start is None else start - 3600.0, None if end is None else end + 3600.0)
        stream = ["service", "template_key", "level"]
        # Kept lines inside a counted bucket stand for themselves.
        near["bucket"] = (near["time"] // self.bucket_seconds) * self.bucket_seconds
        own = near.merge(counts[[*stream, "bucket"]], on=[*stream, "bucket"], how="inner")
        shown = own.groupby([*stream, "bucket"]).size().rename("shown").reset_index()
        rest = counts.merge(shown, on=[*stream, "bucket"], how="left")
        rest["count"] = rest["count"] - rest["shown"].fillna(0).astype("int64")
        rest = rest.loc[rest["count"] > 0].sort_values("bucket", kind="stable")
        # The others carry the text of the latest kept line of their stream by the bucket's end.
        texts = near.assign(at=near["time"] - self.bucket_seconds).sort_values("at", kind="stable")
        texts = texts[[*stream, "at", "message"]]
        rest = rest.assign(at=rest["bucket"].astype("float64"))
        matched = pd.merge_asof(rest, texts, on="at", by=stream, direction="backward")
        later = pd.merge_asof(rest, texts, on="at", by=stream, direction="forward")["message"]
        message = matched["message"].fillna(later).fillna(matched["template_key"])
        repeat = matched["count"].to_numpy(dtype="int64")
        copies = pd.DataFrame(
            {
                "time": np.repeat(matched["bucket"].to_numpy(dtype=float), repeat),
                "service": np.repeat(matched["service"].to_numpy(), repeat),
                "level": np.repeat(matched["level"].to_numpy(), repeat),
                "message": np.repeat(message.to_numpy(), repeat),
                "trace_id": "",
                "span_id": "",
            }
        )
        columns = ["time", "service", "level", "message", "trace_id", "span_id"]
        logs = pd.concat([own[columns], copies], ignore_index=True)
        return logs.sort_values("time", kind="stable").reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        """Row counts: ``log_templates``, ``log_counts``, ``log_samples`` and the records counted."""
        with self.store.engine.connect() as conn:
            out = {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (log_templates, log_counts, log_samples)
            }
            total = sa.select(sa.func.coalesce(sa.func.sum(log_counts.c.count), 0))
            out["records"] = int(conn.execute(total).scalar_one())
        return out
