"""The inline case of the HTTP API: a JSON object turned into a :class:`~rca.data.case.Case`.

Shape (contract, ``POST /v1/analyses``)::

    {"time": [unix seconds, ...],
     "series": {"<service>_<metric>": [values, ...], ...},
     "inject_time": 1652812675,
     "traces": [{"trace_id", "span_id", "parent_span_id", "service", "operation", "start_ns", "end_ns",
                 "status_code"?}, ...],          (optional)
     "graph": [["caller", "callee"], ...],         (optional)
     "root_cause": {"service": ..., "metric"?: ..., "fault"?: ...},   (optional)
     "symptom": "<column>"}                        (optional)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rca.data.case import SPAN_COLUMNS, Case, RootCause, Telemetry, validate_frame
from rca.data.casedir import check_inject_time
from rca.data.spans import check_spans
from rca.errors import DataError


def case_from_payload(
    time: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    inject_time: float,
    *,
    traces: Sequence[Mapping[str, Any]] | None = None,
    graph: Sequence[Sequence[str]] | None = None,
    root_cause: Mapping[str, Any] | None = None,
    symptom: str | None = None,
    name: str = "inline",
) -> Case:
    """Build a case from the API's inline JSON (``None`` values are missing points).

    Raises
    ------
    DataError
        Naming the field (``case.series.<name>``, ``case.time``, ...) and what to fix.
    """
    where = "case"
    if not series:
        raise DataError("has no series", where=f"{where}.series", hint='send {"<service>_<metric>": [values...]}')
    for column, values in series.items():
        if len(values) != len(time):
            raise DataError(
                f"has {len(values)} values but case.time has {len(time)}",
                where=f"{where}.series.{column}",
                hint="send one value per timestamp (null for a missing one)",
            )
    try:
        matrix = np.array(list(series.values()), dtype=float)  # None becomes NaN
    except (TypeError, ValueError):
        column = next(c for c, v in series.items() if not all(x is None or isinstance(x, int | float) for x in v))
        raise DataError(
            "holds a value that is not a number", where=f"{where}.series.{column}", hint="send numbers or null"
        ) from None
    frame = pd.DataFrame(matrix.T, index=pd.Index(np.asarray(time, dtype=float)), columns=list(series))
    frame = validate_frame(frame, path=f"{where}.time")
    check_inject_time(frame, float(inject_time), path=f"{where}.inject_time")
    spans = None
    if traces:
        table = pd.DataFrame(list(traces))
        spans = check_spans(table.reindex(columns=[*SPAN_COLUMNS, *(["status_code"] * ("status_code" in table))]))
        spans["parent_span_id"] = spans["parent_span_id"].replace({"None": "", "nan": ""})
    if symptom is not None and symptom not in frame.columns:
        raise DataError(f"{symptom!r} is not a series", where=f"{where}.symptom", hint="name one of case.series")
    label = None
    if root_cause:
        if "service" not in root_cause:
            raise DataError("lacks service", where=f"{where}.root_cause", hint='send {"service": "<name>"}')
        label = RootCause(str(root_cause["service"]), root_cause.get("metric"), root_cause.get("fault"))
    edges = [(str(edge[0]), str(edge[1])) for edge in graph] if graph else None
    steps = np.diff(frame.index.to_numpy())
    return Case(
        name=name,
        telemetry=Telemetry.from_frame(frame, traces=spans, graph=edges),
        inject_time=float(inject_time),
        root_cause=label,
        symptom=symptom,
        step_seconds=float(np.median(steps)) if len(steps) else None,
    )
