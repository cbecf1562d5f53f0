"""The group-lasso Granger model and counterfactual attribution (regression-based hypothesis test, CIRCA)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from rca.causal.group_lasso import GroupLassoGranger, extended_bic, group_soft_threshold
from rca.causal.rht import descendant_adjustment, granger_edges, regression_hypothesis_test
from tests.causal.conftest import VAR_EDGES, var_frame, var_series


def test_group_soft_threshold_zeroes_small_groups_exactly_and_shrinks_the_rest() -> None:
    weights = torch.tensor([[[0.3, 0.4], [3.0, 4.0]]])  # group norms 0.5 and 5
    out = group_soft_threshold(weights, torch.tensor([[1.0, 1.0]]))
    assert torch.equal(out[0, 0], torch.zeros(2))
    assert torch.allclose(out[0, 1], torch.tensor([3.0, 4.0]) * 0.8)


def test_group_lasso_recovers_a_sparse_var_with_exact_zeros_elsewhere() -> None:
    values = var_frame(rows=500).to_numpy()
    values = (values - values.mean(0)) / values.std(0)
    matrix = GroupLassoGranger(lags=2).fit(values).granger_matrix()
    learned = {(int(i), int(j)) for i, j in zip(*np.nonzero(matrix > 0), strict=True)}
    assert learned == VAR_EDGES
    assert np.all(np.diag(matrix) == 0)


def test_extended_bic_is_bic_plus_the_log_count_of_models_of_each_size() -> None:
    rss, rows, df = np.array([50.0, 40.0]), 100, np.array([3, 6])
    bic = rows * np.log(rss / rows) + df * np.log(rows)
    assert extended_bic(rss, rows, df, np.array([0, 1]), 10, gamma=0.0) == pytest.approx(bic)
    # one cause of 10 candidates: 10 models of that size, log 10 charged twice gamma
    ebic = extended_bic(rss, rows, df, np.array([0, 1]), 10, gamma=0.5)
    assert ebic == pytest.approx(bic + np.array([0.0, np.log(10)]))


def weak_var(rows: int, seed: int, n: int = 10) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """A VAR(1) over ``n`` standardised series whose 4 cross edges are as strong as its own persistence."""
    edges = {(0, 1), (2, 3), (4, 5), (6, 7)}
    x = var_series(edges, n, rows, seed, own=0.5, cross=0.5)
    return (x - x.mean(0)) / x.std(0), edges


def test_the_penalty_path_keeps_the_true_causes_where_its_smallest_penalty_lets_every_source_in() -> None:
    z, edges = weak_var(300, seed=0)
    path = GroupLassoGranger(lags=2).fit(z)
    learned = {(int(i), int(j)) for i, j in zip(*np.nonzero(path.granger_matrix() > 0), strict=True)}
    assert learned == edges
    assert path.alpha_ is not None and set(path.alpha_.tolist()) <= set(path.alphas)
    smallest = GroupLassoGranger(lags=2, alphas=(min(path.alphas),)).fit(z)
    assert np.array_equal(smallest.alpha_, np.full(10, min(path.alphas)))
    assert (smallest.granger_matrix() > 0).sum() > 10 * len(edges)  # the path's last fit alone: nearly dense


def test_group_lasso_refuses_too_few_rows_and_unfitted_use() -> None:
    with pytest.raises(ValueError, match="rows"):
        GroupLassoGranger(lags=3).fit(np.zeros((4, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        GroupLassoGranger().granger_matrix()


def amplifying_chain(rows: int = 300, after: int = 60, seed: int = 0) -> np.ndarray:
    """a -> b: ``b`` integrates ``a`` (gain 5), ``a`` gets a small sustained push after ``rows``."""
    rng = np.random.default_rng(seed)
    x = np.zeros((rows + after, 2))
    for t in range(1, rows + after):
        push = 0.5 if t >= rows else 0.0
        x[t, 0] = 0.5 * x[t - 1, 0] + rng.normal() + push
        x[t, 1] = 0.8 * x[t - 1, 1] + x[t - 1, 0] + 0.3 * rng.normal()
    return x


def test_the_cause_scores_above_the_effect_it_amplifies_and_magnitude_says_the_opposite() -> None:
    x = amplifying_chain()
    rows = 300
    z = (x - x[:rows].mean(0)) / x[:rows].std(0)
    shift = z[rows:].mean(0)
    assert shift[1] > shift[0]  # by magnitude the effect looks like the cause
    model = GroupLassoGranger(lags=2).fit(z[:rows])
    assert model.granger_matrix()[0, 1] > 0 and model.granger_matrix()[1, 0] == 0
    residuals = model.residuals(z)
    scores = regression_hypothesis_test(residuals, np.arange(len(residuals)) >= rows - 2)
    assert scores[0] > 3 > scores[1]


def test_regression_hypothesis_test_is_a_z_of_the_mean_after() -> None:
    residuals = np.array([[0.0, 1.0], [0.0, -1.0], [2.0, np.nan], [2.0, 1.0]])
    scores = regression_hypothesis_test(residuals, np.array([False, False, True, True]))
    assert scores == pytest.approx([4 / np.sqrt(2), 1.0])


def test_descendant_adjustment_passes_through_explained_children_only() -> None:
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "d"), ("d", "e")])
    scores = {"a": 4.0, "b": 1.0, "c": 9.0, "d": 5.0, "e": 20.0}
    adjusted = descendant_adjustment(scores, graph, threshold=3.0)
    # a reaches c through the explained b, and d (anomalous itself) but not beyond d
    assert adjusted["a"] == 4.0 + 9.0
    assert adjusted["d"] == 5.0 + 20.0
    assert adjusted["b"] == 1.0  # below the threshold: not adjusted


def test_descendant_adjustment_does_not_count_members_of_a_nodes_own_cycle() -> None:
    # a <-> b: each is the other's ancestor, so neither collects the other's score (they would tie at 9);
    # c, downstream of the cycle, is a descendant of b
    cyclic = nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")])
    adjusted = descendant_adjustment({"a": 4.0, "b": 5.0, "c": 2.0}, cyclic)
    assert adjusted == {"a": 4.0, "b": 5.0 + 2.0, "c": 2.0}


def test_granger_edges_keeps_the_non_zero_off_diagonal_entries() -> None:
    graph = granger_edges(np.array([[5.0, 0.2], [0.0, 0.0]]), ["x", "y"])
    assert list(graph.edges(data="weight")) == [("x", "y", 0.2)]
