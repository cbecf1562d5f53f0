"""RUN: contrastive-pretrained neural Granger causal discovery + personalized PageRank, done right.

A short composition of parts that live where their data does; read :meth:`RUN.fit` and
:meth:`RUN.rank` top to bottom.

- ``fit`` (normal history; what scheduled retraining runs): standardise every series robustly
  (:func:`rca.anomaly.scores.robust_scale`) -> fit the neural Granger model
  (:class:`rca.causal.neural_granger.NeuralGranger`: contrastive encoder, forecaster whose input
  attention is a Granger matrix) -> learn the Granger causes that forecast on held-out history
  (:class:`rca.causal.lagged.LaggedCounterfactual`) -> keep the observed call graph.
- ``rank`` (one incident): with a call graph, replace each latency, error and request-rate series by
  what its neighbours in the calls do not explain (:func:`rca.causal.structural.counterfactual_residuals`),
  and each other series with learned causes by what it did beyond its counterfactual
  (:meth:`rca.causal.lagged.LaggedCounterfactual.residuals`) -> score every series against the case's
  baseline (:func:`rca.anomaly.scores.series_scores`) -> add the per-service cause signals as
  pseudo-series (:data:`rca.anomaly.signals.CAUSE_SIGNALS`) -> build the graph (learned, call and
  within-service edges, :func:`rca.causal.graph.causal_graph`) -> walk it from the anomalous series
  back to their causes (:func:`rca.rank.fusion.walk_scores`) -> fuse into one order, causes before
  symptoms (:func:`rca.rank.fusion.standout_keys`) -> evidence (anomaly score, onset, PageRank,
  strongest causal path to the symptom; for a series scored on a counterfactual, what explained it).

See ``docs/method.md`` for how and why this differs from the paper and its published code.

References
----------
Lin, Chen, Wang, Zheng. "Root Cause Analysis in Microservice Using Neural Granger Causal Discovery",
AAAI 2024.
Pham, Ha, Zhang. "BARO", FSE 2024 (robust scaling of anomaly scores).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self

import networkx as nx
import numpy as np
import pandas as pd

from rca.anomaly.logs import LOG_CHANGE, Z_UNIT, LogChange, LogNormal
from rca.anomaly.scores import Scoring, baseline_zscores, max_abs, onset_index, robust_scale, series_scores
from rca.anomaly.signals import CALL_DELAY, NORMAL_RANGE, cause_signal_series
from rca.causal.granger_params import NeuralGrangerParams, neural_granger
from rca.causal.graph import causal_graph, evidence_paths, granger_digraph, observed_calls
from rca.causal.lagged import LaggedCounterfactual
from rca.causal.structural import call_graph_parents, counterfactual_residuals
from rca.data.case import Case, Telemetry, counts_falls, red_kind
from rca.errors import DataError
from rca.methods.base import NotFittedError, RCAMethod
from rca.methods.run_model import FittedModel
from rca.rank.fusion import Personalization, key_scores, standout_keys, traversal_frontier, walk_scores
from rca.rank.pagerank import ReverseWalk
from rca.rank.ranking import Candidate, Ranking, sort_candidates

GraphSource = Literal["learned", "call", "both"]
Falls = Literal["up", "both", "errors"]
Fusion = Literal["standout", "score"]
Logs = Literal["on", "off", "only"]
EVIDENCE_PATHS = 10
"""Candidates, from the top, whose causal path to the symptom is given as evidence."""


@dataclass
class RUN(RCAMethod, NeuralGrangerParams):
    """Neural Granger RCA with contrastive pretraining and personalized PageRank (our RUN).

    Parameters
    ----------
    lags, encoder_dim, encoder_hidden, encoder_depth, pretraining, objective, pretrain_epochs, pretrain_steps
        With ``epochs``, ``lr``, ``sparsity``, ``seed``, ``threads``, ``device`` and ``progress``: the
        neural Granger model's (:class:`rca.causal.granger_params.NeuralGrangerParams`);
        ``pretraining=False`` is the ablation without contrastive pretraining.
    direction, scoring, persistence, guard
        How each series is scored (:func:`rca.anomaly.scores.series_scores`). ``direction="errors"``: for
        series of errors, success rate or availability (:func:`rca.data.case.counts_falls`) a fall out
        of the normal range counts as much as a rise (an availability that drops is how a failing
        component shows), for the others only rises (a resource, a load or a latency that falls is an
        effect: less work, or requests failing fast; BARO's choice); ``"both"``: falls count for every
        series; ``"up"``: for none. ``scoring="exceedance"``: the ``persistence``-th largest rise
        relative to the largest swing of the series' own baseline, so bursty tail percentiles do not
        outscore a steady series that leaves its range (2: a one-sample spike is not a fault), that swing
        measured without the baseline's last ``guard`` rows (2: a fault that began a row or two before
        its label does not widen its own normal range; baselines of under 20 rows keep every row);
        ``"levels"`` (the default): the larger of that and the same exceedance of the series' level, its
        median over as many rows as the fault has had, at most a quarter of the baseline's
        (:func:`rca.anomaly.scores.level_exceedance`, capped at :data:`rca.anomaly.scores.LEVEL_CAP`), so a
        sustained shift of a few standard deviations that a noisy series' swings hide still counts;
        ``"zscore"``: BARO's.
    traces
        When the case has spans before and after the anomaly time, add one series per service,
        ``<service>_call_delay``: how much longer calls into it spend outside it (network and
        queueing, :func:`rca.anomaly.signals.call_delay_scores`; see :meth:`cause_signals`).
    logs
        ``"on"``: when the case has log records, add one series per service with lines before and
        after the anomaly time, ``<service>_log_change``: how far its template mix and error share
        depart from its normal (:mod:`rca.anomaly.logs`; the fitted normal when the history had logs,
        else the case's own records before the anomaly time), in units of :data:`rca.anomaly.logs.Z_UNIT`;
        it adds to its service's cause tier (``own_normal`` of :func:`rca.rank.fusion.standout_keys`)
        and carries the changed templates as evidence. ``"off"``: no log signal (ablation);
        ``"only"``: services ranked by the log signal alone (ablation).
    counterfactual
        With a call graph (``graph`` ``"call"`` or ``"both"``) and at least ``min_fit_rows`` rows before
        the anomaly time: score each latency, error and request-rate series by the part of it that its
        neighbours in the calls do not explain (:func:`rca.causal.structural.counterfactual_residuals`: a
        regression on its callees' latency and errors, or for a request rate on its callers' rates, at
        the same step, learned on the rows before the anomaly time but the last ``guard``). A caller that
        waited on a failing callee is explained by it (CIRCA's regression-based hypothesis test over the
        call graph).
    lagged
        With a learned graph (``graph`` ``"learned"`` or ``"both"``) and at least ``min_fit_rows`` history
        rows: learn each series' Granger causes by a group lasso and keep them only for the series
        whose one-step forecast they improve on held-out history (:class:`rca.causal.lagged.LaggedCounterfactual`);
        each such series without call-graph parents is scored on what it did beyond its counterfactual,
        run forward from its causes' observed past. Where no cause forecasts significantly better out of
        sample it keeps nothing (on the real datasets measured it keeps a few series and changed no ranking:
        ``docs/method.md``).
    residuals
        Also score the forecaster's standardised one-step residuals after the anomaly time (off by
        default: a one-step forecaster follows a level shift after one step, so residuals flag onsets
        of noisy series more than persistent faults; see ``docs/method.md``).
    compress
        Seed the walk with ``log(1 + score)`` instead of the raw score: robust z-scores span orders of
        magnitude (a memory series in bytes can score 10^4), and a seed that extreme leaves the graph no
        say; the logarithm keeps the order of the scores but lets the walk weigh in among the anomalous.
    edge_threshold
        Relative cut-off of learned edges (share of the strongest edge).
    graph
        ``"learned"``, ``"call"`` (observed call graph only) or ``"both"``.
    service_prior
        Add edges from each service's resource metrics to its own latency and error metrics
        (:func:`rca.causal.graph.resource_symptom_digraph`).
    personalization
        ``"anomaly"`` (restart at anomalous series) or ``"uniform"`` (ablation).
    pagerank
        ``False`` ranks by anomaly scores alone (ablation).
    damping
        Probability of following an edge in the walk.
    mix
        Weight of the PageRank score in the final score (the rest is the normalised anomaly score).
    fusion
        ``"standout"``: services by how far their series stand out above the same metric of every other
        service, walked through the graph, causes before symptoms, the walked score ordering the rest
        (:func:`rca.rank.fusion.standout_keys`); ``"score"``: by the walked score alone.
    traversal
        With ``fusion="standout"`` and a call graph: among services tied in the cause tier whose symptoms
        stand out, those whose latency or errors left their normal range while no callee's had before
        them come first (:func:`rca.rank.fusion.traversal_frontier`): a symptom travels from callee to
        caller. Load travels the other way: a service whose request rate rose while no caller's did is
        on the frontier (the load enters there), its callees carrying that load are not.
    min_fit_rows
        Below this many history rows no forecaster is trained, and below this many baseline rows no
        counterfactual regression is learned (neither can learn from a handful of rows; the ranking then
        uses anomaly scores and the call graph).
    clip
        Standardised values are clipped to ``[-clip, clip]`` for training.
    """

    name = "run"
    learns = True

    edge_threshold: float = 0.3
    direction: Falls = "errors"
    scoring: Scoring = "levels"
    persistence: int = 2
    guard: int = 2
    traces: bool = True
    logs: Logs = "on"
    counterfactual: bool = True
    lagged: bool = True
    residuals: bool = False
    compress: bool = True
    graph: GraphSource = "both"
    service_prior: bool = True
    personalization: Personalization = "anomaly"
    pagerank: bool = True
    damping: float = 0.5
    mix: float = 0.25
    fusion: Fusion = "standout"
    traversal: bool = True
    min_fit_rows: int = 60
    clip: float = 10.0

    def __post_init__(self) -> None:
        self.model_: FittedModel | None = None
        self._graph_cache: tuple[FittedModel, tuple[Any, ...], nx.DiGraph] | None = None

    def cause_signals(self) -> list[str]:
        """The per-service cause signals this configuration adds: keys of :data:`rca.anomaly.signals.CAUSE_SIGNALS`.

        A new signal is switched on here, by a parameter of its own (as ``traces`` does call delays).
        """
        return [name for name, wanted in ((CALL_DELAY, self.traces),) if wanted]

    # ------------------------------------------------------------------ fit
    def fit(self, history: Telemetry) -> Self:
        """Learn the neural Granger model, the learned causes that forecast, and the call graph from normal history."""
        started = time.perf_counter()
        frame = history.frame
        columns = [str(c) for c in frame.columns]
        values = frame.to_numpy(dtype=float)
        center, scale = robust_scale(values)
        model = FittedModel(
            columns=columns,
            series={c: (str(history.series[c][0]), str(history.series[c][1])) for c in columns},
            center=center,
            scale=scale,
            calls=observed_calls(history),
        )
        if self.logs != "off" and history.logs is not None and len(history.logs):
            model.logs = LogNormal().fit(history.logs)
            model.report["log_templates"] = model.logs.templates_.size
        needed = max(self.min_fit_rows, 3 * self.lags + 10)
        if len(frame) >= needed and columns:
            standardised = self._standardise(model, values)
            model.granger = neural_granger()(**self.granger_params()).fit(standardised)
            model.report.update(model.granger.report_)
            lagged = LaggedCounterfactual(device=self.device, threads=self.threads)
            if self.lagged and self.graph != "call" and len(frame) >= lagged.min_rows:
                lagged.fit(standardised)
                model.lagged = lagged
                model.report["lagged_series"] = int(lagged.targets_.size)
        else:
            model.report["skipped"] = f"{len(frame)} history rows < {needed}"
        model.report["fit_seconds"] = round(time.perf_counter() - started, 3)
        self.model_ = model
        return self

    def _standardise(self, model: FittedModel, values: np.ndarray) -> np.ndarray:
        z = (values - model.center) / model.scale
        return np.asarray(np.clip(z, -self.clip, self.clip), dtype=float)

    # ------------------------------------------------------------------ rank
    def rank(self, case: Case) -> Ranking:
        """Rank the series and services of ``case`` with the fitted model (:meth:`fit` first)."""
        started = time.perf_counter()
        model = self._require_model()
        frame = case.frame
        before = frame.index.to_numpy() < case.inject_time
        if before.all() or not before.any():
            raise DataError(f"case {case.name!r} needs rows before and after the anomaly time")
        columns = [str(c) for c in frame.columns]
        series = {c: case.telemetry.series[c] for c in columns}
        calls = observed_calls(case.telemetry) or model.calls
        explained = self._parents(series, calls, before)
        learned = self._learned_causes(model, columns, explained)
        anomaly, onsets = self._series_scores(model, frame, before, series, explained, learned)
        for column, service, metric, score in cause_signal_series(
            case.telemetry, case.inject_time, self.cause_signals()
        ):
            if column not in series:
                columns.append(column)
                series[column] = (service, metric)
                anomaly[column], onsets[column] = score, None
        changes = self._log_changes(model, case)
        for service, change in changes.items():
            column = f"{service}_{LOG_CHANGE}"
            if column not in series:
                columns.append(column)
                series[column] = (service, LOG_CHANGE)
                anomaly[column], onsets[column] = change.score / Z_UNIT, None
        logged = [f"{s}_{LOG_CHANGE}" for s in changes if series.get(f"{s}_{LOG_CHANGE}") == (s, LOG_CHANGE)]
        raw = np.array([anomaly[c] for c in columns], dtype=float)
        seeds = dict(zip(columns, (np.log1p(raw) if self.compress else raw).tolist(), strict=True))

        graph = self._graph(model, calls, columns, series)
        walk = partial(
            walk_scores, ReverseWalk.of(graph), pagerank=self.pagerank, personalization=self.personalization,
            damping=self.damping, mix=self.mix,
        )  # fmt: skip
        final, pagerank = walk(seeds)
        frontier: set[str] | None = None
        load_entries: set[str] = set()
        if self.logs == "only":
            final = {c: anomaly[c] if c in logged else 0.0 for c in columns}
        elif self.fusion == "standout":

            def spread(scores: Mapping[str, float]) -> Mapping[str, float]:
                return walk(scores)[0]

            if self.traversal and calls:
                frontier, load_entries = self._frontier(calls, anomaly, onsets, series)
            final = key_scores(standout_keys(anomaly, series, final, spread, own_normal=logged, frontier=frontier))

        candidates = []
        for column in columns:
            evidence: dict[str, Any] = {"anomaly_score": anomaly[column], "onset_time": onsets[column]}
            if column in explained:
                evidence["counterfactual"] = "call graph"
                evidence["explained_by"] = explained[column]
            elif column in learned:
                evidence["counterfactual"] = "learned causes"
                evidence["explained_by"] = learned[column]
            if pagerank is not None:
                evidence["pagerank"] = pagerank.get(column, 0.0)
            if column in logged:
                evidence[LOG_CHANGE] = changes[series[column][0]].evidence()
            if frontier is not None:
                evidence["frontier"] = series[column][0] in frontier
                evidence["load_entry"] = series[column][0] in load_entries
            candidates.append(Candidate(series[column][0], column, final[column], evidence))
        symptom = case.symptom if case.symptom in anomaly else max(anomaly, key=lambda c: anomaly[c])
        ordered = _with_paths(sort_candidates(candidates), graph, symptom)
        edges = tuple((str(a), str(b), float(w)) for a, b, w in graph.edges(data="weight", default=1.0))
        info = {
            "method": self.name,
            "trained": model.trained,
            "edges": len(edges),
            "symptom": symptom,
            "services": [s for s, _ in Ranking(tuple(ordered)).services()],
            "rank_seconds": round(time.perf_counter() - started, 4),
            **model.report,
        }
        kinds = {(str(a), str(b)): tuple(k) for a, b, k in graph.edges(data="kinds", default=())}
        return Ranking(tuple(ordered), edges, info, kinds)

    def _frontier(
        self,
        calls: list[tuple[str, str, float]],
        anomaly: Mapping[str, float],
        onsets: Mapping[str, float | None],
        series: Mapping[str, tuple[str, str]],
    ) -> tuple[set[str], set[str]]:
        """The services where an anomaly can start, and those of them where a load entered (their request rate rose)."""
        began: dict[str, float] = {}
        loaded: dict[str, float] = {}
        for column, score in anomaly.items():
            service, metric = series[column]
            if score > NORMAL_RANGE and (kind := red_kind(metric)) is not None:
                onset = onsets.get(column)
                into = began if kind in ("latency", "errors") else loaded
                into[service] = min(into.get(service, math.inf), math.inf if onset is None else onset)
        frontier = traversal_frontier(began, [(a, b) for a, b, _ in calls], loaded)
        return frontier, frontier & loaded.keys()

    def _log_changes(self, model: FittedModel, case: Case) -> dict[str, LogChange]:
        """Per-service log change of ``case`` against the fitted normal, else the case's own baseline."""
        logs = case.telemetry.logs
        if self.logs == "off" or logs is None or logs.empty:
            return {}
        times = logs["time"].to_numpy(dtype=float)
        if model.logs is not None and model.logs.services_:
            return model.logs.changes(logs.loc[times >= case.inject_time])
        return LogNormal().fit(logs.loc[times < case.inject_time]).changes(logs.loc[times >= case.inject_time])

    def _parents(
        self, series: Mapping[str, tuple[str, str]], calls: list[tuple[str, str, float]], before: np.ndarray
    ) -> dict[str, list[str]]:
        """Series scored by what their parents in the call graph do not explain (``counterfactual``): their parents."""
        if not self.counterfactual or self.graph == "learned" or not calls or before.sum() < self.min_fit_rows:
            return {}
        return call_graph_parents(series, [(a, b) for a, b, _ in calls])

    def _learned_causes(
        self, model: FittedModel, columns: list[str], explained: Mapping[str, list[str]]
    ) -> dict[str, list[str]]:
        """Series scored by what their learned Granger causes do not explain (``lagged``; not those the
        call graph explains): their causes."""
        if model.lagged is None or not self.lagged or self.graph == "call":
            return {}
        present = set(columns)
        return {
            model.columns[j]: [model.columns[i] for i in causes]
            for j, causes in model.lagged.causes().items()
            if model.columns[j] in present and model.columns[j] not in explained
        }

    def _series_scores(
        self,
        model: FittedModel,
        frame: pd.DataFrame,
        before: np.ndarray,
        series: Mapping[str, tuple[str, str]],
        parents: Mapping[str, list[str]],
        learned: Mapping[str, list[str]],
    ) -> tuple[dict[str, float], dict[str, float | None]]:
        """Anomaly score and onset time (``None``: never 3 robust sigmas out) of every column of ``frame``,
        those with call-graph ``parents`` or ``learned`` causes scored on their counterfactual residuals."""
        columns = [str(c) for c in frame.columns]
        values = frame.to_numpy(dtype=float, copy=True)
        if learned:
            assert model.lagged is not None
            aligned = frame.reindex(columns=model.columns).to_numpy(dtype=float)
            residuals = model.lagged.residuals(self._standardise(model, aligned))  # as fitted: clipped
            by_model = {c: i for i, c in enumerate(model.columns)}
            for k, column in enumerate(columns):
                if column in learned:
                    values[:, k] = residuals[:, by_model[column]]
        if parents:
            index = {c: i for i, c in enumerate(columns)}
            normal = np.flatnonzero(before)
            fit_rows = before.copy()
            fit_rows[normal[len(normal) - self.guard :]] = False  # a fault may begin a row or two before its label
            by_index = {index[c]: [index[p] for p in ps] for c, ps in parents.items()}
            values = counterfactual_residuals(values, fit_rows, by_index)
        metrics = [series[c][1] for c in columns]
        onset = onset_index(baseline_zscores(values[before], values[~before]))
        falls = np.array(
            [self.direction == "both" or (self.direction == "errors" and counts_falls(m)) for m in metrics], dtype=bool
        )
        scores = series_scores(
            values[before],
            values[~before],
            falls=falls,
            scoring=self.scoring,
            persistence=self.persistence,
            guard=self.guard,
        )
        residual = self._residual_scores(model, frame, before) if self.residuals else None
        if residual is not None:
            scores = np.maximum(scores, np.nan_to_num(residual))
        times = frame.index.to_numpy()[~before]
        return (
            dict(zip(columns, scores.tolist(), strict=True)),
            {c: None if i < 0 else float(times[i]) for c, i in zip(columns, onset.tolist(), strict=True)},
        )

    def _residual_scores(self, model: FittedModel, frame: pd.DataFrame, before: np.ndarray) -> np.ndarray | None:
        """Max standardised one-step forecast residual after the anomaly time, per case column."""
        if model.granger is None or not set(model.columns) & set(frame.columns):
            return None
        aligned = frame.reindex(columns=model.columns).to_numpy(dtype=float)
        residual = model.granger.residuals(self._standardise(model, aligned))
        after = ~before[self.lags :]
        scores = max_abs(residual[after]) if after.any() else np.full(len(model.columns), np.nan)
        by_column = dict(zip(model.columns, scores.tolist(), strict=True))
        return np.array([by_column.get(c, np.nan) for c in frame.columns], dtype=float)

    def _graph(
        self,
        model: FittedModel,
        observed: list[tuple[str, str, float]],
        columns: list[str],
        series: Mapping[str, tuple[str, str]],
    ) -> nx.DiGraph:
        """The causal graph over ``columns`` with the ``observed`` calls (read-only: the last one is reused
        for the same inputs)."""
        calls = observed if self.graph in ("call", "both") else []
        key = (
            self.graph,
            self.edge_threshold,
            self.service_prior,
            tuple(calls),
            tuple((c, series[c]) for c in columns),
        )
        if self._graph_cache is not None and self._graph_cache[0] is model and self._graph_cache[1] == key:
            return self._graph_cache[2]  # an incident's cases share the model, the series and the calls
        learned = None
        if self.graph in ("learned", "both") and model.granger is not None:
            learned = granger_digraph(model.granger.granger_matrix(), model.columns, threshold=self.edge_threshold)
        graph = causal_graph(
            columns, series, learned=learned, calls=calls if self.graph in ("call", "both") else None,
            prior=self.service_prior,
        )  # fmt: skip
        self._graph_cache = (model, key, graph)
        return graph

    # ------------------------------------------------------------------ fitted state
    def fit_report(self) -> dict[str, Any]:
        """What :meth:`fit` measured (held-out and naive forecast errors, timings); ``{}`` before fitting."""
        return {} if self.model_ is None else dict(self.model_.report)

    def fitted_columns(self) -> tuple[str, ...]:
        """The series the fitted model learned from (``()`` before fitting)."""
        return () if self.model_ is None else tuple(self.model_.columns)

    def normal_ranges(self) -> dict[str, tuple[float, float]]:
        """Each fitted series' median and spread (:func:`rca.anomaly.scores.robust_scale`; ``{}`` before fitting)."""
        if self.model_ is None:
            return {}
        model = self.model_
        return {c: (float(m), float(s)) for c, m, s in zip(model.columns, model.center, model.scale, strict=True)}

    def normal_logs(self) -> LogNormal | None:
        """The normal log mix fitted on the history's records (``None`` before fitting or without logs)."""
        return None if self.model_ is None else self.model_.logs

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to directory ``path``: ``model.json`` and, if trained, the neural Granger model."""
        params = {k: v for k, v in self.get_params().items() if k != "progress"}
        return self._require_model().save(path, method=self.name, params=params)

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> RUN:
        """A fitted :class:`RUN` from a directory written by :meth:`save`."""
        params = FittedModel.saved_params(path, method=cls.name)
        method = cls(**{**params, **overrides})
        method.model_ = FittedModel.load(path, device=method.device, threads=method.threads, progress=method.progress)
        return method

    def _require_model(self) -> FittedModel:
        if self.model_ is None:
            raise NotFittedError("RUN is not fitted: call fit(history) first (e.g. fit(case.normal()))")
        return self.model_


def _with_paths(ordered: list[Candidate], graph: nx.DiGraph, symptom: str) -> list[Candidate]:
    """The candidates, the first :data:`EVIDENCE_PATHS` with their strongest causal path to ``symptom``."""
    paths = evidence_paths(graph, [str(c.metric) for c in ordered[:EVIDENCE_PATHS]], symptom)
    return [
        Candidate(c.service, c.metric, c.score, {**c.evidence, "path": paths[str(c.metric)]})
        if k < EVIDENCE_PATHS
        else c
        for k, c in enumerate(ordered)
    ]


__all__ = ["RUN", "FittedModel"]
