"""RUN with logs: the log change is a cause signal, its evidence the changed templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rca.data.case import Case, Telemetry
from rca.eval.metrics import service_rank
from rca.explain import TemplateExplainer
from rca.methods.run import RUN

QUICK = {"min_fit_rows": 10**6}  # no neural training: these tests are about the log signal
T0 = 60.0 * 40


def _frame(cpu_fault: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    index = np.arange(0.0, T0 + 6 * 60, 60.0)
    frame = pd.DataFrame({f"{s}_cpu": rng.normal(10.0, 1.0, len(index)) for s in ("web", "orders", "db")}, index=index)
    if cpu_fault:
        frame.loc[frame.index > T0, f"{cpu_fault}_cpu"] += 40.0
    return frame


def _logs(fault: str | None, services: tuple[str, ...] = ("web", "orders")) -> pd.DataFrame:
    """Steady logs of ``services`` (two lines per request); after T0 ``fault`` logs an ERROR instead of its 2nd line."""
    rows = []
    for t in np.arange(T0 - 300, T0 + 300, 1.0):
        for service in services:
            rows.append({"time": t, "service": service, "level": "", "message": f"INFO {service}.Api#10 got {int(t)}"})
            broken = service == fault and t >= T0
            line = f"ERROR {service}.Api#14 failed {int(t)}" if broken else f"INFO {service}.Api#12 done {int(t)}"
            rows.append({"time": t + 0.5, "service": service, "level": "", "message": line})
    return pd.DataFrame(rows)


def _case(logs: pd.DataFrame | None, cpu_fault: str | None = None) -> Case:
    return Case("c", Telemetry.from_frame(_frame(cpu_fault), logs=logs), inject_time=T0)


def test_a_code_fault_seen_only_in_the_logs_is_named_with_its_templates() -> None:
    case = _case(_logs("orders"))
    ranking = RUN(**QUICK).fit(case.normal()).rank(case)
    assert service_rank(ranking, "orders") == 1
    assert service_rank(RUN(**QUICK, logs="off").fit(case.normal()).rank(case), "orders") != 1
    evidence = next(c for c in ranking.candidates if c.metric == "orders_log_change").evidence["log_change"]
    new = next(t for t in evidence["templates"] if t["level"] == "ERROR")
    assert new["template"] == "orders.Api#14 failed <*>" and new["before_per_minute"] == 0
    assert new["after_per_minute"] > 50 and "failed" in new["example"]
    explanation = TemplateExplainer().explain(case, ranking)
    assert explanation.root_cause is not None
    assert "started logging ERROR \u201corders.Api#14 failed <*>\u201d" in explanation.root_cause.text


def test_a_service_without_logs_is_neither_helped_nor_hurt() -> None:
    # db has no logs; its CPU fault is named first whether the others' (steady) logs are read or not
    case = _case(_logs(None), cpu_fault="db")
    with_logs = RUN(**QUICK).fit(case.normal()).rank(case)
    without = RUN(**QUICK, logs="off").fit(case.normal()).rank(case)
    assert service_rank(with_logs, "db") == service_rank(without, "db") == 1
    assert not any(c.metric == "db_log_change" for c in with_logs.candidates)
    # and a case without any logs ranks exactly as with the signal off
    bare = _case(None, cpu_fault="db")
    assert [c.metric for c in RUN(**QUICK).fit(bare.normal()).rank(bare).candidates] == [
        c.metric for c in RUN(**QUICK, logs="off").fit(bare.normal()).rank(bare).candidates
    ]


def test_logs_only_ranks_by_the_log_signal() -> None:
    case = _case(_logs("web"), cpu_fault="db")
    ranking = RUN(**QUICK, logs="only").fit(case.normal()).rank(case)
    assert service_rank(ranking, "web") == 1


def test_the_trained_normal_is_saved_and_used(tmp_path: Path) -> None:
    case = _case(_logs("orders"))
    method = RUN(**QUICK).fit(case.normal())
    assert method.model_ is not None and method.model_.logs is not None
    assert method.fit_report()["log_templates"] == 4  # two statements of each of two services
    loaded = RUN.load(method.save(tmp_path / "m"))
    assert loaded.model_ is not None and loaded.model_.logs is not None
    first, again = method.rank(case), loaded.rank(case)
    assert [(c.metric, c.score) for c in first.candidates] == [(c.metric, c.score) for c in again.candidates]
    # the trained normal is what the case is compared with, even when the case brings no baseline of its own
    late = case.telemetry.logs.loc[case.telemetry.logs["time"] >= T0]  # type: ignore[union-attr]
    only_after = Case("c2", Telemetry.from_frame(_frame(), logs=late), inject_time=T0)
    assert service_rank(loaded.rank(only_after), "orders") == 1
