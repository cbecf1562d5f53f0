"""A synthetic log stream for the detector's log signal: two services' normal churn and a log-only fault."""

from __future__ import annotations

import numpy as np
import pandas as pd

T0 = 1_800_000.0  # a multiple of 60: minute buckets start on it
FAULT = T0 + 90 * 60.0
LINES = {
    "api": [("INFO a.Ctl#10 got order {i}", 120.0), ("INFO a.Ctl#12 sent order {i}", 120.0)],
    "orders": [("INFO o.Svc#5 find {i}", 40.0), ("INFO o.Svc#9 found {i}", 40.0), ("WARN o.Svc#11 slow {i}", 4.0)],
}


def stream_logs(rng: np.random.Generator, minutes: int, fault_minutes: int = 0) -> pd.DataFrame:
    """Per minute, each line a Poisson number of times (normal churn); from FAULT, ``orders`` writes a new error."""
    rows = []
    for minute in range(minutes):
        start = T0 + 60.0 * minute
        lines = [(s, line, rate) for s, ls in LINES.items() for line, rate in ls]
        if FAULT <= start < FAULT + 60.0 * fault_minutes:
            lines.append(("orders", "ERROR o.Svc#7 no such order {i}", 40.0))
        for service, line, rate in lines:
            for i, t in enumerate(np.sort(rng.uniform(start, start + 60.0, rng.poisson(rate)))):
                rows.append({"time": t, "service": service, "level": "", "message": line.format(i=i)})
    return pd.DataFrame(rows).sort_values("time", kind="stable").reset_index(drop=True)


def flat_metrics(minutes: int, rng: np.random.Generator) -> pd.DataFrame:
    """Flat metrics (noise only) on the minute grid, each row the minute that ends at its time."""
    index = T0 + 60.0 * np.arange(1, minutes + 1)
    return pd.DataFrame({"api_latency": rng.normal(100.0, 5.0, minutes)}, index=index)
