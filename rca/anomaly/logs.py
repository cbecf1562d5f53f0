"""Log change per service: how far a service's template mix and error share depart from its normal.

A code-level fault shows where the code runs: the faulty service writes an error line it never
writes (a wrong return value logged as ``ERROR``), or the lines that normally follow the faulty call
stop (an exception skips them). Both change the service's *mix* of templates; its callers mostly see
latency. So, per service, the records are grouped into templates (:class:`~rca.anomaly.templates.LogTemplates`
over :func:`rca.data.logs.parse_log_line` keys, at their level) and compared with a fault-free
baseline:

* specificity: a line that many services write (a framework's error handler, "Servlet.service()
  threw exception") says where a failure *surfaced*, in each caller that received it, not where it
  arose; a service's own statements do. So a template's *rise* counts ``1/k``, ``k`` the number of
  services that write it (in the normal or after the anomaly time), like the inverse document
  frequency that weights log events in LogCluster. A template that stops is not weighted: a service
  whose usual lines stop is where the code no longer runs, whatever the lines say.
* departure: the largest two-proportion z-score, over the service's templates except rising error
  ones, of a template's share of the service's lines after the anomaly time against its share in the
  baseline. Templates that appear and templates that stop both count, and shares (not rates) make a
  change of load, which moves every template alike, no departure.
* error departure: the same over the templates at ``ERROR``/``FATAL`` level that rise. A new error
  line and a stopped line are different evidence (a wrong return value logs the one, an exception
  skips the other), so each counts once.
* normal: the largest z-score of any template between each ``window`` of the baseline and the rest
  of it (the median): how much the service's own mix varies between normal periods. A chatty service
  has large z-scores for small wobbles, a quiet one noisy shares; both departures count above this.
* error share: the two-proportion z-score of the share of ``ERROR``/``FATAL`` lines (each counting
  ``1/k`` as above), increases only.

``score = max(0, departure - normal) + max(0, error departure - normal) + max(0, error z)``. A
service without log lines on both sides gets no score (it is neither helped nor hurt). The baseline is
the fitted normal (:class:`LogNormal`, part of a trained model) or the case's own records before the
anomaly time, leaving out the last ``guard`` seconds: a fault often shows in the logs before its label.

References: the two-proportion z-test (e.g. Agresti, "Categorical Data Analysis", 3rd ed., 2013);
Drain (He et al., ICWS 2017) for the templates; the use of new and vanished log templates as fault
evidence and the inverse-frequency weight of events shared by many sources follow LogCluster
(Lin, Zhang, Lou, Zhang, Chen, "Log Clustering based Problem Identification for Online Service
Systems", ICSE-SEIP 2016).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd

from rca.anomaly.templates import LogTemplates
from rca.data.logs import parse_log_line

ERROR_LEVELS = frozenset({"ERROR", "FATAL"})
"""Levels whose share is the error share."""

EVIDENCE_TEMPLATES = 5
"""Changed templates given as evidence per service."""

LOG_CHANGE = "log_change"
"""Metric name of the per-service log-change pseudo-series a ranking adds."""

Z_UNIT = 1.0
"""A log-change score in units of the series scores' normal range: a log change one standard error
beyond the service's own normal variation (already subtracted) scores 1, the edge of that range
(:data:`rca.anomaly.signals.NORMAL_RANGE`). Chosen on Train Ticket (scan and leave-one-group-out
figures in ``docs/method.md``); below 1 the logs of a saturated service's callers start to outweigh
its resource series."""


@dataclass(frozen=True)
class TemplateChange:
    """One template's change in a service's logs (evidence)."""

    template: str
    level: str
    before_per_minute: float
    after_per_minute: float
    z: float
    example: str
    services: int
    """Services that write this template (normal or after the anomaly time); a rise's ``z`` is divided by it."""


@dataclass(frozen=True)
class LogChange:
    """A service's log change after the anomaly time.

    Attributes
    ----------
    score
        ``max(0, departure - normal) + max(0, error_departure - normal) + max(0, error_z)``.
    departure, error_departure, normal, error_z
        See the module docstring.
    error_share_before, error_share_after
        Share of ERROR/FATAL lines in the baseline and after the anomaly time.
    templates
        The templates whose share changed most, largest ``|z|`` first.
    """

    score: float
    departure: float
    normal: float
    error_z: float
    error_departure: float
    error_share_before: float
    error_share_after: float
    templates: tuple[TemplateChange, ...]

    def evidence(self) -> dict[str, Any]:
        """A JSON-ready summary for a ranking's evidence."""
        return {
            "score": round(self.score, 3),
            "departure": round(self.departure, 3),
            "error_departure": round(self.error_departure, 3),
            "normal": round(self.normal, 3),
            "error_share_before": round(self.error_share_before, 4),
            "error_share_after": round(self.error_share_after, 4),
            "templates": [
                {
                    "template": t.template,
                    "level": t.level,
                    "before_per_minute": round(t.before_per_minute, 2),
                    "after_per_minute": round(t.after_per_minute, 2),
                    "z": round(t.z, 2),
                    "services": t.services,
                    "example": t.example,
                }
                for t in self.templates
            ],
        }


def share_z(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Two-proportion z-scores of each category's share, ``after`` against ``before`` (counts).

    0 where either side has no records or a category is absent from both.
    """
    n_after, n_before = after.sum(), before.sum()
    if n_after == 0 or n_before == 0:
        return np.zeros(len(after))
    pooled = (after + before) / (n_after + n_before)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_after + 1 / n_before))
    diff = after / n_after - before / n_before
    z: np.ndarray = np.divide(diff, se, out=np.zeros(len(after)), where=se > 0)
    return z


def _segments(times: np.ndarray, gap: float) -> tuple[np.ndarray, float]:
    """Window ids of sorted ``times`` (consecutive ``gap``-long windows inside runs without a gap
    longer than ``gap``) and the covered duration in seconds."""
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64), 0.0
    breaks = np.r_[True, np.diff(times) > gap]
    segment = np.cumsum(breaks) - 1
    starts = times[breaks]
    ends = np.r_[times[np.flatnonzero(breaks)[1:] - 1], times[-1]]
    within = np.floor((times - starts[segment]) / gap).astype(np.int64)
    ids = np.unique(np.c_[segment, within], axis=0, return_inverse=True)[1].reshape(-1)
    return ids, float((ends - starts).sum())


@dataclass
class _Service:
    categories: dict[tuple[str, str], int]
    examples: dict[tuple[str, str], str]
    normal: float


@dataclass
class LogNormal:
    """The normal log mix of each service: what :meth:`fit` learns from fault-free logs.

    Parameters
    ----------
    window
        Length (seconds) of the normal periods whose mutual variation centres the departure.
    guard
        Seconds at the end of the history left out of the normal (the onset of an incident often
        precedes its anomaly time); all of it is used when nothing else remains.
    similarity
        Drain's similarity threshold for the templates.
    """

    window: float = 30.0
    guard: float = 60.0
    similarity: float = 0.4
    templates_: LogTemplates = field(default_factory=LogTemplates, init=False, repr=False)
    services_: dict[str, _Service] = field(default_factory=dict, init=False, repr=False)
    minutes_: float = field(default=0.0, init=False)

    def fit(self, logs: pd.DataFrame) -> Self:
        """Learn templates, per-service template counts and normal variation from ``logs``."""
        times = logs["time"].to_numpy(dtype=float)
        if len(times):
            kept = logs.loc[times < times.max() - self.guard]
            logs = kept if len(kept) else logs
        parsed = _parse(logs.sort_values("time", kind="stable"))
        pairs = list(zip(parsed["service"], parsed["key"], strict=True))
        self.templates_ = LogTemplates(similarity=self.similarity).fit(pairs)
        parsed = _categorise(parsed, self.templates_)
        windows, seconds = _segments(parsed["time"].to_numpy(dtype=float), self.window)
        n_windows = int(windows.max()) + 1 if len(windows) else 0
        self.minutes_ = seconds / 60.0
        self.services_ = {}
        for service, group in parsed.assign(window=windows).groupby("service", sort=True):
            categories = _count(group)
            column = {c: i for i, c in enumerate(categories)}
            total = np.array(list(categories.values()), dtype=float)
            per_window = np.zeros((n_windows, len(column)))
            cells = [column[c] for c in zip(group["template"], group["level"], strict=True)]
            np.add.at(per_window, (group["window"].to_numpy(), np.array(cells, dtype=np.int64)), 1.0)
            spread = [float(np.abs(share_z(w, total - w)).max(initial=0.0)) for w in per_window]
            self.services_[str(service)] = _Service(
                categories=categories, examples=_examples(group), normal=float(np.median(spread)) if spread else 0.0
            )
        return self

    def changes(self, logs: pd.DataFrame, *, top: int = EVIDENCE_TEMPLATES) -> dict[str, LogChange]:
        """The log change of every service that has lines both in the normal and in ``logs``."""
        if logs.empty or not self.services_:
            return {}
        parsed = _categorise(_parse(logs.sort_values("time", kind="stable")), self.templates_)
        _, seconds = _segments(parsed["time"].to_numpy(dtype=float), self.window)
        minutes_after = max(seconds / 60.0, 1e-9)
        groups = {str(s): g for s, g in parsed.groupby("service", sort=True)}
        counted = {service: _count(group) for service, group in groups.items()}
        writers = _writers({s: n.categories for s, n in self.services_.items()}, counted)
        out: dict[str, LogChange] = {}
        for service, group in groups.items():
            if service not in self.services_:
                continue
            normal = self.services_[service]
            counts = counted[service]
            keys = sorted(set(normal.categories) | set(counts))
            before = np.array([normal.categories.get(k, 0) for k in keys], dtype=float)
            after = np.array([counts.get(k, 0) for k in keys], dtype=float)
            shared = np.array([writers[t] for t, _ in keys], dtype=float)
            raw = share_z(after, before)
            z = np.where(raw > 0, raw / shared, raw)
            error = np.array([level in ERROR_LEVELS for _, level in keys])
            rising_error = error & (z > 0)
            # error lines count 1/k each: a framework's error line in every caller is one failure
            error_counts = [np.array([(side / shared)[error].sum(), side[~error].sum()]) for side in (after, before)]
            error_z = float(share_z(*error_counts)[0])
            departure = float(np.abs(z[~rising_error]).max(initial=0.0))
            error_departure = float(z[rising_error].max(initial=0.0))
            examples = {**normal.examples, **_examples(group)}
            out[service] = LogChange(
                score=max(0.0, departure - normal.normal)
                + max(0.0, error_departure - normal.normal)
                + max(0.0, error_z),
                departure=departure,
                normal=normal.normal,
                error_z=error_z,
                error_departure=error_departure,
                error_share_before=float(before[error].sum() / before.sum()),
                error_share_after=float(after[error].sum() / after.sum()),
                templates=tuple(
                    TemplateChange(
                        template=keys[i][0],
                        level=keys[i][1],
                        before_per_minute=float(before[i] / max(self.minutes_, 1e-9)),
                        after_per_minute=float(after[i] / minutes_after),
                        z=float(z[i]),
                        example=examples.get(keys[i], ""),
                        services=int(shared[i]),
                    )
                    for i in np.argsort(-np.abs(z), kind="stable")[:top]
                    if z[i] != 0
                ),
            )
        return out

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """Everything learned, as JSON-ready data (templates as plain strings)."""
        return {
            "params": {"window": self.window, "guard": self.guard, "similarity": self.similarity},
            "minutes": self.minutes_,
            "templates": self.templates_.state(),
            "services": {
                service: {
                    "normal": s.normal,
                    "categories": [[t, lv, n, s.examples.get((t, lv), "")] for (t, lv), n in s.categories.items()],
                }
                for service, s in self.services_.items()
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LogNormal:
        """A fitted :class:`LogNormal` from :meth:`state`."""
        normal = cls(**state["params"])
        normal.minutes_ = float(state["minutes"])
        normal.templates_ = LogTemplates.from_state(state["templates"], similarity=normal.similarity)
        normal.services_ = {
            service: _Service(
                categories={(t, lv): int(n) for t, lv, n, _ in s["categories"]},
                examples={(t, lv): ex for t, lv, _, ex in s["categories"]},
                normal=float(s["normal"]),
            )
            for service, s in state["services"].items()
        }
        return normal


def _parse(logs: pd.DataFrame) -> pd.DataFrame:
    levels = logs["level"].fillna("").astype(str) if "level" in logs.columns else [""] * len(logs)
    parsed = [parse_log_line(m, lv or None) for m, lv in zip(logs["message"].astype(str), levels, strict=True)]
    return pd.DataFrame(
        {
            "time": logs["time"].to_numpy(dtype=float),
            "service": logs["service"].astype(str).to_numpy(),
            "key": [p.template_key for p in parsed],
            "level": [p.level for p in parsed],
            "message": logs["message"].astype(str).to_numpy(),
        }
    )


def _count(group: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Records per (template, level), in sorted order."""
    counts = group.groupby(["template", "level"], sort=True).size()
    return {(str(key[0]), str(key[1])): int(n) for key, n in zip(counts.index, counts.to_numpy(), strict=True)}


def _writers(*mixes: Mapping[str, Mapping[tuple[str, str], int]]) -> dict[str, int]:
    """Per template, how many services write it in any of ``mixes`` (``service -> (template, level) -> count``)."""
    written: dict[str, set[str]] = {}
    for mix in mixes:
        for service, categories in mix.items():
            written.setdefault(service, set()).update(t for t, _ in categories)
    writers: dict[str, int] = {}
    for templates in written.values():
        for template in templates:
            writers[template] = writers.get(template, 0) + 1
    return writers


def _examples(group: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The first line of each (template, level)."""
    first = group.drop_duplicates(["template", "level"])
    return {
        (str(t), str(level)): str(m)
        for t, level, m in zip(first["template"], first["level"], first["message"], strict=True)
    }


def _categorise(parsed: pd.DataFrame, templates: LogTemplates) -> pd.DataFrame:
    mapping = templates.templates(zip(parsed["service"], parsed["key"], strict=True))
    return parsed.assign(template=[mapping[p] for p in zip(parsed["service"], parsed["key"], strict=True)])


def log_changes(
    logs: pd.DataFrame,
    anomaly_time: float,
    *,
    normal: LogNormal | None = None,
    after: float | None = None,
    **params: float,
) -> dict[str, LogChange]:
    """Per-service log change after ``anomaly_time`` (see the module docstring).

    Parameters
    ----------
    logs
        Records with :data:`rca.data.logs.LOG_COLUMNS` around the anomaly time.
    anomaly_time
        Unix seconds; records from it on are compared with the baseline.
    normal
        A fitted normal (a trained model's); by default one is fitted on the records before
        ``anomaly_time`` (``params`` go to :class:`LogNormal`).
    after
        Seconds after ``anomaly_time`` to compare (default: all).
    """
    times = logs["time"].to_numpy(dtype=float)
    if normal is None:
        normal = LogNormal(**params).fit(logs.loc[times < anomaly_time])
    late = times >= anomaly_time
    if after is not None:
        late &= times < anomaly_time + after
    return normal.changes(logs.loc[late])


def log_change_scores(logs: pd.DataFrame, anomaly_time: float, **kwargs: Any) -> dict[str, float]:
    """``service -> score`` of :func:`log_changes`."""
    return {service: change.score for service, change in log_changes(logs, anomaly_time, **kwargs).items()}


__all__ = [
    "LOG_CHANGE",
    "Z_UNIT",
    "LogChange",
    "LogNormal",
    "TemplateChange",
    "log_change_scores",
    "log_changes",
    "share_z",
]
