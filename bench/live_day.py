"""Train Ticket as one stream per day: the detector as a service running all day would run it.

Every metric row and every log record of each Nezha day, in time order, into one
:class:`rca.anomaly.detector.IncidentDetector` with the service's settings, through the watcher's own
feed (:func:`rca.anomaly.log_feed.feed`: metric rows, and each service's log change per complete
bucket against the normal log buckets fed before). An incident whose onset is within
``[fault - step/2, fault + FAULT_EFFECT_SECONDS]`` of a fault detects it; any other is a false
incident (``with_lead``: also counting onsets up to one step early, :data:`LOG_LEAD`). Also, per
fault, the largest metric score and the largest log-change score in that window,
beside the metric scores of rows far from any fault (more than 2 minutes before and 15 minutes
after every fault) and the log-change scores of log buckets outside every fault's window (the
recordings hold logs only for the minutes around each fault, so these are mostly the minute before
one): where fault and normal overlap, no threshold separates them.

``--log-thresholds`` scans the log threshold and reports leave-one-day-out figures: the threshold
with the most faults found minus false incidents on one day, applied to the other.

Reproduce: ``OMP_NUM_THREADS=1 .venv/bin/python bench/live_day.py [--no-logs] [--log-thresholds 3 4 6 8 12]``
(results in ``bench/results/live-day-nezha-train-ticket[-metrics-only].json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from report import RESULTS  # noqa: E402

from rca.anomaly.detector import IncidentDetector, IncidentEvent  # noqa: E402
from rca.anomaly.log_feed import LogChangeFeed, feed  # noqa: E402
from rca.data.nezha import (  # noqa: E402
    FAULT_EFFECT_SECONDS,
    STEP_SECONDS,
    NezhaFault,
    list_faults,
    load_day_metrics,
    service_of_pod,
)
from rca.data.nezha_logs import minute_log_files, read_log_files  # noqa: E402
from rca.settings import Settings  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "nezha-train-ticket"
LOG_LEAD = STEP_SECONDS
"""The ``with_lead`` figures also count an onset up to one step before the labelled fault time: the
recorded faults often show in the logs up to a minute before their label (``rca.data.nezha_logs``), and
a log bucket is dated by its end, so a bucket wholly before the label can hold the fault's first lines."""


class _Recording(IncidentDetector):
    """The detector, remembering the log-change scores it was fed (for the score distributions)."""

    fed: list[tuple[float, str, float]]

    def update_score(self, series: str, time: float, score: float) -> list[IncidentEvent]:
        self.fed.append((time, series, score))
        return super().update_score(series, time, score)


def day_logs(day: str, span: tuple[float, float]) -> pd.DataFrame | None:
    """Every log record of ``day`` (minute files and the fault-free ``construct`` minute) in ``span``, by time.

    Records before the first or after the last metric row are left out, as a case leaves out records
    outside its rows (records without a nanosecond time take their ``Timestamp``: :mod:`rca.data.nezha_logs`).
    """
    paths = [p for _, p in minute_log_files(DATASET / day / "log", day)]
    paths += [p for _, p in minute_log_files(DATASET / "construct" / day / "log", day)]
    logs = read_log_files(paths, service_of_pod)
    if logs is None:
        return None
    times = logs["time"].to_numpy()
    inside = (times >= span[0]) & (times < span[1])
    print(f"{day}: {len(logs)} log records, {int((~inside).sum())} outside the day's metric rows left out")
    return logs.loc[inside].sort_values("time", kind="stable").reset_index(drop=True)


def in_window(fault: NezhaFault, time: float, lead: float = STEP_SECONDS / 2) -> bool:
    return fault.inject_time - lead <= time <= fault.inject_time + FAULT_EFFECT_SECONDS


def run_day(
    day: str, faults: list[NezhaFault], settings: Settings, logs: pd.DataFrame | None, *, scores: bool = True
) -> dict[str, Any]:
    """One day through the detector: per-fault results, false incidents, score samples (metric ones if ``scores``)."""
    injected = np.array([f.inject_time for f in faults])
    frame = load_day_metrics(DATASET / day).frame
    detector = _Recording(settings.detector_threshold, settings.detector_open_after, settings.detector_close_after,
                          score_threshold=settings.detector_log_threshold)  # fmt: skip
    detector.fed = []
    log_feed = None if logs is None else LogChangeFeed(bucket_seconds=STEP_SECONDS)
    columns = [str(c) for c in frame.columns]
    best = {f.name: (0.0, None) for f in faults}
    opened: list[IncidentEvent] = []
    normal_rows = []
    for i, (t, row) in enumerate(zip(frame.index.to_numpy(dtype=float), frame.to_numpy(dtype=float), strict=True)):
        inside = [f for f in faults if in_window(f, t)]
        largest = 0.0
        for column, value in zip(columns, row, strict=True):
            if not scores or not np.isfinite(value):
                continue
            score = detector.score(column, float(value)) or 0.0
            largest = max(largest, score)
            for f in inside:
                if score > best[f.name][0]:
                    best[f.name] = (score, column)
        # one poll per row, as the watcher polls: the row, then the log buckets complete by its time
        opened += [e for e in feed(detector, frame.iloc[i : i + 1], logs, log_feed, until=t) if e.kind == "opened"]
        if not ((t > injected - 2 * STEP_SECONDS) & (t < injected + 15 * 60)).any():
            normal_rows.append(largest)
    fed = pd.DataFrame(detector.fed, columns=["time", "series", "score"])
    with_lines = set()
    if logs is not None:
        with_lines = set(((np.floor(logs["time"].to_numpy() / STEP_SECONDS) + 1) * STEP_SECONDS).tolist())
    per_bucket = fed.groupby("time")["score"].max() if len(fed) else pd.Series(dtype=float)
    cases = []
    for f in faults:
        hit = next((e for e in opened if in_window(f, e.onset)), None)
        early = next((e for e in opened if in_window(f, e.onset, LOG_LEAD)), None)
        window = per_bucket[[in_window(f, t) for t in per_bucket.index]] if len(per_bucket) else per_bucket
        cases.append({"case": f.name, "fault": f.fault, "detected": hit is not None,
                      "onset_error": None if hit is None else hit.onset - f.inject_time,
                      "detected_with_lead": early is not None,
                      "by": None if hit is None else max(hit.symptoms, key=lambda s: hit.symptoms[s]),
                      "max_metric_score": round(best[f.name][0], 2), "metric_by": best[f.name][1],
                      "max_log_score": round(float(window.max()), 2) if len(window) else None})  # fmt: skip
    outside = [
        float(s) for t, s in per_bucket.items() if t in with_lines and not any(in_window(f, float(t)) for f in faults)
    ]
    false = [e for e in opened if not any(in_window(f, e.onset) for f in faults)]
    false_lead = [e for e in opened if not any(in_window(f, e.onset, LOG_LEAD) for f in faults)]
    return {
        "cases": cases,
        "false": [{"onset": e.onset, "by": max(e.symptoms, key=lambda s: e.symptoms[s])} for e in false],
        "false_with_lead": len(false_lead),
        "normal_rows": normal_rows,
        "normal_log_buckets": outside,
    }


def summarise(days: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cases = [c for d in days.values() for c in d["cases"]]
    errors = [c["onset_error"] for c in cases if c["detected"]]
    logs = [c["max_log_score"] for c in cases if c["max_log_score"] is not None]
    normal_logs = [s for d in days.values() for s in d["normal_log_buckets"]]
    return {
        "faults": len(cases),
        "detected": int(sum(c["detected"] for c in cases)),
        "recall": round(float(np.mean([c["detected"] for c in cases])), 3),
        "false_incidents": sum(len(d["false"]) for d in days.values()),
        "recall_with_lead": round(float(np.mean([c["detected_with_lead"] for c in cases])), 3),
        "false_incidents_with_lead": sum(d["false_with_lead"] for d in days.values()),
        "median_onset_error_s": float(np.median(errors)) if errors else None,
        "recall_by_fault": {
            kind: round(float(np.mean([c["detected"] for c in cases if c["fault"] == kind])), 3)
            for kind in sorted({c["fault"] for c in cases})
        },
        "fault_max_metric_score_quantiles_10_50_90": np.percentile([c["max_metric_score"] for c in cases], [10, 50, 90])
        .round(2)
        .tolist(),
        "normal_row_max_metric_score_quantiles_50_90_99_100": np.percentile(
            [s for d in days.values() for s in d["normal_rows"]], [50, 90, 99, 100]
        )
        .round(2)
        .tolist(),
        "fault_max_log_score_quantiles_10_25_50_90": np.percentile(logs, [10, 25, 50, 90]).round(2).tolist()
        if logs
        else None,
        "normal_log_bucket_max_score_quantiles_50_90_99_100": np.percentile(normal_logs, [50, 90, 99, 100])
        .round(2)
        .tolist()
        if normal_logs
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-logs", action="store_true", help="metrics only (the detector before the log signal)")
    parser.add_argument("--log-thresholds", type=float, nargs="*", default=[],
                        help="scan these log thresholds and report leave-one-day-out figures")  # fmt: skip
    args = parser.parse_args()
    settings = Settings()
    faults = list_faults(DATASET)
    day_names = sorted({f.day for f in faults})
    per_day = {d: sorted((f for f in faults if f.day == d), key=lambda f: f.inject_time) for d in day_names}
    spans = {d: load_day_metrics(DATASET / d).frame.index[[0, -1]].to_numpy(dtype=float) for d in day_names}
    logs = {d: None if args.no_logs else day_logs(d, (spans[d][0] - STEP_SECONDS, spans[d][1])) for d in day_names}
    days = {d: run_day(d, per_day[d], settings, logs[d]) for d in day_names}
    print("days done", flush=True)
    result: dict[str, Any] = {"settings": {"threshold": settings.detector_threshold,
                                           "log_threshold": None if args.no_logs else settings.detector_log_threshold,
                                           "open_after": settings.detector_open_after,
                                           "close_after": settings.detector_close_after},
                              "summary": summarise(days), "days": days}  # fmt: skip
    print(json.dumps(result["summary"], indent=1))
    if args.log_thresholds and not args.no_logs:
        scan = {}
        for threshold in args.log_thresholds:
            tuned = settings.model_copy(update={"detector_log_threshold": threshold})
            runs = {d: run_day(d, per_day[d], tuned, logs[d], scores=False) for d in day_names}
            scan[threshold] = {
                d: {"detected": sum(c["detected"] for c in r["cases"]), "false": len(r["false"])}
                for d, r in runs.items()
            }
            print(threshold, json.dumps(scan[threshold]))

        def gain(threshold: float, on: list[str]) -> int:
            """Faults found minus false incidents on the days ``on``."""
            return sum(scan[threshold][d]["detected"] - scan[threshold][d]["false"] for d in on)

        held_out = {}
        for test in day_names:
            chosen = max(args.log_thresholds, key=lambda t: gain(t, [d for d in day_names if d != test]))
            held_out[test] = {"chosen_on_other_day": chosen, **scan[chosen][test], "faults": len(per_day[test])}
        in_sample = max(args.log_thresholds, key=lambda t: gain(t, day_names))
        result["log_threshold_scan"] = {str(t): v for t, v in scan.items()}
        result["leave_one_day_out"] = held_out
        result["in_sample_best"] = {"log_threshold": in_sample, **{d: scan[in_sample][d] for d in day_names}}
        print(json.dumps({"leave_one_day_out": held_out, "in_sample_best": result["in_sample_best"]}, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "live-day-nezha-train-ticket" + ("-metrics-only" if args.no_logs else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
