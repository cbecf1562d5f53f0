"""Behaviour of the RUN method and its parts on synthetic systems with known structure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rca.causal.contrastive import hierarchical_infonce
from rca.causal.forecaster import masked_mse
from rca.causal.graph import granger_digraph
from rca.data.case import Case, Telemetry
from rca.methods import get_method
from rca.methods.run import RUN

from .conftest import VAR_EDGES

FAST = {"pretrain_epochs": 3, "epochs": 60}


@pytest.fixture(scope="module")
def var_model(var_data: pd.DataFrame) -> RUN:
    return RUN(graph="learned", **FAST).fit(Telemetry.from_frame(var_data))


def test_var_edges_recovered(var_model: RUN) -> None:
    model = var_model.model_
    assert model is not None and model.forecaster is not None
    graph = granger_digraph(model.forecaster.granger_matrix(), list(range(6)), threshold=var_model.edge_threshold)
    found = set(graph.edges())
    precision = len(found & VAR_EDGES) / max(1, len(found))
    recall = len(found & VAR_EDGES) / len(VAR_EDGES)
    assert precision >= 0.75, found
    assert recall >= 0.75, found


def test_forecaster_beats_naive(var_model: RUN) -> None:
    report = var_model.model_.report if var_model.model_ else {}
    assert report["validation_mse"] < 0.8 * report["naive_mse"]


def test_granger_matrix_has_no_self_loops(var_model: RUN) -> None:
    assert var_model.model_ is not None and var_model.model_.forecaster is not None
    assert np.all(np.diag(var_model.model_.forecaster.granger_matrix()) == 0)


def test_chain_fault_ranked_at_source(chain: Case) -> None:
    ranking = RUN(graph="learned", **FAST).fit(chain.normal()).rank(chain)
    assert ranking.candidates[0].metric == "a_m"
    assert all(a != b for a, b, _ in ranking.graph)
    assert ranking.info["trained"]
    assert ranking.candidates[0].evidence["path"][0] == "a_m"


def test_deterministic(chain: Case) -> None:
    first = RUN(**FAST).fit(chain.normal()).rank(chain)
    second = RUN(**FAST).fit(chain.normal()).rank(chain)
    assert [(c.metric, c.score) for c in first.candidates] == [(c.metric, c.score) for c in second.candidates]
    assert first.graph == second.graph


def test_save_load_same_ranking(chain: Case, tmp_path: Path) -> None:
    method = RUN(residuals=True, **FAST).fit(chain.normal())
    before = method.rank(chain)
    method.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "weights.pt"]
    after = RUN.load(tmp_path / "model").rank(chain)
    assert [(c.metric, c.score) for c in before.candidates] == [(c.metric, c.score) for c in after.candidates]


def test_fit_ignores_post_anomaly_data(chain: Case) -> None:
    frame = chain.frame.copy()
    frame.loc[frame.index >= chain.inject_time] = 1e6  # tamper with the incident only
    tampered = replace(chain, telemetry=Telemetry.from_frame(frame))
    a = RUN(**FAST).fit(chain.normal()).model_
    b = RUN(**FAST).fit(tampered.normal()).model_
    assert a is not None and b is not None and a.forecaster is not None and b.forecaster is not None
    assert np.array_equal(a.forecaster.granger_matrix(), b.forecaster.granger_matrix())
    assert a.report["validation_mse"] == b.report["validation_mse"]


def test_rank_without_fit_fits_on_baseline_only(chain: Case) -> None:
    method = RUN(**FAST)
    method.rank(chain)
    assert method.model_ is not None
    assert method.model_.report["fit_seconds"] >= 0
    fitted = RUN(**FAST).fit(chain.normal()).model_
    assert fitted is not None and method.model_.forecaster is not None and fitted.forecaster is not None
    assert np.array_equal(method.model_.forecaster.granger_matrix(), fitted.forecaster.granger_matrix())


def test_short_history_skips_training_but_ranks(chain: Case) -> None:
    short = chain.telemetry.between(start=chain.inject_time - 10)
    case = replace(chain, telemetry=short)
    ranking = RUN(**FAST).fit(case.normal()).rank(case)
    assert not ranking.info["trained"]
    assert ranking.candidates[0].metric == "a_m"


def test_ablations_run(chain: Case) -> None:
    for params in ({"pagerank": False}, {"personalization": "uniform"}, {"pretraining": False}, {"graph": "call"}):
        ranking = RUN(**FAST, **params).fit(chain.normal()).rank(chain)  # type: ignore[arg-type]
        assert len(ranking.candidates) == 4


def test_registered() -> None:
    assert isinstance(get_method("run", epochs=5), RUN)


def test_masked_mse_refuses_broadcasting() -> None:
    with pytest.raises(ValueError):
        masked_mse(torch.zeros(8, 1, 1), torch.zeros(8, 1))


def test_infonce_singles_out_positives() -> None:
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(8, 6, 4, generator=gen)
    aligned = hierarchical_infonce(z, z + 0.01 * torch.randn(8, 6, 4, generator=gen))
    shuffled = hierarchical_infonce(z, torch.randn(8, 6, 4, generator=gen))
    assert aligned < shuffled


def test_call_graph_edges_point_callee_to_caller() -> None:
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(80, 2)) + np.r_[np.zeros(60), np.full(20, 5.0)][:, None] * [0, 1],
        columns=["front_lat", "back_cpu"],
        index=np.arange(80, dtype=float),
    )
    telemetry = Telemetry.from_frame(frame, graph=[("front", "back")])
    case = Case("calls", telemetry, inject_time=60.0)
    ranking = RUN(graph="call", **FAST).fit(case.normal()).rank(case)
    assert ("back_cpu", "front_lat") in {(a, b) for a, b, _ in ranking.graph}
    assert ranking.candidates[0].service == "back"
