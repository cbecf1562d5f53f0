"""The parameters of the neural Granger model, importable without torch (the ``ml`` extra).

:class:`NeuralGrangerParams` is also :class:`rca.methods.run.RUN`'s, so the method registry, the API and
``rca serve`` load without torch; :func:`neural_granger` imports the estimator when one is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from rca.extras import require

if TYPE_CHECKING:
    from rca.causal.neural_granger import NeuralGranger

Objective = Literal["infonce", "simsiam"]
"""Contrastive pretraining objective (:func:`rca.causal.contrastive.pretrain`)."""


@dataclass
class NeuralGrangerParams:
    """The parameters of :class:`NeuralGranger` (shared with the methods that build one).

    Parameters
    ----------
    lags
        Granger lag window (steps).
    encoder_dim, encoder_hidden, encoder_depth
        Encoder representation size, hidden channels, and number of dilated blocks.
    pretraining
        Pretrain the encoder contrastively (``False``: a randomly initialised, frozen encoder).
    objective
        ``"infonce"`` (TS2Vec, with negatives) or ``"simsiam"`` (no negatives).
    pretrain_epochs, pretrain_steps
        Pretraining stops after ``pretrain_epochs`` epochs or ``pretrain_steps`` optimiser steps, whichever
        comes first (an epoch draws each series once on average, so its cost grows with the number of
        series; the step cap bounds it on wide systems, as TS2Vec's iteration cap does).
    epochs, lr, sparsity
        Forecaster training: maximum epochs (early stopping on a held-out tail), learning rate, and the
        L1 weight on the off-diagonal attention.
    seed, threads, device
        Reproducibility and resources: torch threads and ``"auto"`` (GPU when present), ``"cpu"``, ...
    progress
        Optional callback receiving progress lines; nothing is printed otherwise.
    """

    lags: int = 5
    encoder_dim: int = 16
    encoder_hidden: int = 32
    encoder_depth: int = 3
    pretraining: bool = True
    objective: Objective = "infonce"
    pretrain_epochs: int = 10
    pretrain_steps: int = 200
    epochs: int = 150
    lr: float = 1e-2
    sparsity: float = 1e-3
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    progress: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def granger_params(self) -> dict[str, Any]:
        """These parameters by name (what builds a :class:`NeuralGranger`)."""
        return {f.name: getattr(self, f.name) for f in fields(NeuralGrangerParams)}


def neural_granger() -> type[NeuralGranger]:
    """The :class:`rca.causal.neural_granger.NeuralGranger` class; a one-line error without torch."""
    module = require("rca.causal.neural_granger", "the neural Granger model (method run, fitted)")
    cls: type[NeuralGranger] = module.NeuralGranger
    return cls
