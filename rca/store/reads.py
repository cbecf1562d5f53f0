"""Reads of the stored telemetry: series as frames, spans, trace-derived series, the call graph, inventories.

A mixin of :class:`rca.store.store.Store` (which gives it ``engine`` and ``span_step_seconds``); kept
apart from the writes so each module holds one concern.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rca.data.case import Telemetry
from rca.data.spans import SPAN_UNITS, call_graph, join_span_series, span_series
from rca.store import schema
from rca.store.logs import newest_log_bucket


class TelemetryReads:
    """The read side of the store."""

    engine: Engine
    span_step_seconds: float

    def read_points(
        self, start: float | None = None, end: float | None = None
    ) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
        """Stored metric points with ``start <= ts < end`` as a wide frame, and its series mapping."""
        s, p = schema.series, schema.points
        query = sa.select(s.c.id, s.c.name, s.c.service, s.c.metric, p.c.ts, p.c.value).join(p, p.c.series_id == s.c.id)
        if start is not None:
            query = query.where(p.c.ts >= start)
        if end is not None:
            query = query.where(p.c.ts < end)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return pd.DataFrame(index=pd.Index([], name="time", dtype=float)), {}
        long = pd.DataFrame(rows, columns=["id", "name", "service", "metric", "ts", "value"])
        order = long.drop_duplicates("id").sort_values("id")
        mapping = {
            str(n): (str(sv), str(m)) for n, sv, m in order[["name", "service", "metric"]].itertuples(index=False)
        }
        wide = long.pivot(index="ts", columns="name", values="value").sort_index()
        wide = wide[list(mapping)].astype("float64")
        wide.index = pd.Index(wide.index.to_numpy(dtype=float), name="time")
        wide.columns.name = None
        return wide, mapping

    def history_start(self, points_per_series: int) -> float | None:
        """The earliest time :meth:`read_points` must start at to read the newest ``points_per_series`` points
        of every series (all of a series that has fewer); ``None`` when no point is stored.

        One indexed lookup per series (the primary key is ``(series_id, ts)``), no scan of the points.
        """
        s, p = schema.series, schema.points

        def per_series(query: sa.Select[Any]) -> sa.ScalarSelect[Any]:
            return query.where(p.c.series_id == s.c.id).limit(1).correlate(s).scalar_subquery()

        nth_newest = per_series(sa.select(p.c.ts).order_by(p.c.ts.desc()).offset(max(points_per_series, 1) - 1))
        oldest = per_series(sa.select(p.c.ts).order_by(p.c.ts))
        with self.engine.connect() as conn:
            query = sa.select(sa.func.min(sa.func.coalesce(nth_newest, oldest))).select_from(s)
            value = conn.execute(query).scalar_one()
        return None if value is None else float(value)

    def read_spans(self, start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """Stored spans that start in ``[start, end)`` (Unix seconds), in the loaders' spans format.

        ``status_code`` is a column only when some span in the window carried a status.
        """
        t = schema.spans
        query = sa.select(
            t.c.trace_id,
            t.c.span_id,
            t.c.parent_span_id,
            t.c.service,
            t.c.operation,
            t.c.start_ns,
            t.c.end_ns,
            t.c.status_code,
        )
        if start is not None:
            query = query.where(t.c.start_ns >= math.floor(start * 1e9))
        if end is not None:
            query = query.where(t.c.start_ns < math.floor(end * 1e9))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.c.start_ns, t.c.trace_id, t.c.span_id)).all()
        columns = ["trace_id", "span_id", "parent_span_id", "service", "operation", "start_ns", "end_ns", "status_code"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["start_ns"] = frame["start_ns"].astype("int64")
        frame["end_ns"] = frame["end_ns"].astype("int64")
        status = pd.to_numeric(frame["status_code"], errors="coerce")
        if status.notna().any():
            frame["status_code"] = status.fillna(0).astype("int64")
        else:
            frame = frame.drop(columns="status_code")
        return frame

    def read_telemetry(
        self,
        start: float | None = None,
        end: float | None = None,
        *,
        step_seconds: float | None = None,
        with_spans: bool = True,
    ) -> Telemetry:
        """The stored telemetry of the window ``start <= time < end`` (either side may be open).

        Metric points become one column per series, with the units they were sent with
        (``Telemetry.units``). Spans whose bucket ends in the window become
        per-service request rate, error rate and latency percentiles with
        :func:`rca.data.spans.span_series` (bucket width ``step_seconds``, default the store's
        ``span_step_seconds``); a trace-derived column replaces a metric column of the same name.

        Parameters
        ----------
        start, end
            Unix seconds; ``None`` leaves that side open.
        step_seconds
            Bucket width for the trace-derived series.
        with_spans
            Attach the raw spans as ``Telemetry.traces`` (they are used for the series either way).
        """
        step = float(step_seconds or self.span_step_seconds)
        frame, mapping = self.read_points(start, end)
        units = self.series_units()
        spans = self.read_spans(None if start is None else start - step, None if end is None else end)
        traces = None
        if not spans.empty:
            trace_frame, trace_series = span_series(spans, step)
            keep = np.ones(len(trace_frame), dtype=bool)
            if start is not None:
                keep &= trace_frame.index.to_numpy() >= start
            if end is not None:
                keep &= trace_frame.index.to_numpy() < end
            trace_frame = trace_frame.loc[keep]
            frame = join_span_series(frame, trace_frame)
            mapping = {**{c: mapping[c] for c in frame.columns if c in mapping}, **trace_series}
            units.update({c: SPAN_UNITS[metric] for c, (_, metric) in trace_series.items()})
            if with_spans:
                sec = spans["start_ns"].to_numpy() / 1e9
                bucket = (np.floor(sec / step) + 1.0) * step
                in_window = np.ones(len(spans), dtype=bool)
                if start is not None:
                    in_window &= bucket >= start
                if end is not None:
                    in_window &= bucket < end
                traces = spans.loc[in_window].reset_index(drop=True)
        return Telemetry.from_frame(
            frame,
            {c: mapping[c] for c in frame.columns},
            traces,
            units={c: units[c] for c in frame.columns if c in units},
        )

    def call_graph(self, start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """Observed caller -> callee edges with counts among spans starting in ``[start, end)``.

        Computed with :func:`rca.data.spans.call_graph`; columns ``source``, ``target``, ``count``.
        """
        return call_graph(self.read_spans(start, end))

    def edges(
        self, start: float | None = None, end: float | None = None, *, step_seconds: float | None = None
    ) -> pd.DataFrame:
        """Caller -> callee edge counts per time bucket (keyed by bucket end, as the series are).

        Returns a frame with columns ``time``, ``source``, ``target``, ``count``. A call falls into the
        bucket of the callee span's start.
        """
        step = float(step_seconds or self.span_step_seconds)
        spans = self.read_spans(start, end)
        if spans.empty:
            return pd.DataFrame({"time": [], "source": [], "target": [], "count": []})
        # Parents are looked up across the whole window; each call counts in its callee span's bucket.
        # Summed over buckets this equals :meth:`call_graph` (the same parent join and definition).
        bucket = (np.floor(spans["start_ns"].to_numpy() / 1e9 / step) + 1.0) * step
        return self._edges_by_bucket(spans, bucket)

    @staticmethod
    def _edges_by_bucket(spans: pd.DataFrame, bucket: np.ndarray) -> pd.DataFrame:
        parents = spans[["trace_id", "span_id", "service"]].rename(
            columns={"span_id": "parent_span_id", "service": "source"}
        )
        parents = parents.drop_duplicates(["trace_id", "parent_span_id"])
        joined = spans.assign(time=bucket).merge(parents, on=["trace_id", "parent_span_id"], how="inner")
        calls = joined.loc[joined["source"] != joined["service"]]
        out = calls.groupby(["time", "source", "service"]).size().rename("count").reset_index()
        out = out.rename(columns={"service": "target"})
        out["count"] = out["count"].astype("int64")
        return out.sort_values(["time", "source", "target"]).reset_index(drop=True)

    def list_series(self) -> pd.DataFrame:
        """Known series: ``name``, ``service``, ``metric``, ``unit`` (``""``: none), ``first_seen``, ``last_seen``."""
        s = schema.series
        columns = ["name", "service", "metric", "unit", "first_seen", "last_seen"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*(s.c[c] for c in columns)).order_by(s.c.id)).all()
        return pd.DataFrame(rows, columns=columns)

    def series_units(self) -> dict[str, str]:
        """``series name -> unit`` of the stored series that came with a unit."""
        s = schema.series
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(s.c.name, s.c.unit).where(s.c.unit != "")).all())

    def services(self) -> list[dict[str, Any]]:
        """Services known from metrics or spans: name, series count, last-seen time (Unix seconds), units.

        ``units`` maps each metric of the service that came with a unit to it (``{"cpu": "%"}``).
        """
        s, t = schema.series, schema.spans
        with self.engine.connect() as conn:
            from_series = conn.execute(
                sa.select(s.c.service, sa.func.count(), sa.func.max(s.c.last_seen)).group_by(s.c.service)
            ).all()
            with_units = conn.execute(sa.select(s.c.service, s.c.metric, s.c.unit).where(s.c.unit != "")).all()
            from_spans = conn.execute(sa.select(t.c.service, sa.func.max(t.c.end_ns)).group_by(t.c.service)).all()
        out: dict[str, dict[str, Any]] = {}
        for service, count, last in from_series:
            out[service] = {"service": service, "series": int(count), "last_seen": last, "units": {}}
        for service, metric, unit in with_units:
            out[service]["units"][metric] = unit
        for service, last_ns in from_spans:
            entry = out.setdefault(service, {"service": service, "series": 0, "last_seen": None, "units": {}})
            last = None if last_ns is None else last_ns / 1e9
            if last is not None and (entry["last_seen"] is None or last > entry["last_seen"]):
                entry["last_seen"] = last
        return [out[k] for k in sorted(out)]

    def counts(self) -> dict[str, int]:
        """Row counts: ``series``, ``points``, ``spans``."""
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                for name, table in (("series", schema.series), ("points", schema.points), ("spans", schema.spans))
            }

    def newest(self) -> float | None:
        """The newest point, span start or log bucket stored (Unix seconds), or ``None`` when empty."""
        with self.engine.connect() as conn:
            ts = conn.execute(sa.select(sa.func.max(schema.points.c.ts))).scalar_one()
            ns = conn.execute(sa.select(sa.func.max(schema.spans.c.start_ns))).scalar_one()
            log_bucket = newest_log_bucket(conn)
        candidates = [float(ts)] if ts is not None else []
        if ns is not None:
            candidates.append(ns / 1e9)
        if log_bucket is not None:
            candidates.append(log_bucket)
        return max(candidates) if candidates else None
