"""The preprocessing every method gets, identically, before it sees a case."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from rca.data.case import Case, Telemetry


def usable_columns(case: Case, *, min_baseline_points: int = 1) -> list[str]:
    """Columns that carry information about the incident.

    A column is kept when it has at least ``min_baseline_points`` values before the anomaly time, at
    least one from it on, and is not constant over the window.
    """
    frame = case.frame
    before = frame.index.to_numpy() < case.inject_time
    values = frame.to_numpy(dtype=float)
    finite = np.isfinite(values)
    enough_before = finite[before].sum(axis=0) >= min_baseline_points
    any_after = finite[~before].any(axis=0)
    with np.errstate(invalid="ignore"):
        lo = np.nanmin(np.where(finite, values, np.nan), axis=0, initial=np.inf, where=finite)
        hi = np.nanmax(np.where(finite, values, np.nan), axis=0, initial=-np.inf, where=finite)
    varies = hi > lo
    keep = enough_before & any_after & varies
    return [c for c, k in zip(frame.columns, keep, strict=True) if k]


def preprocess(case: Case) -> Case:
    """Drop the columns that :func:`usable_columns` rejects; the rest in one canonical order and layout.

    Missing values stay missing: every method handles NaN itself (filling is a modelling choice).
    Columns are sorted by name: a learnt model initialises its weights column by column, and the
    order a frame happens to have (a file's, or the order series reached the store) must not change
    the answer. The values are copied into one float64 block whose ``to_numpy()`` is column-major, whatever
    built the frame: numpy sums a C- and an F-ordered array in a different order, so the same
    values in another memory layout (a frame pivoted from the store, where a loader's frame was read
    from a file) drift in the last bits, and a learnt model's near-ties flip. Same window, same answer.
    """
    columns = usable_columns(case)
    if case.symptom and case.symptom not in columns:
        columns.append(case.symptom)
    telemetry = case.telemetry.with_columns(sorted(columns))
    frame = telemetry.frame
    canonical = pd.DataFrame(
        np.asfortranarray(frame.to_numpy(dtype=float)), index=frame.index.copy(), columns=frame.columns.copy()
    )
    return case.with_telemetry(replace(telemetry, frame=canonical))


def clean_history(history: Telemetry, *, min_points: int = 3) -> Telemetry:
    """Normal history for fitting: drop series with fewer than ``min_points`` values or none that differ."""
    frame = history.frame
    counts = frame.notna().sum()
    varies = frame.max() > frame.min()
    keep = [c for c in frame.columns if counts[c] >= min_points and bool(varies[c])]
    return history.with_columns(keep)
