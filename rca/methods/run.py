"""RUN: contrastive-pretrained neural Granger causal discovery + personalized PageRank, done right.

``fit`` (normal history; what scheduled retraining runs):

1. Standardise every series robustly (median / IQR of the history).
2. Pretrain one causal-convolution encoder for all series contrastively (:mod:`rca.causal.contrastive`).
3. Train one neural Granger forecaster for all series at once on top of it
   (:mod:`rca.causal.forecaster`); its sparse input attention is a weighted Granger matrix. The
   held-out one-step error and that of the naive last-value forecast are recorded.
4. Keep the observed call graph (spans or ``graph.csv``) of the history.

``rank`` (one incident):

1. Score every series: robust z against the case's pre-anomaly baseline (BARO's scaling), and the
   forecaster's standardised one-step residuals after the anomaly time; the larger of the two.
2. Build the graph: learned Granger edges, call-graph edges (callee series -> caller series), or both.
3. Personalized PageRank on the reversed graph (effects -> causes), restarting at the anomalous series.
4. Final score: a mixture of the normalised anomaly score and the PageRank score, so the walk refines
   but does not wash away the anomaly evidence. Each candidate carries its anomaly score, onset time,
   PageRank score and the strongest causal path to the symptom.

See ``docs/method.md`` for how and why this differs from the paper and its published code.

References
----------
Lin, Chen, Wang, Zheng. "Root Cause Analysis in Microservice Using Neural Granger Causal Discovery",
AAAI 2024.
Pham, Ha, Zhang. "BARO", FSE 2024 (robust scaling of anomaly scores).
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import networkx as nx
import numpy as np
import pandas as pd
import torch

from rca.anomaly.scores import baseline_zscores, exceedance, max_abs, nan_percentiles, onset_index, shift_score
from rca.causal.contrastive import CausalConvEncoder, Objective, pretrain
from rca.causal.forecaster import GrangerForecaster, lagged_inputs, train_forecaster
from rca.causal.graph import call_digraph, evidence_paths, granger_digraph, merge, resource_symptom_digraph
from rca.data.case import Case, Telemetry, is_symptom_metric
from rca.data.spans import call_delays, call_graph
from rca.errors import DataError
from rca.methods.base import RCAMethod
from rca.rank.pagerank import root_cause_pagerank
from rca.rank.ranking import Candidate, Ranking, sort_candidates

GraphSource = Literal["learned", "call", "both"]
Direction = Literal["up", "both"]
Personalization = Literal["anomaly", "uniform"]
Scoring = Literal["exceedance", "zscore"]
Fusion = Literal["standout", "score"]
CALL_DELAY = "call_delay"
"""Metric name of the per-service score that spans add (see :func:`call_delay_scores`)."""
FORMAT_VERSION = 1
EVIDENCE_PATHS = 10
"""Candidates, from the top, whose causal path to the symptom is given as evidence."""
NORMAL_RANGE = 1.0
"""Anomaly scores up to this are normal variation: an exceedance of 1 just reaches the largest swing
of the series' own baseline (:func:`rca.anomaly.scores.exceedance`)."""


@contextlib.contextmanager
def _torch_settings(threads: int, seed: int) -> Iterator[None]:
    """Seeded, deterministic torch on ``threads`` threads, restoring the previous settings after."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)


def _device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def _robust_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and IQR per column (std, then 1, where the IQR is 0 or undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        center, q75, q25 = nan_percentiles(values, [50, 75, 25])
        std = np.nanstd(values, axis=0)
    scale = np.where(q75 - q25 > 0, q75 - q25, np.where(std > 0, std, 1.0))
    return np.nan_to_num(center), np.nan_to_num(scale, nan=1.0)


@dataclass
class FittedModel:
    """What :meth:`RUN.fit` learned; saved as ``weights.pt`` (tensors only) and ``model.json``."""

    columns: list[str]
    series: dict[str, tuple[str, str]]
    center: np.ndarray
    scale: np.ndarray
    calls: list[tuple[str, str, float]]
    encoder: CausalConvEncoder | None = None
    forecaster: GrangerForecaster | None = None
    residual_scale: np.ndarray | None = None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """Whether a forecaster (and so a learned graph) exists."""
        return self.forecaster is not None


@dataclass
class RUN(RCAMethod):
    """Neural Granger RCA with contrastive pretraining and personalized PageRank (our RUN).

    Parameters
    ----------
    lags
        Granger lag window (steps).
    encoder_dim, encoder_hidden, encoder_depth
        Encoder representation size, hidden channels, and number of dilated blocks.
    pretraining
        Pretrain the encoder contrastively (``False``: a randomly initialised, frozen encoder; ablation).
    objective
        ``"infonce"`` (TS2Vec, with negatives) or ``"simsiam"`` (no negatives).
    pretrain_epochs
        Pretraining epochs.
    epochs, lr, sparsity
        Forecaster training: maximum epochs (early stopping on a held-out tail), learning rate, and the
        L1 weight on the off-diagonal attention.
    direction
        ``"up"``: only increases count as anomalous (BARO's choice: saturation faults raise resource
        use and latency, while drops are mostly downstream effects such as lost traffic); ``"both"``.
    scoring
        ``"exceedance"``: the rise after the anomaly time relative to the largest swing of the
        series' own baseline (:func:`rca.anomaly.scores.exceedance`), so bursty series such as tail
        percentiles do not outscore a steady series that leaves its range; ``"zscore"``: BARO's
        robust z-score alone.
    persistence
        With ``"exceedance"``: the rise counted is the ``persistence``-th largest after the anomaly
        time (2: a single-sample spike is not a fault).
    traces
        When the case has spans before and after the anomaly time, add one series per service,
        ``<service>_call_delay``: how much longer calls into it spend outside it (network and
        queueing, :func:`call_delay_scores`).
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
        How services are ordered. ``"standout"``: by how far a service's series stands out above
        every other service's series of the same metric (:func:`standout_scores`), walked through
        the same graph, first in the metrics where faults arise (resources, call delays), then in
        symptom metrics (latency, errors), with the plain score ordering the series within a
        service and breaking the remaining ties between services (:meth:`_standout_order`);
        ``"score"``: by the best series score alone.
    min_fit_rows
        Below this many history rows no forecaster is trained (a forecaster cannot learn from a
        handful of rows; the ranking then uses anomaly scores and the call graph).
    clip
        Standardised values are clipped to ``[-clip, clip]`` for training.
    seed, threads, device
        Reproducibility and resources: torch threads and ``"auto"`` (GPU when present), ``"cpu"``, ...
    progress
        Optional callback receiving progress lines; nothing is printed otherwise.
    """

    name = "run"
    learns = True

    lags: int = 5
    encoder_dim: int = 16
    encoder_hidden: int = 32
    encoder_depth: int = 3
    pretraining: bool = True
    objective: Objective = "infonce"
    pretrain_epochs: int = 10
    epochs: int = 150
    lr: float = 1e-2
    sparsity: float = 1e-3
    edge_threshold: float = 0.3
    direction: Direction = "up"
    scoring: Scoring = "exceedance"
    persistence: int = 2
    traces: bool = True
    residuals: bool = False
    compress: bool = True
    graph: GraphSource = "both"
    service_prior: bool = True
    personalization: Personalization = "anomaly"
    pagerank: bool = True
    damping: float = 0.5
    mix: float = 0.25
    fusion: Fusion = "standout"
    min_fit_rows: int = 60
    clip: float = 10.0
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    progress: Callable[[str], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.model_: FittedModel | None = None
        self._graph_cache: tuple[FittedModel, tuple[Any, ...], nx.DiGraph] | None = None

    # ------------------------------------------------------------------ fit
    def fit(self, history: Telemetry) -> Self:
        """Learn the encoder, the Granger forecaster and the call graph from normal history."""
        started = time.perf_counter()
        frame = history.frame
        columns = [str(c) for c in frame.columns]
        values = frame.to_numpy(dtype=float)
        center, scale = _robust_stats(values)
        model = FittedModel(
            columns=columns,
            series={c: (str(history.series[c][0]), str(history.series[c][1])) for c in columns},
            center=center,
            scale=scale,
            calls=_observed_calls(history),
        )
        rows = len(frame)
        if rows >= max(self.min_fit_rows, 3 * self.lags + 10) and columns:
            self._train(model, self._standardise(model, values))
        else:
            model.report["skipped"] = f"{rows} history rows < {max(self.min_fit_rows, 3 * self.lags + 10)}"
        model.report["fit_seconds"] = round(time.perf_counter() - started, 3)
        self.model_ = model
        return self

    def _standardise(self, model: FittedModel, values: np.ndarray) -> np.ndarray:
        z = (values - model.center) / model.scale
        return np.asarray(np.clip(z, -self.clip, self.clip), dtype=float)

    def _train(self, model: FittedModel, z: np.ndarray) -> None:
        device = _device(self.device)
        with _torch_settings(self.threads, self.seed):
            encoder = CausalConvEncoder(self.encoder_hidden, self.encoder_dim, self.encoder_depth).to(device)
            if self.pretraining:
                report = pretrain(
                    encoder, z, objective=self.objective, epochs=self.pretrain_epochs, seed=self.seed,
                    progress=self.progress,
                )  # fmt: skip
                model.report["pretrain_loss"] = [report.first_loss, report.last_loss]
            encoder.eval()
            raw, features, targets = lagged_inputs(z, encoder, self.lags, device)
            forecaster = GrangerForecaster(len(model.columns), self.lags, self.encoder_dim).to(device)
            fr = train_forecaster(
                forecaster, raw, features, targets, sparsity=self.sparsity, epochs=self.epochs, lr=self.lr,
                seed=self.seed, progress=self.progress,
            )  # fmt: skip
            with torch.no_grad():
                residual = (forecaster(raw, features) - targets).cpu().numpy()
        model.encoder, model.forecaster = encoder, forecaster
        model.residual_scale = _residual_scale(residual)
        model.report.update(
            {"validation_mse": fr.validation_mse, "naive_mse": fr.naive_mse, "forecaster_epochs": fr.epochs}
        )

    # ------------------------------------------------------------------ rank
    def rank(self, case: Case) -> Ranking:
        """Rank the series and services of ``case`` (fits on ``case.normal()`` first if not fitted)."""
        started = time.perf_counter()
        if self.model_ is None:
            self.fit(case.normal())
        model = self.model_
        assert model is not None
        frame = case.frame
        columns = [str(c) for c in frame.columns]
        before = frame.index.to_numpy() < case.inject_time
        values = frame.to_numpy(dtype=float)
        if before.all() or not before.any():
            raise DataError(f"case {case.name!r} needs rows before and after the anomaly time")
        z = baseline_zscores(values[before], values[~before])
        onsets = onset_index(z)
        if self.direction == "up" and self.scoring == "exceedance":
            scores = exceedance(values[before], values[~before], persistence=self.persistence)
        elif self.direction == "up":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                scores = np.nan_to_num(np.nanmax(z, axis=0), nan=0.0).clip(min=0.0)
        else:
            scores = np.nan_to_num(max_abs(z))
        residual = self._residual_scores(model, frame, before) if self.residuals else None
        if residual is not None:
            scores = np.maximum(scores, np.nan_to_num(residual))
        series = {c: case.telemetry.series[c] for c in columns}
        if self.traces and case.telemetry.traces is not None:
            for service, score in call_delay_scores(case.telemetry.traces, case.inject_time).items():
                name = f"{service}_{CALL_DELAY}"
                if name not in series:
                    columns.append(name)
                    series[name] = (service, CALL_DELAY)
                    scores = np.append(scores, score)
                    onsets = np.append(onsets, -1)
        anomaly = dict(zip(columns, scores.tolist(), strict=True))
        if self.compress:
            scores = np.log1p(scores)
        seeds = dict(zip(columns, scores.tolist(), strict=True))

        graph = self._graph(model, case, columns, series)
        final, walk = self._combine(graph, seeds)
        if self.fusion == "standout":
            final = self._standout_order(graph, anomaly, series, final)
        symptom = case.symptom if case.symptom in anomaly else max(anomaly, key=lambda c: anomaly[c])
        times = frame.index.to_numpy()[~before]
        candidates = []
        for column in columns:
            i = columns.index(column)
            evidence: dict[str, Any] = {
                "anomaly_score": anomaly[column],
                "onset_time": None if onsets[i] < 0 else float(times[onsets[i]]),
            }
            if walk is not None:
                evidence["pagerank"] = walk.get(column, 0.0)
            candidates.append(Candidate(series[column][0], column, final[column], evidence))
        ordered = sort_candidates(candidates)
        paths = evidence_paths(graph, [str(c.metric) for c in ordered[:EVIDENCE_PATHS]], symptom)
        ordered = [
            Candidate(c.service, c.metric, c.score, {**c.evidence, "path": paths[str(c.metric)]})
            if k < EVIDENCE_PATHS
            else c
            for k, c in enumerate(ordered)
        ]
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

    def _residual_scores(self, model: FittedModel, frame: pd.DataFrame, before: np.ndarray) -> np.ndarray | None:
        """Max standardised one-step forecast residual after the anomaly time, per case column."""
        if not model.trained:
            return None
        assert model.encoder is not None and model.forecaster is not None and model.residual_scale is not None
        known = [c for c in frame.columns if c in set(model.columns)]
        if not known:
            return None
        aligned = frame.reindex(columns=model.columns).to_numpy(dtype=float)
        z = self._standardise(model, aligned)
        device = next(model.forecaster.parameters()).device
        with _torch_settings(self.threads, self.seed), torch.no_grad():
            raw, features, targets = lagged_inputs(z, model.encoder, self.lags, device)
            residual = (model.forecaster(raw, features) - targets).cpu().numpy() / model.residual_scale
        after = ~before[self.lags :]
        scores = max_abs(residual[after]) if after.any() else np.full(len(model.columns), np.nan)
        by_column = dict(zip(model.columns, scores.tolist(), strict=True))
        return np.array([by_column.get(c, np.nan) for c in frame.columns], dtype=float)

    def _graph(
        self, model: FittedModel, case: Case, columns: list[str], series: Mapping[str, tuple[str, str]]
    ) -> nx.DiGraph:
        """The causal graph over ``columns`` (read-only: the last one is reused for the same inputs)."""
        calls = _observed_calls(case.telemetry) or model.calls if self.graph in ("call", "both") else []
        key = (
            self.graph,
            self.edge_threshold,
            self.service_prior,
            tuple(calls),
            tuple((c, series[c]) for c in columns),
        )
        if self._graph_cache is not None and self._graph_cache[0] is model and self._graph_cache[1] == key:
            return self._graph_cache[2]  # an incident's cases share the model, the series and the calls
        parts, kinds = [], []
        if self.graph in ("learned", "both") and model.forecaster is not None:
            learned = granger_digraph(model.forecaster.granger_matrix(), model.columns, threshold=self.edge_threshold)
            parts.append(learned if set(learned) <= set(columns) else learned.subgraph(columns))
            kinds.append("learned")
        if self.graph in ("call", "both"):
            parts.append(call_digraph(calls, series))
            kinds.append("call")
        if self.service_prior:
            parts.append(resource_symptom_digraph(series))
            kinds.append("service")
        graph = merge(*parts, kinds=kinds) if parts else nx.DiGraph()
        graph.add_nodes_from(columns)
        self._graph_cache = (model, key, graph)
        return graph

    def _standout_order(
        self,
        graph: nx.DiGraph,
        anomaly: Mapping[str, float],
        series: Mapping[str, tuple[str, str]],
        within: Mapping[str, float],
    ) -> dict[str, float]:
        """Series scores that order services by where they stand out: causes, then symptoms, then ``within``.

        The margins of :func:`standout_scores`, walked through ``graph``, split in two tiers. A
        service is named first by standing out in a metric where a fault arises (its resources, USE;
        the delay of the calls into it), and only where no service does, by standing out in a
        symptom (latency, errors: RED, :func:`rca.data.case.is_symptom_metric`): a fault raises the
        symptoms of every service that waits on it, and a tail percentile of a pod with a handful of
        requests leaps on one slow call, so a symptom standing out does not locate a fault that a
        saturated resource or a slow link does (symptoms propagate upstream, causes do not: the
        premise of MicroRCA, Wu et al. NOMS 2020, and of CIRCA's descendant adjustment, Li et al.
        KDD 2022). Symptoms still seed the walk. The same holds within a service: its series that
        leave their normal range in a cause metric come before its symptoms, each group ordered by
        ``within``.
        """
        margins = standout_scores(anomaly, series)
        effect = {c: is_symptom_metric(series[c][1]) for c in margins}
        by_cause, _ = self._combine(graph, {c: 0.0 if effect[c] else m for c, m in margins.items()})
        by_symptom, _ = self._combine(graph, {c: m if effect[c] else 0.0 for c, m in margins.items()})
        top = _finite_max(within.values())
        causes_first = {  # lifted above every symptom of the service, keeping their own order
            c: v + (top if not effect[c] and anomaly[c] > NORMAL_RANGE else 0.0) for c, v in within.items()
        }
        return _lexicographic(by_cause, _lexicographic(by_symptom, causes_first, series), series)

    def _combine(
        self, graph: nx.DiGraph, anomaly: Mapping[str, float]
    ) -> tuple[dict[str, float], dict[str, float] | None]:
        total = sum(anomaly.values())
        seed = {c: (v / total if total > 0 else 0.0) for c, v in anomaly.items()}
        if not self.pagerank:
            return seed, None
        restart = seed if self.personalization == "anomaly" else None
        walk = {str(k): float(v) for k, v in root_cause_pagerank(graph, restart, alpha=self.damping).items()}
        if self.personalization == "uniform":
            return {c: walk.get(c, 0.0) for c in anomaly}, walk
        return {c: (1 - self.mix) * seed[c] + self.mix * walk.get(c, 0.0) for c in anomaly}, walk

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to directory ``path``: ``model.json`` and, if trained, ``weights.pt``."""
        model = self._require_model()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        params = {k: v for k, v in self.get_params().items() if k != "progress"}
        meta = {
            "format": FORMAT_VERSION,
            "method": self.name,
            "params": params,
            "columns": model.columns,
            "series": {c: list(s) for c, s in model.series.items()},
            "center": model.center.tolist(),
            "scale": model.scale.tolist(),
            "calls": [list(c) for c in model.calls],
            "residual_scale": None if model.residual_scale is None else model.residual_scale.tolist(),
            "trained": model.trained,
            "report": model.report,
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=1))
        if model.trained:
            assert model.encoder is not None and model.forecaster is not None
            state = {f"encoder.{k}": v.cpu() for k, v in model.encoder.state_dict().items()}
            state.update({f"forecaster.{k}": v.cpu() for k, v in model.forecaster.state_dict().items()})
            torch.save(state, directory / "weights.pt")
        return directory

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> RUN:
        """A fitted :class:`RUN` from a directory written by :meth:`save` (tensors loaded weights-only)."""
        directory = Path(path)
        meta = json.loads((directory / "model.json").read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("method") != cls.name:
            raise DataError("not a RUN model of a known format", path=directory / "model.json")
        method = cls(**{**meta["params"], **overrides})
        model = FittedModel(
            columns=list(meta["columns"]),
            series={c: (s[0], s[1]) for c, s in meta["series"].items()},
            center=np.array(meta["center"], dtype=float),
            scale=np.array(meta["scale"], dtype=float),
            calls=[(a, b, float(c)) for a, b, c in meta["calls"]],
            report=dict(meta["report"]),
        )
        if meta["trained"]:
            state = torch.load(directory / "weights.pt", map_location=_device(method.device), weights_only=True)
            encoder = CausalConvEncoder(method.encoder_hidden, method.encoder_dim, method.encoder_depth)
            forecaster = GrangerForecaster(len(model.columns), method.lags, method.encoder_dim)
            encoder.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
            forecaster.load_state_dict({k[11:]: v for k, v in state.items() if k.startswith("forecaster.")})
            device = _device(method.device)
            model.encoder, model.forecaster = encoder.to(device).eval(), forecaster.to(device).eval()
            model.residual_scale = np.array(meta["residual_scale"], dtype=float)
        method.model_ = model
        return method

    def _require_model(self) -> FittedModel:
        if self.model_ is None:
            raise RuntimeError("RUN is not fitted: call fit(history) first")
        return self.model_


def _residual_scale(residual: np.ndarray) -> np.ndarray:
    """Robust spread (IQR / 1.349, else std, else 1) of each column of in-sample residuals."""
    _, scale = _robust_stats(residual)
    return np.asarray(np.where(scale > 0, scale / 1.349, 1.0), dtype=float)


def call_delay_scores(spans: pd.DataFrame, inject_time: float) -> dict[str, float]:
    """Per service, how much longer calls into it spend outside it after ``inject_time``.

    For every caller -> callee pair, the median robust z-score of the calls' delays
    (:func:`rca.data.spans.call_delays`: the caller's span minus the callee's) after the anomaly
    time against those before it (:func:`rca.anomaly.scores.shift_score`); a service scores the
    median over its callers, floored at 0. Unlike a service's latency, which rises in every caller
    of a slow service, this gap rises only on the calls into the service whose network or
    admission is slow (the idea of locating latency at the edge where it arises, as in TraceRCA:
    Li et al., "Practical Root Cause Localization for Microservice Systems via Trace Analysis",
    IWQoS 2021). Services without calls on both sides of ``inject_time`` get no score.
    """
    delays = call_delays(spans)
    if delays.empty:
        return {}
    after = delays["start_ns"].to_numpy() / 1e9 >= inject_time
    delays = delays.assign(after=after)
    per_target: dict[str, list[float]] = {}
    for (_, target), group in delays.groupby(["source", "target"], sort=True):
        late = group["after"].to_numpy()
        score = shift_score(group["delay_ms"].to_numpy()[~late], group["delay_ms"].to_numpy()[late])
        if np.isfinite(score):
            per_target.setdefault(str(target), []).append(score)
    return {target: max(0.0, float(np.median(v))) for target, v in sorted(per_target.items())}


def standout_scores(
    scores: Mapping[str, float], series: Mapping[str, tuple[str, str]], *, normal: float = NORMAL_RANGE
) -> dict[str, float]:
    """How far each series rises above every other service's series of the same metric.

    ``log(1 + s) - max over the other services' series of that metric of log(1 + s')``, floored at 0
    (0 for a metric only one series has). A fault makes its service the most unusual one among its
    peers for some metric, whereas a cascade raises one metric in many services at once, and tail
    percentiles with bursty baselines are high everywhere: the margin over the runner-up of the
    same metric is comparable across metrics whose raw scores are not (peer comparison within a
    metric family; compare BARO's and CIRCA's per-metric scores, which are compared across metrics
    without it). A series scoring at most ``normal`` stays within its own normal range and stands
    out nowhere: the top of a family of unremarkable series singles out nothing.
    """
    families: dict[str, list[tuple[str, float]]] = {}
    for column, value in scores.items():
        families.setdefault(series[column][1], []).append((column, float(np.log1p(max(value, 0.0)))))
    floor = float(np.log1p(normal))
    out: dict[str, float] = {}
    for members in families.values():
        ordered = [*sorted((v for _, v in members), reverse=True), np.inf]  # a lone series has no peer to exceed
        for column, value in members:
            runner_up = ordered[1] if value >= ordered[0] else ordered[0]
            out[column] = max(value - runner_up, 0.0) if value > floor else 0.0
    return out


def _lexicographic(
    services_by: Mapping[str, float], within: Mapping[str, float], series: Mapping[str, tuple[str, str]]
) -> dict[str, float]:
    """Series scores that order services by ``services_by`` (best series) and then by ``within``.

    A series scores the number of services whose best ``services_by`` score is below its service's,
    plus its ``within`` score scaled into [0, 1): services tied on ``services_by`` are ordered by
    ``within``, and so are the series of a service.
    """
    best: dict[str, float] = {}
    for column, value in services_by.items():
        service = series[column][0]
        best[service] = max(best.get(service, -np.inf), value)
    levels = np.sort(np.array(list(best.values()), dtype=float))
    top = _finite_max(within.values())
    scale = 0.999 / top if top > 0 else 0.0
    return {
        column: float(np.searchsorted(levels, best[series[column][0]], side="left")) + scale * within[column]
        for column in within
    }


def _finite_max(values: Iterable[float]) -> float:
    """The largest finite value, and 0 when none is above it."""
    return max([v for v in values if np.isfinite(v)] + [0.0])


def _observed_calls(telemetry: Telemetry) -> list[tuple[str, str, float]]:
    """Caller -> callee service calls with counts, from spans, else from the known call graph."""
    if telemetry.traces is not None and len(telemetry.traces):
        edges = call_graph(telemetry.traces)
        return [(str(a), str(b), float(c)) for a, b, c in edges[["source", "target", "count"]].itertuples(index=False)]
    if telemetry.graph:
        return [(a, b, 1.0) for a, b in telemetry.graph]
    return []


__all__ = ["RUN", "FittedModel", "call_delay_scores", "standout_scores"]
