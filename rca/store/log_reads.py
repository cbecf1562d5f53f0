"""The read side of the log tables: counts and kept lines of a window, and the window's logs in the case format."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
        frame = self._buckets(start, end)[list(COUNT_COLUMNS)]
        step = float(step_seconds or self.bucket_seconds)
        if step != self.bucket_seconds and not frame.empty:
            frame["bucket"] = (frame["bucket"] // step) * step
            frame = frame.groupby(list(COUNT_COLUMNS[:4]), as_index=False, sort=False).agg(count=("count", "sum"))
        return frame.sort_values(list(COUNT_COLUMNS[:4])).reset_index(drop=True)

    def _buckets(self, start: float | None, end: float | None) -> pd.DataFrame:
        """Stored buckets starting in ``[start, end)``: the count columns plus ``first_ts``, ``last_ts``."""
        query = _per_template(log_counts, "bucket", start, end, "bucket", "count", "first_ts", "last_ts")
        with self.store.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=[*COUNT_COLUMNS, "first_ts", "last_ts"])
        frame["count"] = frame["count"].astype("int64")
        for column in ("bucket", "first_ts", "last_ts"):
            frame[column] = frame[column].astype("float64")
        return frame

    def read_samples(self, start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """Kept raw lines with ``start <= time < end``: columns :data:`SAMPLE_COLUMNS`, by stream and time."""
        s, tpl = log_samples, log_templates
        query = _per_template(s, "ts", start, end, "ts", "message", "trace_id", "span_id")
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
        and span ids; the other records of a bucket are rows spread evenly from the bucket's first
        record's time to its last's, carrying the text of a kept line of the same stream (the latest
        up to that bucket's end, else the first after) and no ids. A stream without a kept line near
        the window carries its template key as text.

        Returns
        -------
        pandas.DataFrame or None
            Columns ``time, service, level, message, trace_id, span_id`` sorted by time; ``None`` when
            no log was counted in the window.
        """
        with self.store.engine.connect() as conn:  # no log stored at all (a store of metrics and spans): skip cheaply
            if conn.execute(sa.select(log_counts.c.bucket).limit(1)).first() is None:
                return None
        counts = self._buckets(start, end)
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
        # Spread evenly from the bucket's first record to its last: a consumer that splits the bucket
        # (at an anomaly time inside it) sees about the share of its records on each side, and the
        # window's records start and end when the real ones did.
        first = matched["first_ts"].fillna(matched["bucket"]).to_numpy(dtype=float)
        last = matched["last_ts"].fillna(matched["bucket"] + self.bucket_seconds * (1 - 1e-9)).to_numpy(dtype=float)
        nth = np.arange(int(repeat.sum())) - np.repeat(np.cumsum(repeat) - repeat, repeat)
        fraction = nth / np.maximum(np.repeat(repeat, repeat) - 1, 1)
        copies = pd.DataFrame(
            {
                "time": np.repeat(first, repeat) + fraction * np.repeat(last - first, repeat),
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


def _per_template(table: sa.Table, time: str, start: float | None, end: float | None, *columns: str) -> sa.Select[Any]:
    """``service, template_key, level, *columns`` of ``table`` joined to its template, ``start <= time < end``.

    Columns are named by their names in ``table``; ``None`` leaves that side of the window open.
    """
    tpl = log_templates
    query = sa.select(tpl.c.service, tpl.c.template_key, tpl.c.level, *(table.c[c] for c in columns)).join(
        tpl, tpl.c.id == table.c.template_id
    )
    if start is not None:
        query = query.where(table.c[time] >= start)
    if end is not None:
        query = query.where(table.c[time] < end)
    return query
