"""Behaviour of the RUN method and its parts on synthetic systems with known structure."""

from __future__ import annotations

import json
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
from rca.errors import DataError, NotFittedError
from rca.eval.metrics import service_rank
from rca.methods import get_method
from rca.methods.run import RUN

from .conftest import VAR_EDGES

FAST = {"pretrain_epochs": 3, "epochs": 60}


@pytest.fixture(scope="module")
def var_model(var_data: pd.DataFrame) -> RUN:
    return RUN(graph="learned", **FAST).fit(Telemetry.from_frame(var_data))


def test_var_edges_recovered(var_model: RUN) -> None:
    model = var_model.model_
    assert model is not None and model.granger is not None
    graph = granger_digraph(model.granger.granger_matrix(), list(range(6)), threshold=var_model.edge_threshold)
    found = set(graph.edges())
    precision = len(found & VAR_EDGES) / max(1, len(found))
    recall = len(found & VAR_EDGES) / len(VAR_EDGES)
    assert precision >= 0.75, found
    assert recall >= 0.75, found


def test_forecaster_beats_naive(var_model: RUN) -> None:
    report = var_model.fit_report()
    assert report["validation_mse"] < 0.8 * report["naive_mse"]


def test_granger_matrix_has_no_self_loops(var_model: RUN) -> None:
    assert var_model.model_ is not None and var_model.model_.granger is not None
    assert np.all(np.diag(var_model.model_.granger.granger_matrix()) == 0)


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
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "neural_granger.json", "weights.pt"]
    after = RUN.load(tmp_path / "model").rank(chain)
    assert [(c.metric, c.score) for c in before.candidates] == [(c.metric, c.score) for c in after.candidates]


def test_fit_ignores_post_anomaly_data(chain: Case) -> None:
    frame = chain.frame.copy()
    frame.loc[frame.index >= chain.inject_time] = 1e6  # tamper with the incident only
    tampered = replace(chain, telemetry=Telemetry.from_frame(frame))
    a = RUN(**FAST).fit(chain.normal()).model_
    b = RUN(**FAST).fit(tampered.normal()).model_
    assert a is not None and b is not None and a.granger is not None and b.granger is not None
    assert np.array_equal(a.granger.granger_matrix(), b.granger.granger_matrix())
    assert a.report["validation_mse"] == b.report["validation_mse"]


def test_rank_without_fit_is_refused(chain: Case) -> None:
    method = RUN(**FAST)
    with pytest.raises(NotFittedError, match="call fit"):
        method.rank(chain)
    assert method.model_ is None, "rank never fits on its own"


def test_short_history_skips_training_but_ranks(chain: Case) -> None:
    short = chain.telemetry.between(start=chain.inject_time - 10)
    case = replace(chain, telemetry=short)
    ranking = RUN(**FAST).fit(case.normal()).rank(case)
    assert not ranking.info["trained"]
    assert ranking.candidates[0].metric == "a_m"


def test_ablations_run(chain: Case) -> None:
    method = RUN(**FAST).fit(chain.normal())
    full = method.rank(chain)
    ablated = {}
    for name, value in (("pagerank", False), ("personalization", "uniform"), ("graph", "call")):
        default = getattr(method, name)
        setattr(method, name, value)  # rank-time parameters: the fitted model serves them all
        ablated[name] = method.rank(chain)
        setattr(method, name, default)
    assert "pagerank" in full.candidates[0].evidence and "pagerank" not in ablated["pagerank"].candidates[0].evidence
    assert ablated["pagerank"].candidates[0].metric == "a_m", "the anomaly scores alone still find the source"
    walked = [c.evidence["pagerank"] for c in full.candidates]
    assert [c.evidence["pagerank"] for c in ablated["personalization"].candidates] != walked
    assert full.graph and ablated["graph"].graph == (), "no call graph in the case, and learned edges are off"
    unpretrained = RUN(**FAST, pretraining=False).fit(chain.normal())
    assert "pretrain_loss" not in unpretrained.fit_report() and "pretrain_loss" in full.info
    assert unpretrained.rank(chain).candidates[0].metric == "a_m"
    for ranking in (full, *ablated.values()):
        assert sorted(c.metric for c in ranking.candidates) == ["a_m", "b_m", "c_m", "d_m"]


def _twin_services(calls: list[tuple[str, str]]) -> Case:
    """Services web and db whose CPU series are identical (both jump at the fault), plus a quiet one."""
    rng = np.random.default_rng(5)
    cpu = rng.normal(10.0, 1.0, 120)
    cpu[90:] += 12.0
    frame = pd.DataFrame(
        {"web_cpu": cpu, "db_cpu": cpu.copy(), "cache_cpu": rng.normal(10.0, 1.0, 120)},
        index=np.arange(120, dtype=float),
    )
    return Case("twins", Telemetry.from_frame(frame, graph=calls), inject_time=90.0)


@pytest.mark.parametrize(("calls", "cause"), [([("web", "db")], "db"), ([("db", "web")], "web")])
def test_the_call_graph_decides_between_equally_anomalous_services(calls: list[tuple[str, str]], cause: str) -> None:
    case = _twin_services(calls)
    ranking = RUN(graph="call", min_fit_rows=10**6).fit(case.normal()).rank(case)
    assert service_rank(ranking, cause) == 1, "the callee is where the caller's anomaly comes from"
    without = RUN(graph="call", pagerank=False, min_fit_rows=10**6).fit(case.normal()).rank(case)
    assert service_rank(without, cause) == 2, "without the walk the twins tie, and a tie is no answer"


def test_fit_and_rank_leave_torch_state_alone(chain: Case) -> None:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    rng = torch.random.get_rng_state()
    method = RUN(**FAST, threads=threads + 1, residuals=True, seed=7).fit(chain.normal())
    method.rank(chain)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.is_deterministic_algorithms_warn_only_enabled() == warn_only
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_models_of_the_old_format_are_refused_with_a_clear_error(chain: Case, tmp_path: Path) -> None:
    directory = RUN(**FAST).fit(chain.normal()).save(tmp_path / "model")
    meta = json.loads((directory / "model.json").read_text())
    (directory / "model.json").write_text(json.dumps({**meta, "format": 1}))
    with pytest.raises(DataError, match=r"format 1.*retrain"):
        RUN.load(directory)


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
