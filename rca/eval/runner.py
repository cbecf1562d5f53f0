"""Run methods over a dataset and score them (the ``rca eval`` JSON contract)."""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rca.data.case import Case, Telemetry
from rca.data.datasets import discover
from rca.data.preprocess import preprocess
from rca.data.variants import VARIANTS
from rca.eval.metrics import accuracy_at_k, average_at_k, metric_rank, service_rank
from rca.methods import get_method
from rca.methods.base import RCAMethod

ProgressCallback = Callable[[str, str], None]
"""Called with (case name, method name) after each method has run on a case."""


@dataclass
class MethodSpec:
    """A method name with its constructor parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> RCAMethod:
        return get_method(self.name, **self.params)


def _record(case_name: str, *, root_cause: str | None = None, error: str | None = None) -> dict[str, Any]:
    """A per-case record of the contract, before any result."""
    return {
        "case": case_name,
        "root_cause": root_cause,
        "rank": None,
        "metric_rank": None,
        "top5": [],
        "seconds": None,
        "rank_seconds": None,
        "fit_rows": None,
        "fit_seconds": None,
        "error": error,
    }


def fit_data(case: Case, *, history: bool) -> Telemetry:
    """What a learning method fits on: the case's fault-free history (``history=True``, where the case
    has one; only the case's own series) or else its baseline; never a row at or after the anomaly."""
    if history and case.history is not None:
        columns = [c for c in case.frame.columns if c in case.history.frame.columns]
        data = case.history.with_columns(columns)
    else:
        data = case.normal()
    if len(data.frame) and float(data.frame.index.max()) >= case.inject_time:
        raise AssertionError(f"fit data of {case.name} reaches the anomaly time {case.inject_time:g}")
    return data


def run_case(method: RCAMethod, case: Case, *, history: bool = False) -> dict[str, Any]:
    """Fit (for learning methods: on the case's baseline, or its history with ``history``) and rank
    one case; score the result."""
    label = case.root_cause
    started = time.perf_counter()
    record = _record(case.name, root_cause=None if label is None else label.service)
    try:
        if method.learns:
            data = fit_data(case, history=history)
            method.fit(data)
            record["fit_rows"] = len(data.frame)
            record["fit_seconds"] = round(time.perf_counter() - started, 4)
        ranked = time.perf_counter()
        ranking = method.rank(case)
        record["rank_seconds"] = round(time.perf_counter() - ranked, 4)
    except Exception as exc:  # noqa: BLE001 - a failing case is a reported miss, never a crash
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=5)
    else:
        if label is not None:
            record["rank"] = service_rank(ranking, label.service)
            if label.metric:
                record["metric_rank"] = metric_rank(ranking, label.metric)
        record["top5"] = [service for service, _ in ranking.services()[:5]]
    record["seconds"] = round(time.perf_counter() - started, 4)
    return record


def summarise(records: Sequence[dict[str, Any]], *, metric_labelled: Sequence[bool]) -> dict[str, Any]:
    """The ``summary`` block of the contract from per-case records."""
    ranks = [r["rank"] for r in records]
    metric_ranks = [r["metric_rank"] for r, has in zip(records, metric_labelled, strict=True) if has]
    seconds = [r["seconds"] for r in records if r["seconds"] is not None]
    rank_seconds = [r["rank_seconds"] for r in records if r["rank_seconds"] is not None]
    summary: dict[str, Any] = {"cases": len(records)}
    for k in (1, 2, 3, 4, 5):
        summary[f"AC@{k}"] = accuracy_at_k(ranks, k)
    summary["Avg@5"] = average_at_k(ranks, 5)
    summary["metric_cases"] = len(metric_ranks)
    summary["metric_AC@1"] = accuracy_at_k(metric_ranks, 1) if metric_ranks else None
    summary["metric_AC@3"] = accuracy_at_k(metric_ranks, 3) if metric_ranks else None
    summary["metric_Avg@5"] = average_at_k(metric_ranks, 5) if metric_ranks else None
    summary["seconds_median"] = statistics.median(seconds) if seconds else None
    summary["seconds_total"] = round(sum(seconds), 3)
    summary["rank_seconds_median"] = statistics.median(rank_seconds) if rank_seconds else None
    fit_seconds = [r["fit_seconds"] for r in records if r.get("fit_seconds") is not None]
    summary["fit_seconds_median"] = statistics.median(fit_seconds) if fit_seconds else None
    summary["errors"] = sum(1 for r in records if r["error"])
    return summary


def evaluate(
    dataset: str | Path,
    methods: Sequence[MethodSpec],
    *,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int], None] | None = None,
    history: bool = False,
    variant: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``methods`` on every case of ``dataset``.

    Every method sees the same preprocessed case (:func:`rca.data.preprocess.preprocess`). A case
    that fails to load counts as an error for every method; a method that raises on a case counts
    as a miss and is reported in ``errors``; neither is dropped. With ``history``, learning methods
    fit on each case's fault-free history where it has one (:func:`fit_data`); ``variant`` names a
    transform of :data:`rca.data.variants.VARIANTS` applied to every case before preprocessing.

    Returns
    -------
    dict
        ``{"dataset": ..., "results": [{"method", "params", "summary", "cases"}, ...]}``.
    """
    transform = VARIANTS[variant] if variant is not None else None
    refs = discover(dataset)
    if limit is not None:
        refs = refs[:limit]
    if on_start is not None:
        on_start(len(refs) * len(methods))
    instances = [spec.build() for spec in methods]
    per_method: list[list[dict[str, Any]]] = [[] for _ in methods]
    metric_labelled: list[bool] = []
    for ref in refs:
        try:
            loaded = ref.load()
            case = preprocess(transform(loaded) if transform is not None else loaded)
        except Exception as exc:  # noqa: BLE001 - reported per case
            metric_labelled.append(False)
            for records, spec in zip(per_method, methods, strict=True):
                records.append(_record(ref.name, error=f"loading failed: {type(exc).__name__}: {exc}"))
                if progress:
                    progress(ref.name, spec.name)
            continue
        metric_labelled.append(case.root_cause is not None and case.root_cause.metric is not None)
        for records, spec, index in zip(per_method, methods, range(len(methods)), strict=True):
            method = instances[index] if not instances[index].learns else spec.build()
            records.append(run_case(method, case, history=history))
            if progress:
                progress(ref.name, spec.name)
    results = []
    for spec, instance, records in zip(methods, instances, per_method, strict=True):
        results.append(
            {
                "method": spec.name,
                "params": instance.get_params(),
                "summary": summarise(records, metric_labelled=metric_labelled),
                "cases": records,
            }
        )
    report: dict[str, Any] = {"dataset": str(dataset), "results": results}
    if history or variant:  # additive fields: how the cases were read
        report["history"], report["variant"] = history, variant
    return report
