"""A log-only peer: the rise of each service's share of error lines after the anomaly time.

The rule SRE dashboards and simple multi-signal rule sets apply to logs (count error lines per
service and flag the service whose error rate jumps; e.g. the error-log rule of the 3-sigma/p95/
error-count rule set in arXiv 2510.04711). The share of ERROR/FATAL lines rather than their count
keeps a change of load from looking like a fault; the two-proportion z-score
(:func:`rca.anomaly.logs.share_z`) weighs the share's change by how many lines back it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rca.anomaly.logs import ERROR_LEVELS, share_z
from rca.data.case import Case
from rca.data.logs import parse_log_line
from rca.methods.base import RCAMethod
from rca.rank.ranking import Candidate, Ranking, sort_candidates


@dataclass
class LogErrors(RCAMethod):
    """Rank services by the rise of their error-line share (log-only peer).

    Every service of the case is a candidate; a service without log lines before and after the
    anomaly time scores 0 (so a case without logs ranks no one first).
    """

    name = "log-errors"

    def rank(self, case: Case) -> Ranking:
        logs = case.telemetry.logs
        scores = dict.fromkeys(case.telemetry.services, 0.0)
        evidence: dict[str, dict[str, float]] = {}
        if logs is not None and len(logs):
            levels = logs["level"].astype(str)
            error = np.array(
                [
                    parse_log_line(m, lv or None).level in ERROR_LEVELS
                    for m, lv in zip(logs["message"], levels, strict=True)
                ]
            )
            after = logs["time"].to_numpy(dtype=float) >= case.inject_time
            services = logs["service"].astype(str).to_numpy()
            for service in sorted(set(services)):
                mine = services == service
                counts = [
                    np.array([(error & mine & side).sum(), (~error & mine & side).sum()]) for side in (after, ~after)
                ]
                z = float(share_z(counts[0], counts[1])[0])
                scores[service] = max(z, 0.0)
                evidence[service] = {
                    "error_z": z,
                    "error_share_before": float(counts[1][0] / max(counts[1].sum(), 1)),
                    "error_share_after": float(counts[0][0] / max(counts[0].sum(), 1)),
                }
        candidates = [Candidate(s, None, score, evidence.get(s, {})) for s, score in scores.items()]
        return Ranking(tuple(sort_candidates(candidates)), info={"method": self.name, "logs": logs is not None})
