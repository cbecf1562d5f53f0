"""The neural Granger estimator on its own: fit, forecast, residuals, save and load by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rca.causal.neural_granger import NeuralGranger
from rca.errors import DataError

from .conftest import var_frame


@pytest.fixture(scope="module")
def fitted() -> tuple[NeuralGranger, np.ndarray]:
    values = var_frame(rows=120).to_numpy()
    return NeuralGranger(pretrain_epochs=1, epochs=5, device="cpu").fit(values), values


def test_shapes_and_report(fitted: tuple[NeuralGranger, np.ndarray]) -> None:
    model, values = fitted
    rows, n = values.shape
    assert model.forecast(values).shape == (rows - model.lags, n)
    assert model.residuals(values).shape == (rows - model.lags, n)
    matrix = model.granger_matrix()
    assert matrix.shape == (n, n) and np.all(np.diag(matrix) == 0) and np.all(matrix >= 0)
    assert {"pretrain_loss", "validation_mse", "naive_mse", "forecaster_epochs"} <= set(model.report_)


def test_save_and_load_by_name(fitted: tuple[NeuralGranger, np.ndarray], tmp_path: Path) -> None:
    model, values = fitted
    model.save(tmp_path)
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert set(state) == {"encoder", "forecaster"}
    assert NeuralGranger.load(tmp_path, threads=1).threads == 1, "what does not shape the models can be overridden"
    loaded = NeuralGranger.load(tmp_path)
    assert loaded.epochs == model.epochs
    assert np.array_equal(loaded.granger_matrix(), model.granger_matrix())
    assert np.array_equal(loaded.residuals(values), model.residuals(values))


def test_unfitted_and_old_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        NeuralGranger().granger_matrix()
    with pytest.raises(DataError, match="retrain"):
        NeuralGranger.load(tmp_path)
    (tmp_path / "neural_granger.json").write_text(json.dumps({"format": 1}))
    with pytest.raises(DataError, match="format 1"):
        NeuralGranger.load(tmp_path)
