"""The log-only peer: services ranked by the rise of their error-line share."""

from __future__ import annotations

import pandas as pd

from rca.data import Case, RootCause, Telemetry
from rca.methods import get_method


def _case(logs: pd.DataFrame | None) -> Case:
    frame = pd.DataFrame(
        {"a_cpu": [1.0] * 10, "b_cpu": [1.0] * 10, "c_cpu": [1.0] * 10}, index=pd.Index([60.0 * i for i in range(10)])
    )
    return Case("c", Telemetry.from_frame(frame, logs=logs), inject_time=300.0, root_cause=RootCause("b"))


def _lines(service: str, start: int, end: int, error_every: int = 0) -> list[dict]:
    return [
        {
            "time": float(t),
            "service": service,
            "level": "",
            "message": f"{'ERROR' if error_every and t % error_every == 0 else 'INFO'} x.Y#1 call {t}",
        }
        for t in range(start, end, 2)
    ]


def test_the_service_whose_error_share_rises_comes_first() -> None:
    rows = _lines("a", 0, 600, error_every=10) + _lines("b", 0, 300) + _lines("b", 300, 600, error_every=4)
    rows += _lines("c", 300, 600, error_every=2)  # no lines before: no baseline, no score
    ranking = get_method("log-errors").rank(_case(pd.DataFrame(rows)))
    assert ranking.services()[0][0] == "b"
    first = ranking.candidates[0]
    assert first.evidence["error_share_before"] == 0 and first.evidence["error_share_after"] > 0.4
    assert ranking.candidates[-1].score == 0.0


def test_without_logs_every_service_ties_at_zero() -> None:
    ranking = get_method("log-errors").rank(_case(None))
    assert {c.service for c in ranking.candidates} == {"a", "b", "c"}
    assert {c.score for c in ranking.candidates} == {0.0}
    assert ranking.info["logs"] is False
