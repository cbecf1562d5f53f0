"""The log-change signal (rca.anomaly.logs) and the Drain templates under it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rca.anomaly.logs import LogNormal, log_change_scores, log_changes, share_z
from rca.anomaly.templates import LogTemplates
from rca.data import discover

T0 = 1_000_000.0  # the anomaly time of the synthetic cases


def _records(service: str, line: str, start: float, end: float, per_minute: float, level: str = "") -> list[dict]:
    step = 60.0 / per_minute
    return [
        {"time": t, "service": service, "level": level, "message": line.format(i=i)}
        for i, t in enumerate(np.arange(start, end, step))
    ]


def _system(after: dict[str, list[tuple[str, float, str]]] | None = None) -> pd.DataFrame:
    """Three services with steady mixes for 5 minutes before T0 and 2 minutes after.

    ``after`` replaces a service's lines after T0: ``service -> [(line, per_minute, level)]``.
    """
    normal = {
        "api": [("INFO a.Ctl#10 got order {i}", 120.0, ""), ("INFO a.Ctl#12 sent order {i}", 120.0, "")],
        "orders": [("INFO o.Svc#5 find {i}", 30.0, ""), ("INFO o.Svc#9 found {i}", 30.0, "")],
        "quiet": [("INFO q.Job#1 tick {i}", 4.0, "")],
    }
    rows: list[dict] = []
    for service, lines in normal.items():
        for line, rate, level in lines:
            rows += _records(service, line, T0 - 300, T0, rate, level)
        for line, rate, level in (after or {}).get(service, lines):
            rows += _records(service, line, T0 + 0.5, T0 + 120, rate, level)
    return pd.DataFrame(rows).sort_values("time", kind="stable").reset_index(drop=True)


def test_a_line_that_stops_names_its_service() -> None:
    logs = _system({"orders": [("INFO o.Svc#5 find {i}", 30.0, "")]})  # an exception skips #9
    changes = log_changes(logs, T0)
    assert max(changes, key=lambda s: changes[s].score) == "orders"
    stopped = next(t for t in changes["orders"].templates if t.template.startswith("o.Svc#9"))
    assert stopped.after_per_minute == 0 and stopped.before_per_minute > 25
    assert stopped.z < -5 and "found" in stopped.example


def test_a_new_error_line_names_its_service_with_its_rate() -> None:
    logs = _system({"orders": [("INFO o.Svc#5 find {i}", 30.0, ""), ("ERROR o.Svc#7 no order {i}", 30.0, "")]})
    changes = log_changes(logs, T0)
    assert max(changes, key=lambda s: changes[s].score) == "orders"
    orders = changes["orders"]
    assert orders.error_share_before == 0 and orders.error_share_after > 0.4 and orders.error_z > 3
    new = next(t for t in orders.templates if t.level == "ERROR")
    assert new.before_per_minute == 0 and 25 < new.after_per_minute < 35
    assert new.template == "o.Svc#7 no order <*>"


def test_a_line_every_caller_writes_counts_less_than_a_services_own_line() -> None:
    servlet = "ERROR o.a.c.DispatcherServlet#175 Servlet.service() threw exception {i}"
    logs = _system(
        {
            "orders": [
                ("INFO o.Svc#5 find {i}", 30.0, ""),
                ("INFO o.Svc#9 found {i}", 24.0, ""),
                ("ERROR o.Svc#7 no order {i}", 6.0, ""),
            ],
            # both callers log the framework's error line about the failed call, more often than the fault's own line
            "api": [
                ("INFO a.Ctl#10 got order {i}", 120.0, ""),
                ("INFO a.Ctl#12 sent order {i}", 110.0, ""),
                (servlet, 10.0, ""),
            ],
            "quiet": [("INFO q.Job#1 tick {i}", 4.0, ""), (servlet, 2.0, "")],
        }
    )
    changes = log_changes(logs, T0)
    assert max(changes, key=lambda s: changes[s].score) == "orders"
    framework = next(t for t in changes["api"].templates if t.level == "ERROR")
    own = next(t for t in changes["orders"].templates if t.level == "ERROR")
    assert framework.services == 2 and own.services == 1
    assert changes["orders"].error_departure > framework.z > 0


def test_a_change_of_load_is_no_departure() -> None:
    doubled = {"api": [("INFO a.Ctl#10 got order {i}", 240.0, ""), ("INFO a.Ctl#12 sent order {i}", 240.0, "")]}
    scores = log_change_scores(_system(doubled), T0)
    assert set(scores) == {"api", "orders", "quiet"}
    assert max(scores.values()) < 1.0


def test_services_without_lines_on_both_sides_get_no_score() -> None:
    logs = _system()
    late = pd.DataFrame([{"time": T0 + 5, "service": "newcomer", "level": "ERROR", "message": "boom"}])
    scores = log_change_scores(pd.concat([logs, late], ignore_index=True), T0)
    assert "newcomer" not in scores
    assert log_change_scores(logs.loc[logs["time"] < T0], T0) == {}


def test_a_service_that_varies_normally_is_centred_on_its_own_variation() -> None:
    logs = _system()
    # a chatty service whose mix swings between two templates every half minute, before and after
    swing = [
        {"time": t, "service": "chatty", "level": "", "message": f"INFO c.X#{1 + int((t // 30) % 2)} step"}
        for t in np.arange(T0 - 300, T0 + 120, 0.1)
    ]
    logs = pd.concat([logs, pd.DataFrame(swing)], ignore_index=True).sort_values("time", kind="stable")
    changes = log_changes(logs, T0)
    assert changes["chatty"].normal > 5, "its normal windows differ a lot"
    assert changes["chatty"].score < changes["chatty"].departure


def test_the_guard_keeps_the_minute_before_the_anomaly_out_of_the_normal() -> None:
    logs = _system({"orders": [("INFO o.Svc#5 find {i}", 30.0, "")]})
    early = logs["service"].eq("orders") & logs["message"].str.contains("found") & (logs["time"] > T0 - 50)
    changes = log_changes(logs.loc[~early], T0)  # the fault began 50 s before its label
    normal = LogNormal().fit(logs.loc[~early & (logs["time"] < T0)])
    assert normal.services_["orders"].categories[("o.Svc#9 found <*>", "INFO")] > 100
    assert max(changes, key=lambda s: changes[s].score) == "orders"


def test_normal_state_round_trips_through_json() -> None:
    logs = _system({"orders": [("INFO o.Svc#5 find {i}", 30.0, ""), ("ERROR o.Svc#7 no order {i}", 30.0, "")]})
    normal = LogNormal(window=20.0).fit(logs.loc[logs["time"] < T0])
    back = LogNormal.from_state(json.loads(json.dumps(normal.state())))
    assert back.window == 20.0 and back.templates_.state() == normal.templates_.state()
    after = logs.loc[logs["time"] >= T0]
    assert back.changes(after) == normal.changes(after)


def test_share_z_counts_appearing_and_vanishing_categories() -> None:
    z = share_z(np.array([0.0, 50.0, 50.0]), np.array([50.0, 50.0, 0.0]))
    assert z[0] < -5 and z[2] > 5
    assert share_z(np.array([0.0, 0.0]), np.array([3.0, 4.0])).tolist() == [0.0, 0.0]


def test_drain_merges_filled_in_words_but_not_source_lines() -> None:
    keys = [
        ("s", "a.B#3 [query][station: shanghai]"),
        ("s", "a.B#3 [query][station: nanjing]"),
        ("s", "a.B#4 [query][station: shanghai]"),
        ("s", "[main] a.B#5 started"),
    ]
    templates = LogTemplates().fit(keys)
    assert (
        templates.template("s", "a.B#3 [query][station: beijing]") == "a.B#3 [query][station: <*>"
    )  # Drain replaces whole tokens
    assert templates.template("s", "a.B#4 [query][station: shanghai]") == "a.B#4 [query][station: shanghai]"
    assert templates.template("s", "[main] a.B#5 started") == "a.B#5 [main] started"
    assert templates.template("other", "a.B#3 x") == "a.B#3 x"
    assert LogTemplates.from_state(templates.state()).state() == templates.state()


def test_a_nezha_return_fault_puts_its_service_first_with_the_error_line(nezha: Path) -> None:
    ref = next(r for r in discover(nezha) if r.name == "2023-01-29/01-ts-contacts-service-return")
    case = ref.load()
    assert case.telemetry.logs is not None
    changes = log_changes(case.telemetry.logs, case.inject_time)
    assert max(changes, key=lambda s: changes[s].score) == "ts-contacts-service"
    error = next(t for t in changes["ts-contacts-service"].templates if t.level == "ERROR")
    assert error.template.startswith("c.s.ContactsServiceImpl#37") and error.before_per_minute == 0
    assert "No contacts according to contactsId" in error.example


def test_a_nezha_exception_is_not_blamed_on_the_caller_that_logs_the_framework_error(nezha: Path) -> None:
    # ts-price-service throws; ts-travel-service logs the servlet's error line about it, more often
    ref = next(r for r in discover(nezha) if r.name == "2023-01-29/23-ts-price-service-exception")
    case = ref.load()
    assert case.telemetry.logs is not None
    changes = log_changes(case.telemetry.logs, case.inject_time)
    assert max(changes, key=lambda s: changes[s].score) == "ts-price-service"
    caller = changes["ts-travel-service"]
    assert caller.error_share_before == 0 < caller.error_share_after, "the caller did start logging errors"
    stopped = next(t for t in changes["ts-price-service"].templates if t.after_per_minute == 0)
    assert stopped.z < -3 and stopped.template.startswith("p.c.PriceController#")
