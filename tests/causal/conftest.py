"""Synthetic systems with known causal structure for the RUN tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rca.data.case import Case, RootCause, Telemetry

VAR_EDGES = {(0, 1), (1, 2), (0, 3), (4, 5)}
"""Cause -> effect pairs of :func:`var_frame`."""


def var_series(edges: set[tuple[int, int]], n: int, rows: int, seed: int, *, own: float, cross: float) -> np.ndarray:
    """``rows`` steps of a VAR(1) over ``n`` series: each its own lag times ``own``, each cause -> effect edge
    ``cross``, unit Gaussian noise."""
    rng = np.random.default_rng(seed)
    coef = np.diag(np.full(n, own))
    for cause, effect in edges:
        coef[effect, cause] = cross
    x = np.zeros((rows, n))
    for t in range(1, rows):
        x[t] = coef @ x[t - 1] + rng.normal(size=n)
    return x


def var_frame(rows: int = 500, seed: int = 0) -> pd.DataFrame:
    """A sparse VAR(1) over six series with the edges of :data:`VAR_EDGES`."""
    x = var_series(VAR_EDGES, 6, rows, seed, own=0.3, cross=0.8)
    return pd.DataFrame(x, columns=[f"s{i}_m" for i in range(6)], index=np.arange(rows, dtype=float))


def chain_case(rows: int = 300, fault_at: int = 240, seed: int = 1) -> Case:
    """A chain a -> b -> c -> d; from ``fault_at`` on, ``a`` shifts up by 6 sigma and the shift propagates."""
    rng = np.random.default_rng(seed)
    x = np.zeros((rows, 4))
    for t in range(1, rows):
        shock = rng.normal(size=4)
        shift = 6.0 if t >= fault_at else 0.0
        x[t, 0] = 0.2 * x[t - 1, 0] + shock[0] + shift
        for k in range(1, 4):
            x[t, k] = 0.2 * x[t - 1, k] + 0.7 * x[t - 1, k - 1] + 0.6 * shock[k]
    frame = pd.DataFrame(x, columns=["a_m", "b_m", "c_m", "d_m"], index=np.arange(rows, dtype=float))
    return Case(
        name="chain",
        telemetry=Telemetry.from_frame(frame),
        inject_time=float(fault_at),
        root_cause=RootCause("a", "a_m"),
        step_seconds=1.0,
    )


@pytest.fixture(scope="session")
def var_data() -> pd.DataFrame:
    return var_frame()


@pytest.fixture(scope="session")
def chain() -> Case:
    return chain_case()
