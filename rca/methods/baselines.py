"""Peer methods that score each series against its pre-anomaly baseline.

- BARO's robust scorer: Pham, Ha, Zhang. "BARO: Robust Root Cause Analysis for Microservices via
  Multivariate Bayesian Online Change Point Detection", FSE 2024 (the RobustScaler ranking stage).
- N-sigma: the classic three-sigma rule as used by RCAEval (Pham et al., ASE 2024).
- epsilon-Diagnosis: Shan et al. "epsilon-Diagnosis: Unsupervised and Real-time Diagnosis of
  Small-window Long-tail Latency in Large-scale Microservice Platforms", WWW 2019 (two-sample
  energy-statistics test per metric).
- Random: a seeded uniform ranking, the floor any method must beat.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import energy_distance

from rca.anomaly.scores import Center, Scale, baseline_zscores, max_abs, onset_index
from rca.data.case import Case
from rca.methods.base import RCAMethod
from rca.rank.ranking import Ranking

Direction = Literal["both", "up"]


def zscore_ranking(case: Case, *, center: Center, scale: Scale, direction: Direction, method: str) -> Ranking:
    """Rank series by their largest standardised deviation after the anomaly time."""
    normal = case.normal().frame
    anomalous = case.anomalous().frame
    z = baseline_zscores(normal.to_numpy(), anomalous.to_numpy(), center=center, scale=scale)
    scores = max_abs(z) if direction == "both" else np.nanmax(np.where(np.isnan(z), -np.inf, z), axis=0)
    onsets = onset_index(z)
    times = anomalous.index.to_numpy()
    evidence = {
        column: {
            "anomaly_score": float(scores[i]),
            "onset_time": None if onsets[i] < 0 else float(times[onsets[i]]),
        }
        for i, column in enumerate(normal.columns)
    }
    return Ranking.from_scores(
        dict(zip(normal.columns, scores.tolist(), strict=True)),
        case.telemetry.series,
        evidence=evidence,
        info={"method": method},
    )


@dataclass
class BARO(RCAMethod):
    """BARO's robust scorer: ``max |x - median| / IQR`` over the anomalous part, per series.

    Median and inter-quartile range come from the pre-anomaly part. ``direction="up"`` keeps only
    increases (the published code takes the signed maximum); ``"both"`` also catches drops.
    """

    name = "baro"
    direction: Direction = "up"

    def rank(self, case: Case) -> Ranking:
        return zscore_ranking(case, center="median", scale="iqr", direction=self.direction, method=self.name)


@dataclass
class NSigma(RCAMethod):
    """N-sigma: ``max |x - mean| / std`` over the anomalous part, per series, against the baseline."""

    name = "nsigma"
    direction: Direction = "up"

    def rank(self, case: Case) -> Ranking:
        return zscore_ranking(case, center="mean", scale="std", direction=self.direction, method=self.name)


@dataclass
class EpsilonDiagnosis(RCAMethod):
    """epsilon-Diagnosis: the two-sample energy statistic of each series, normal vs anomalous part.

    ``e = n m / (n + m) * D^2`` where ``D`` is the energy distance between the two samples after
    scaling by the pooled standard deviation (so units do not matter). Larger means the distribution
    changed more. The paper thresholds a permutation test; a ranking needs only the statistic.
    """

    name = "epsilon-diagnosis"

    def rank(self, case: Case) -> Ranking:
        normal = case.normal().frame
        anomalous = case.anomalous().frame
        scores: dict[str, float] = {}
        for column in normal.columns:
            x = normal[column].to_numpy(dtype=float)
            y = anomalous[column].to_numpy(dtype=float)
            x, y = x[np.isfinite(x)], y[np.isfinite(y)]
            pooled = np.std(np.concatenate([x, y])) if len(x) and len(y) else 0.0
            if not len(x) or not len(y) or pooled == 0:
                scores[column] = 0.0
                continue
            distance = energy_distance(x / pooled, y / pooled)
            scores[column] = len(x) * len(y) / (len(x) + len(y)) * distance**2
        return Ranking.from_scores(scores, case.telemetry.series, info={"method": self.name})


@dataclass
class RandomRanking(RCAMethod):
    """A uniformly random order of the series, reproducible from ``seed`` and the case name."""

    name = "random"
    seed: int = 0

    def rank(self, case: Case) -> Ranking:
        rng = np.random.default_rng([self.seed, zlib.crc32(case.name.encode())])
        columns = list(case.frame.columns)
        scores = rng.random(len(columns))
        return Ranking.from_scores(dict(zip(columns, scores.tolist(), strict=True)), case.telemetry.series)
