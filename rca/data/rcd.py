"""The RCD sock-shop layout (NeurIPS 2022, github azamikram/rcd, ``sock-shop-data/``).

``<service>-<fault>/<run>/{normal,anomalous}.csv``; the label is the folder name. The two files of a
case are not contiguous in time (gaps from -880 s to about three days), so the loader joins them,
normal first, into one contiguous frame: the anomalous rows keep their timestamps and the normal rows
are re-timed to end one step before the first anomalous row. The fault starts at the first anomalous
row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rca.data.case import Case, RootCause, Telemetry
from rca.data.casedir import read_frame_csv
from rca.data.notes import note_skipped
from rca.errors import DataError

NORMAL = "normal.csv"
ANOMALOUS = "anomalous.csv"


def is_rcd_case(directory: Path) -> bool:
    """Whether ``directory`` holds an RCD case."""
    return (directory / NORMAL).is_file() and (directory / ANOMALOUS).is_file()


def read_rcd_case(directory: str | Path, *, name: str | None = None) -> Case:
    """Read one RCD sock-shop case (see the module docstring for how the parts are joined)."""
    directory = Path(directory)
    normal = read_frame_csv(directory / NORMAL)
    anomalous = read_frame_csv(directory / ANOMALOUS)
    if list(normal.columns) != list(anomalous.columns):
        only = sorted(set(normal.columns) ^ set(anomalous.columns))
        raise DataError(
            f"normal.csv and anomalous.csv have different columns ({', '.join(only[:5]) or 'order differs'})",
            path=directory,
            hint="both parts of a case need the same series in the same order",
        )
    if len(anomalous) < 2 or len(normal) < 1:
        raise DataError("a case needs normal rows and at least two anomalous rows", path=directory)
    step = float(np.median(np.diff(anomalous.index.to_numpy())))
    inject_time = float(anomalous.index[0])
    normal.index = pd.Index(inject_time - step * np.arange(len(normal), 0, -1), name="time")
    frame = pd.concat([normal, anomalous])

    others = (p.name for p in directory.iterdir() if p.is_file() and p.name not in {NORMAL, ANOMALOUS})
    note_skipped(directory, others, why="that are not part of an RCD case")
    service, _, fault = directory.parent.name.rpartition("-")
    metric = f"{service}_{fault}"
    label = RootCause(service=service, metric=metric if metric in frame.columns else None, fault=fault)
    return Case(
        name=name or f"{directory.parent.name}/{directory.name}",
        telemetry=Telemetry.from_frame(frame),
        inject_time=inject_time,
        root_cause=label,
        step_seconds=step,
        extra={"source": "rcd", "normal_rows": len(normal), "anomalous_rows": len(anomalous)},
    )
