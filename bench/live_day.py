"""Train Ticket as one stream per day: the detector as a service running all day would run it.

Every metric row of each Nezha day, in time order, into one :class:`rca.anomaly.detector.IncidentDetector`
with the service's settings (its history: everything normal it was fed before). An incident whose onset
is within ``[fault - step/2, fault + FAULT_EFFECT_SECONDS]`` of a fault detects it; any other is a false
incident. Also, per fault, the largest detector score in that window, beside the scores of rows far from
any fault (more than 2 minutes before and 15 minutes after every fault): where the two overlap, no
threshold separates faults from normal time.

Reproduce: ``OMP_NUM_THREADS=1 .venv/bin/python bench/live_day.py`` (results in
``bench/results/live-day-nezha-train-ticket.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from report import RESULTS  # noqa: E402

from rca.anomaly.detector import IncidentDetector  # noqa: E402
from rca.data.nezha import FAULT_EFFECT_SECONDS, STEP_SECONDS, list_faults, load_day_metrics  # noqa: E402
from rca.settings import Settings  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "nezha-train-ticket"


def main() -> None:
    settings = Settings()
    faults = list_faults(DATASET)
    cases, normal = [], []
    false = 0
    for day in sorted({f.day for f in faults}):
        day_faults = sorted((f for f in faults if f.day == day), key=lambda f: f.inject_time)
        injected = np.array([f.inject_time for f in day_faults])
        frame = load_day_metrics(DATASET / day).frame
        detector = IncidentDetector(settings.detector_threshold, settings.detector_open_after,
                                    settings.detector_close_after)  # fmt: skip
        columns = [str(c) for c in frame.columns]
        best = {f.name: (0.0, None) for f in day_faults}
        opened = []
        for t, row in zip(frame.index.to_numpy(dtype=float), frame.to_numpy(dtype=float), strict=True):
            inside = [
                f for f in day_faults if f.inject_time - STEP_SECONDS / 2 <= t <= f.inject_time + FAULT_EFFECT_SECONDS
            ]
            largest = 0.0
            for column, value in zip(columns, row, strict=True):
                if not np.isfinite(value):
                    continue
                score = detector.score(column, float(value)) or 0.0
                largest = max(largest, score)
                for f in inside:
                    if score > best[f.name][0]:
                        best[f.name] = (score, column)
                opened += [e for e in detector.update(column, float(t), float(value)) if e.kind == "opened"]
            if not ((t > injected - 2 * STEP_SECONDS) & (t < injected + 15 * 60)).any():
                normal.append(largest)

        def window(f: object, onset: float) -> bool:
            return f.inject_time - STEP_SECONDS / 2 <= onset <= f.inject_time + FAULT_EFFECT_SECONDS  # type: ignore[attr-defined]

        false += sum(1 for e in opened if not any(window(f, e.onset) for f in day_faults))
        for f in day_faults:
            hit = next((e for e in opened if window(f, e.onset)), None)
            cases.append({"case": f.name, "fault": f.fault, "detected": hit is not None,
                          "onset_error": None if hit is None else hit.onset - f.inject_time,
                          "max_score": round(best[f.name][0], 2), "by": best[f.name][1]})  # fmt: skip
    scores = np.array([c["max_score"] for c in cases])
    summary = {
        "faults": len(cases),
        "recall": round(float(np.mean([c["detected"] for c in cases])), 3),
        "false_incidents": false,
        "fault_max_score_quantiles_10_50_90": np.percentile(scores, [10, 50, 90]).round(2).tolist(),
        "normal_row_max_score_quantiles_50_90_99_100": np.percentile(normal, [50, 90, 99, 100]).round(2).tolist(),
    }
    print(json.dumps(summary, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "live-day-nezha-train-ticket.json").write_text(
        json.dumps({"summary": summary, "cases": cases}, indent=1)
    )


if __name__ == "__main__":
    main()
