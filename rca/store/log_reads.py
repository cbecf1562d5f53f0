"""The read side of the log tables: counts and kept lines of a window, and the window's logs in the case format."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from rca.data.logs import COUNT_COLUMNS
from rca.store.schema import log_counts, log_samples, log_templates, log_times

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
        frame = self._buckets(start, end)
        step = float(step_seconds or self.bucket_seconds)
        if step != self.bucket_seconds and not frame.empty:
            frame["bucket"] = (frame["bucket"] // step) * step
            frame = frame.groupby(list(COUNT_COLUMNS[:4]), as_index=False, sort=False).agg(count=("count", "sum"))
        return frame.sort_values(list(COUNT_COLUMNS[:4])).reset_index(drop=True)

    def _buckets(self, start: float | None, end: float | None, *extra: str) -> pd.DataFrame:
        """Stored buckets starting in ``[start, end)``: the count columns plus the ``extra`` columns of
        ``log_counts`` asked (``template_id``, ``first_ts``, ``last_ts``)."""
        query = _per_template(log_counts, "bucket", start, end, "bucket", "count", *extra)
        with self.store.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=[*COUNT_COLUMNS, *extra])
        frame["count"] = frame["count"].astype("int64")
        for column in ("bucket", "first_ts", "last_ts"):
            if column in frame:
                frame[column] = frame[column].astype("float64")
        return frame

    def _times(self, start: float | None, end: float | None) -> pd.DataFrame:
        """The stored record times of the buckets starting in ``[start, end)``: one row per write of a stream
        (``template_id``) and bucket, ``times`` its records' (:func:`rca.store.logs.format_times`), comma-separated."""
        t = log_times
        query = _within(sa.select(t.c.template_id, t.c.bucket, t.c.times), t.c.bucket, start, end)
        with self.store.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=["template_id", "bucket", "times"])
        return frame.astype({"bucket": "float64"})

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
        and span ids; the other records are rows at their own time (``log_times``, to the
        microsecond) carrying the text of a kept line of the same stream (the latest up to that
        bucket's end, else the first after) and no ids. So wherever a consumer splits the window (an
        anomaly time, a baseline's guard or periods), each side holds the records the offline case
        holds there. Records counted before schema 4 have no stored time; they are spread evenly from
        their bucket's first record to its last. A stream without a kept line near the window carries
        its template key as text.

        Returns
        -------
        pandas.DataFrame or None
            Columns ``time, service, level, message, trace_id, span_id`` sorted by time; ``None`` when
            no log was counted in the window.
        """
        with self.store.engine.connect() as conn:  # no log stored at all (a store of metrics and spans): skip cheaply
            if conn.execute(sa.select(log_counts.c.bucket).limit(1)).first() is None:
                return None
        counts = self._buckets(start, end, "template_id", "first_ts", "last_ts")
        if counts.empty:
            return None
        width = self.bucket_seconds
        stream = ["service", "template_key", "level"]
        near = self.read_samples(None if start is None else start - 3600.0, None if end is None else end + 3600.0)
        near = near.astype({c: counts[c].dtype for c in stream})  # also when no line is kept (an empty frame)
        counts["row"] = np.arange(len(counts))
        times = self._times(start, end).merge(counts[["template_id", "bucket", "row"]], on=["template_id", "bucket"])
        bucket = counts["bucket"].to_numpy(dtype=float)
        # Kept lines inside a counted bucket stand for themselves, in place of the stored time they have.
        near["bucket"] = (near["time"] // width) * width
        own = near.merge(counts[[*stream, "bucket", "row"]], on=[*stream, "bucket"], how="inner")
        timed, untimed = _stored_times(counts, times)
        kept = pd.DataFrame({"row": own["row"], "us": np.rint((own["time"] - bucket[own["row"]]) * 1e6)})
        timed, elsewhere = _take(timed, kept.astype({"us": "int64"}))
        untimed = np.maximum(untimed - np.bincount(elsewhere, minlength=len(counts)), 0)
        # The others carry the text of the latest kept line of their stream by the bucket's end.
        texts = near.assign(at=near["time"] - width).sort_values("at", kind="stable")[[*stream, "at", "message"]]
        rows = counts.assign(at=counts["bucket"]).sort_values("at", kind="stable")
        matched = pd.merge_asof(rows, texts, on="at", by=stream, direction="backward")
        later = pd.merge_asof(rows, texts, on="at", by=stream, direction="forward")["message"]
        message = np.empty(len(counts), dtype=object)
        message[matched["row"].to_numpy()] = matched["message"].fillna(later).fillna(matched["template_key"]).to_numpy()
        # Records without a stored time spread evenly from their bucket's first record to its last.
        first = counts["first_ts"].fillna(counts["bucket"]).to_numpy(dtype=float)
        last = counts["last_ts"].fillna(counts["bucket"] + width * (1 - 1e-9)).to_numpy(dtype=float)
        nth = np.arange(int(untimed.sum())) - np.repeat(np.cumsum(untimed) - untimed, untimed)
        fraction = nth / np.maximum(np.repeat(untimed, untimed) - 1, 1)
        row = np.r_[timed["row"].to_numpy(dtype=np.int64), np.repeat(np.arange(len(counts)), untimed)]
        time = np.r_[
            bucket[timed["row"].to_numpy()] + timed["us"].to_numpy() / 1e6,
            np.repeat(first, untimed) + fraction * np.repeat(last - first, untimed),
        ]
        copies = pd.DataFrame(
            {
                "time": time,
                "service": counts["service"].to_numpy()[row],
                "level": counts["level"].to_numpy()[row],
                "message": message[row],
                "trace_id": "",
                "span_id": "",
            }
        )
        columns = ["time", "service", "level", "message", "trace_id", "span_id"]
        logs = pd.concat([own[columns], copies], ignore_index=True)
        return logs.sort_values("time", kind="stable").reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        """Row counts: ``log_templates``, ``log_counts``, ``log_times``, ``log_samples`` and the records counted."""
        with self.store.engine.connect() as conn:
            out = {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (log_templates, log_counts, log_times, log_samples)
            }
            total = sa.select(sa.func.coalesce(sa.func.sum(log_counts.c.count), 0))
            out["records"] = int(conn.execute(total).scalar_one())
        return out


def _stored_times(counts: pd.DataFrame, times: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The stored record times (``times``: per write, the ``row`` of ``counts`` it counted into and its
    ``times`` text, :func:`rca.store.logs.format_times`) as ``row, us`` (microseconds after the bucket's
    start), and per row of ``counts`` the records without a stored time (counted before schema 4)."""
    texts = times["times"].to_numpy(dtype=object)
    sizes = np.fromiter((t.count(",") + 1 for t in texts), dtype=np.int64, count=len(texts))
    rows = np.repeat(times["row"].to_numpy(dtype=np.int64), sizes)
    us = np.array(",".join(texts).split(","), dtype=np.int64) if len(texts) else np.zeros(0, dtype=np.int64)
    per_row = np.bincount(rows, minlength=len(counts))
    return pd.DataFrame({"row": rows, "us": us}), np.maximum(counts["count"].to_numpy(dtype=np.int64) - per_row, 0)


def _take(timed: pd.DataFrame, kept: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``timed`` less one stored time per kept line (``row, us``), and the rows of kept lines whose time
    is not stored (their row's records without a time give one up)."""
    if kept.empty:
        return timed, np.zeros(0, dtype=np.int64)
    nth = ["row", "us", "nth"]
    timed = timed.assign(nth=timed.groupby(["row", "us"]).cumcount())
    kept = kept.assign(nth=kept.groupby(["row", "us"]).cumcount())
    joined = timed.merge(kept.assign(kept=True), on=nth, how="left")
    found = kept.merge(timed[nth].assign(found=True), on=nth, how="left")
    rest = joined.loc[joined["kept"].isna(), ["row", "us"]].reset_index(drop=True)
    return rest, found.loc[found["found"].isna(), "row"].to_numpy(dtype=np.int64)


def _per_template(table: sa.Table, time: str, start: float | None, end: float | None, *columns: str) -> sa.Select[Any]:
    """``service, template_key, level, *columns`` of ``table`` joined to its template, ``start <= time < end``.

    Columns are named by their names in ``table``; ``None`` leaves that side of the window open.
    """
    tpl = log_templates
    query = sa.select(tpl.c.service, tpl.c.template_key, tpl.c.level, *(table.c[c] for c in columns)).join(
        tpl, tpl.c.id == table.c.template_id
    )
    return _within(query, table.c[time], start, end)


def _within(
    query: sa.Select[Any], time: sa.ColumnElement[Any], start: float | None, end: float | None
) -> sa.Select[Any]:
    """``query`` where ``start <= time < end``; ``None`` leaves that side open."""
    if start is not None:
        query = query.where(time >= start)
    if end is not None:
        query = query.where(time < end)
    return query
