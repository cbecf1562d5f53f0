"""Every tensor of the neural Granger models lives on the model's device, including those built in losses.

Checked without a GPU on PyTorch's ``meta`` device: meta tensors carry shapes but no data, and an
operation mixing a meta tensor with a CPU tensor raises, so a tensor built without ``device=`` anywhere
in a forward pass, a loss, a penalty or a backward pass fails these tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rca.causal.contrastive import CausalConvEncoder, contrastive_step_loss
from rca.causal.forecaster import GrangerForecaster, lagged_inputs, masked_mse
from rca.causal.lagged import LaggedCounterfactual
from rca.data.case import Case, RootCause, Telemetry
from rca.methods import get_method

META = torch.device("meta")


def _all_on(module: torch.nn.Module, device: torch.device) -> bool:
    return all(p.device == device for p in module.parameters()) and all(
        p.grad is None or p.grad.device == device for p in module.parameters()
    )


def test_mixing_a_cpu_tensor_into_meta_raises() -> None:
    """The premise of the checks below: a tensor left on the CPU is caught."""
    with pytest.raises((RuntimeError, NotImplementedError)):
        _ = torch.zeros(3, device=META) * (1.0 - torch.eye(3)[0])


@pytest.mark.parametrize("objective", ["infonce", "simsiam"])
def test_contrastive_step_stays_on_the_device(objective: str) -> None:
    encoder = CausalConvEncoder(hidden=8, dim=4, depth=2).to(META)
    predictor = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 4)).to(META)
    values = torch.empty(6, 40, device=META)
    loss = contrastive_step_loss(
        encoder, predictor, values, torch.Generator().manual_seed(0), objective=objective,  # type: ignore[arg-type]
        batch_size=5, crop=16, temperature=0.2, jitter=0.1, scale=0.1, mask=0.1,
    )  # fmt: skip
    assert loss.device == META and loss.shape == ()
    loss.backward()  # type: ignore[no-untyped-call]
    assert _all_on(encoder, META)
    assert all(p.grad is not None for p in encoder.parameters())


def test_forecaster_training_step_stays_on_the_device() -> None:
    n, lags = 5, 3
    encoder = CausalConvEncoder(hidden=8, dim=4, depth=2).to(META)
    values = np.random.default_rng(0).normal(size=(30, n))
    values[3, 1] = np.nan  # missing values take their own path (masks)
    inputs, targets = lagged_inputs(values, encoder, lags, META)
    assert {inputs.device, targets.device} == {META}
    model = GrangerForecaster(n, lags, feature_dim=4).to(META)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = masked_mse(model(inputs), targets) + 1e-3 * model.off_diagonal_l1()
    assert loss.device == META
    optimiser.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    optimiser.step()
    assert _all_on(model, META)
    assert model.attention.grad is not None


def test_group_lasso_fit_builds_every_tensor_on_its_device() -> None:
    """The learned causes' group lasso (:class:`rca.causal.lagged.LaggedCounterfactual`) fitted on the CPU
    with ``meta`` as torch's default device: a tensor made without ``device=`` lands on ``meta``, and the
    first operation mixing it with the fit's CPU tensors raises. The fit runs to the end (it needs data)."""
    values = np.random.default_rng(0).normal(size=(80, 6))
    values[5, 2] = np.nan  # missing values take their own path (weights, masks)
    with META:
        model = LaggedCounterfactual(lags=2, iterations=5, device="cpu", threads=1).fit(values)
    assert model.coef_ is not None and model.coef_.shape == (6, 6, 2)
    assert np.isfinite(model.coef_).all()


@pytest.mark.parametrize("objective", ["infonce", "simsiam"])
def test_run_fit_and_rank_build_every_tensor_on_their_device(objective: str) -> None:
    """All of ``run`` on the CPU with ``meta`` as torch's default device: contrastive pretraining, the
    forecaster's training loop (batches, validation, early stopping), the learned causes' group lasso and
    the rank. A tensor made without ``device=`` lands on ``meta`` and the first operation mixing it with
    the CPU tensors raises; modules are built on the CPU on purpose (the same initial weights on every
    device) and the random draws come from a CPU generator, both explicitly."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(140, 5)).cumsum(axis=0)
    values[100:, 2] += 8.0  # a fault in c_cpu from row 100 on
    values[5, 1] = np.nan
    frame = pd.DataFrame(values, columns=[f"{s}_cpu" for s in "abcde"], index=np.arange(140) * 60.0)
    case = Case("device", Telemetry.from_frame(frame), inject_time=100 * 60.0, root_cause=RootCause("c", "c_cpu"))
    method = get_method("run", device="cpu", threads=1, objective=objective, pretrain_steps=4, epochs=3)
    with META:
        method.fit(case.normal())
        ranking = method.rank(case)
    report = method.fit_report()
    assert report["pretrain_steps"] == 4 and report["forecaster_epochs"] == 3 and "lagged_series" in report
    assert {c.service for c in ranking.candidates} == set("abcde")
