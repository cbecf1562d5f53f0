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
        frame = self._buckets(start, end)
        step = float(step_seconds or self.bucket_seconds)
        if step != self.bucket_seconds and not frame.empty:
            frame["bucket"] = (frame["bucket"] // step) * step
            frame = frame.groupby(list(COUNT_COLUMNS[:4]), as_index=False, sort=False).agg(count=("count", "sum"))
        return frame.sort_values(list(COUNT_COLUMNS[:4])).reset_index(drop=True)

    def _buckets(self, start: float | None, end: float | None, *timing: str) -> pd.DataFrame:
        """Stored buckets starting in ``[start, end)``: the count columns plus the ``timing`` columns asked
        (``first_ts``, ``last_ts``, ``seconds``)."""
        query = _per_template(log_counts, "bucket", start, end, "bucket", "count", *timing)
        with self.store.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=[*COUNT_COLUMNS, *timing])
        frame["count"] = frame["count"].astype("int64")
        for column in ("bucket", "first_ts", "last_ts"):
            if column in frame:
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
        and span ids; the other records of a bucket are rows in the whole Unix second they were written
        in (``log_counts.seconds``), spread evenly over the part of that second between the bucket's
        first and last record, carrying the text of a kept line of the same stream (the latest up to
        that bucket's end, else the first after) and no ids. So a consumer that splits the window at
        a whole second (an anomaly time) finds on each side exactly the records that were written
        there. Records of rows stored without their seconds (before schema 4) spread from the
        bucket's first record to its last. A stream without a kept line near the window carries its
        template key as text.

        Returns
        -------
        pandas.DataFrame or None
            Columns ``time, service, level, message, trace_id, span_id`` sorted by time; ``None`` when
            no log was counted in the window.
        """
        with self.store.engine.connect() as conn:  # no log stored at all (a store of metrics and spans): skip cheaply
            if conn.execute(sa.select(log_counts.c.bucket).limit(1)).first() is None:
                return None
        counts = self._buckets(start, end, "first_ts", "last_ts", "seconds")
        if counts.empty:
            return None
        width = self.bucket_seconds
        near = self.read_samples(None if start is None else start - 3600.0, None if end is None else end + 3600.0)
        stream = ["service", "template_key", "level"]
        near = near.astype({c: counts[c].dtype for c in stream})  # also when no line is kept (an empty frame)
        counts["row"] = np.arange(len(counts))
        # Kept lines inside a counted bucket stand for themselves: they leave their second's records.
        near["bucket"] = (near["time"] // width) * width
        own = near.merge(counts[[*stream, "bucket", "row"]], on=[*stream, "bucket"], how="inner")
        shown = own.assign(second=np.floor(own["time"])).groupby(["row", "second"], as_index=False).size()
        shown = shown.rename(columns={"size": "shown"})
        rest = _take(_pieces(counts), shown)
        # The others carry the text of the latest kept line of their stream by the bucket's end.
        texts = near.assign(at=near["time"] - width).sort_values("at", kind="stable")[[*stream, "at", "message"]]
        rows = counts.assign(at=counts["bucket"]).sort_values("at", kind="stable")
        matched = pd.merge_asof(rows, texts, on="at", by=stream, direction="backward")
        later = pd.merge_asof(rows, texts, on="at", by=stream, direction="forward")["message"]
        message = matched["message"].fillna(later).fillna(matched["template_key"])
        message.index = matched["row"].to_numpy()
        # Each piece's records spread evenly over its second (the whole bucket for rows without seconds),
        # within the bucket's first and last record.
        row = counts.iloc[rest["row"].to_numpy()]
        bucket = row["bucket"].to_numpy()
        first = row["first_ts"].fillna(row["bucket"]).to_numpy(dtype=float)
        last = row["last_ts"].fillna(row["bucket"] + width * (1 - 1e-9)).to_numpy(dtype=float)
        second = rest["second"].to_numpy(dtype=float)
        whole = np.isnan(second)
        low = np.where(whole, first, np.maximum(first, second))
        end_of_second = np.nextafter(np.minimum(second + 1.0, bucket + width), -np.inf)
        high = np.where(whole, last, np.minimum(last, end_of_second))
        repeat = rest["count"].to_numpy(dtype="int64")
        nth = np.arange(int(repeat.sum())) - np.repeat(np.cumsum(repeat) - repeat, repeat)
        fraction = nth / np.maximum(np.repeat(repeat, repeat) - 1, 1)
        copies = pd.DataFrame(
            {
                "time": np.repeat(low, repeat) + fraction * np.repeat(high - low, repeat),
                "service": np.repeat(row["service"].to_numpy(), repeat),
                "level": np.repeat(row["level"].to_numpy(), repeat),
                "message": np.repeat(message.loc[rest["row"].to_numpy()].to_numpy(), repeat),
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


def _pieces(counts: pd.DataFrame) -> pd.DataFrame:
    """The records of each stored bucket (``counts``' position ``row``) per whole Unix ``second``.

    From ``log_counts.seconds`` (:func:`rca.store.logs.format_seconds` pieces, repeated offsets summed);
    what a row's pieces do not account for (all of a row stored before schema 4) is one piece with
    ``second`` NaN.
    """
    rows, offsets, numbers = [], [], []
    for row, text in enumerate(counts["seconds"].tolist()):
        if not isinstance(text, str):  # NULL: stored before schema 4
            continue
        for piece in text.split(","):
            offset, _, number = piece.partition(":")
            rows.append(row)
            offsets.append(int(offset))
            numbers.append(int(number) if number else 1)
    base = np.floor(counts["bucket"].to_numpy(dtype=float))
    parsed = pd.DataFrame({"row": rows, "second": base[rows] + np.array(offsets, dtype=float), "count": numbers})
    located = parsed.groupby(["row", "second"], sort=True)["count"].sum().reset_index()
    left = counts["count"].to_numpy() - np.bincount(located["row"], weights=located["count"], minlength=len(counts))
    unlocated = pd.DataFrame({"row": np.flatnonzero(left > 0), "second": np.nan, "count": left[left > 0]})
    pieces = pd.concat([located, unlocated], ignore_index=True) if len(unlocated) else located
    return pieces.astype({"row": "int64", "count": "int64"})


def _take(pieces: pd.DataFrame, shown: pd.DataFrame) -> pd.DataFrame:
    """``pieces`` less the kept lines ``shown`` (``row, second, shown``): from their second's piece, else
    from their row's piece without a second; pieces left empty are dropped."""
    pieces = pieces.merge(shown, on=["row", "second"], how="left", indicator=True)
    pieces["count"] -= pieces["shown"].fillna(0).astype("int64")
    located = pieces.loc[pieces["_merge"] == "both", ["row", "second"]].assign(located=True)
    unmatched = shown.merge(located, on=["row", "second"], how="left")
    elsewhere = unmatched.loc[unmatched["located"].isna()].groupby("row")["shown"].sum()
    whole = pieces["second"].isna().to_numpy()
    pieces.loc[whole, "count"] -= pieces.loc[whole, "row"].map(elsewhere).fillna(0).astype("int64")
    return pieces.loc[pieces["count"] > 0, ["row", "second", "count"]].reset_index(drop=True)


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
