"""Units sent with the telemetry (OTLP metric units kept by the store) reach the evidence numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.data.case import Case, Telemetry
from rca.explain.evidence import CaseEvidence


def test_evidence_takes_units_from_the_telemetry_before_the_names() -> None:
    index = pd.Index(np.arange(40, dtype=float), name="time")
    values = np.r_[np.full(30, 100.0), np.full(10, 900.0)]
    frame = pd.DataFrame({"carts_heap": values, "carts_cpu": values / 10, "carts_wait": values}, index=index)
    units = {"carts_heap": "By", "carts_cpu": "1"}  # UCUM, as OTLP sends them; carts_wait came without one
    case = Case("units", Telemetry.from_frame(frame, units=units), inject_time=30.0)
    numbers = CaseEvidence.build(case).numbers
    assert numbers["carts_heap"].unit == "bytes" and numbers["carts_cpu"].unit == "ratio"
    assert numbers["carts_wait"].unit is None
    overridden = CaseEvidence.build(case, units={"carts_cpu": "%"}).numbers
    assert overridden["carts_cpu"].unit == "%"
