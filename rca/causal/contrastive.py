"""A per-series temporal encoder pretrained by contrasting two augmented views of the same time steps.

One encoder is shared by every series of a system (channel-independent, as in PatchTST), so a single
pretraining on normal history serves all of them. The encoder is a stack of *causal* dilated
convolutions: the representation at time ``t`` depends only on values up to ``t``, which is what the
Granger forecaster built on top of it needs.

Pretraining follows TS2Vec (Yue et al., AAAI 2022): two overlapping crops of one series, each with a
different left context, independently jittered, scaled and masked; the representations of the
*shared* time steps are positives. Two objectives are available:

* ``"infonce"``: TS2Vec's hierarchical contrastive loss, InfoNCE with true positives (the same time
  step in the other view) against negatives from other series (instance contrast) and other time
  steps (temporal contrast), at several max-pooled time scales, with cosine similarity and a
  temperature.
* ``"simsiam"``: the variant without negatives the RUN paper argues for, as SimSiam (Chen and He,
  CVPR 2021): a predictor on one branch and a stop-gradient on the other, negative cosine similarity.

References
----------
Yue et al., "TS2Vec: Towards Universal Representation of Time Series", AAAI 2022.
Chen and He, "Exploring Simple Siamese Representation Learning", CVPR 2021.
Lin et al., "Root Cause Analysis in Microservice Using Neural Granger Causal Discovery", AAAI 2024.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rca.causal.granger_params import Objective


class CausalConvEncoder(nn.Module):
    """Causal dilated convolutions over time, applied to each series independently.

    Input ``(B, T, 2)``: the standardised value and an "observed" flag (0 where the value is missing or
    masked). Output ``(B, T, dim)``. The receptive field is ``1 + (kernel - 1) * sum(dilations)``.

    Parameters
    ----------
    hidden
        Channels of the hidden layers.
    dim
        Size of the representation of each time step.
    depth
        Number of residual blocks; block ``k`` has dilation ``2**k``.
    kernel
        Convolution kernel size.
    """

    def __init__(self, hidden: int = 32, dim: int = 16, depth: int = 3, kernel: int = 3) -> None:
        super().__init__()
        self.kernel = kernel
        self.dilations = [2**k for k in range(depth)]
        self.inp = nn.Linear(2, hidden)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, dilation=d) for d in self.dilations)
        self.out = nn.Linear(hidden, dim)

    @property
    def receptive_field(self) -> int:
        """How many time steps one output step sees."""
        return int(1 + (self.kernel - 1) * sum(self.dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x).transpose(1, 2)  # (B, hidden, T)
        for conv, d in zip(self.convs, self.dilations, strict=True):
            pad = (self.kernel - 1) * d
            h = h + F.gelu(conv(F.pad(h, (pad, 0))))
        out: torch.Tensor = self.out(h.transpose(1, 2))
        return out


def with_mask_channel(values: torch.Tensor) -> torch.Tensor:
    """``(…, T)`` values with NaN for missing -> ``(…, T, 2)`` encoder input (value, observed flag)."""
    observed = torch.isfinite(values)
    return torch.stack([torch.where(observed, values, torch.zeros_like(values)), observed.to(values.dtype)], dim=-1)


def _augment(x: torch.Tensor, generator: torch.Generator, jitter: float, scale: float, mask: float) -> torch.Tensor:
    """Jitter, per-crop scaling and random time-step masking of ``(B, T, 2)`` encoder input."""
    b, t, _ = x.shape
    values, observed = x[..., 0], x[..., 1]
    # drawn on the (CPU) generator's device, then moved: the same draws on every device
    cpu = generator.device
    factor = 1.0 + scale * torch.randn(b, 1, generator=generator, device=cpu).to(x.device)
    values = values * factor + jitter * torch.randn(b, t, generator=generator, device=cpu).to(x.device)
    keep = (torch.rand(b, t, generator=generator, device=cpu) >= mask).to(device=x.device, dtype=x.dtype)
    observed = observed * keep
    return torch.stack([values * observed, observed], dim=-1)


def _instance_contrast(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE across the batch at each time step: the other view of the same series is the positive."""
    b = z1.shape[0]
    if b == 1:
        return z1.new_zeros(())
    z = F.normalize(torch.cat([z1, z2], dim=0).transpose(0, 1), dim=-1)  # (T, 2B, D)
    sim = z @ z.transpose(1, 2) / temperature  # (T, 2B, 2B)
    eye = torch.eye(2 * b, dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b, device=sim.device), torch.arange(0, b, device=sim.device)])
    return F.cross_entropy(sim.reshape(-1, 2 * b), target.repeat(sim.shape[0]))


def _temporal_contrast(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE across time within a series: the same time step in the other view is the positive."""
    t = z1.shape[1]
    if t == 1:
        return z1.new_zeros(())
    z = F.normalize(torch.cat([z1, z2], dim=1), dim=-1)  # (B, 2T, D)
    sim = z @ z.transpose(1, 2) / temperature
    eye = torch.eye(2 * t, dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(t, 2 * t, device=sim.device), torch.arange(0, t, device=sim.device)])
    return F.cross_entropy(sim.reshape(-1, 2 * t), target.repeat(sim.shape[0]))


def hierarchical_infonce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """TS2Vec's hierarchical contrastive loss of two aligned views ``(B, T, D)``.

    At each level the instance and temporal InfoNCE losses are averaged; the views are then max-pooled
    by 2 along time, down to one step. Each positive pair is singled out (the diagonal of the
    cross-view similarity), unlike RUN's published loss, which averages all pairs.
    """
    total = z1.new_zeros(())
    levels = 0
    while True:
        total = total + 0.5 * (_instance_contrast(z1, z2, temperature) + _temporal_contrast(z1, z2, temperature))
        levels += 1
        if z1.shape[1] == 1:
            break
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2, ceil_mode=True).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2, ceil_mode=True).transpose(1, 2)
    return total / levels


def simsiam_loss(p1: torch.Tensor, z2: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Symmetric negative cosine similarity with stop-gradient on the targets (no negatives)."""
    return -0.5 * (
        F.cosine_similarity(p1, z2.detach(), dim=-1).mean() + F.cosine_similarity(p2, z1.detach(), dim=-1).mean()
    )


@dataclass
class PretrainReport:
    """What pretraining did: the loss of the first and the last epoch and the number of steps."""

    first_loss: float
    last_loss: float
    steps: int


def pretrain(
    encoder: CausalConvEncoder,
    data: np.ndarray,
    *,
    objective: Objective = "infonce",
    epochs: int = 20,
    max_steps: int | None = None,
    batch_size: int = 32,
    crop: int = 48,
    lr: float = 1e-3,
    temperature: float = 0.2,
    jitter: float = 0.1,
    scale: float = 0.1,
    mask: float = 0.1,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> PretrainReport:
    """Pretrain ``encoder`` on the standardised history ``data`` ``(T, N)`` (NaN = missing).

    Each step draws ``batch_size`` series and, for each, two crops of at most ``crop`` steps that share
    an overlap and start at different points, so the shared steps are seen with different (causal)
    contexts. Both crops are augmented independently (jitter, scaling, masking). An epoch is as many
    steps as it takes to draw each series' history once on average; training stops after ``epochs``
    epochs or ``max_steps`` steps, whichever comes first (TS2Vec's ``n_epochs`` and ``n_iters``): the
    encoder is shared by all series, so what it can learn is bounded by its size, not by how many
    series there are, while the cost of an epoch grows with their number.

    Returns
    -------
    PretrainReport
        First and last epoch losses (the last is lower when pretraining learned something).
    """
    t_len, n = data.shape
    device = next(encoder.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    values = torch.tensor(data.T, dtype=torch.float32, device=device)  # (N, T), a copy: data may be read-only
    with torch.device("cpu"):  # built on the CPU, as the encoder: the same initial weights on every device
        predictor = nn.Sequential(
            nn.Linear(encoder.out.out_features, 32), nn.GELU(), nn.Linear(32, encoder.out.out_features)
        )
    predictor = predictor.to(device)
    params = list(encoder.parameters()) + (list(predictor.parameters()) if objective == "simsiam" else [])
    optimiser = torch.optim.Adam(params, lr=lr)
    crop = min(crop, t_len)
    steps_per_epoch = max(1, (n * max(1, t_len // crop)) // batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(epochs * steps_per_epoch, max_steps)
    losses: list[float] = []
    epoch_loss, epoch_steps = 0.0, 0
    for step in range(total):
        loss = contrastive_step_loss(
            encoder, predictor, values, generator, objective=objective, batch_size=batch_size, crop=crop,
            temperature=temperature, jitter=jitter, scale=scale, mask=mask,
        )  # fmt: skip
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        epoch_loss += loss.item()
        epoch_steps += 1
        if epoch_steps == steps_per_epoch or step == total - 1:
            losses.append(epoch_loss / epoch_steps)
            epoch_loss, epoch_steps = 0.0, 0
            if progress is not None:
                progress(f"pretrain epoch {len(losses)}/{epochs} step {step + 1}/{total} loss {losses[-1]:.4f}")
    return PretrainReport(first_loss=losses[0], last_loss=losses[-1], steps=total)


def contrastive_step_loss(
    encoder: CausalConvEncoder,
    predictor: nn.Module,
    values: torch.Tensor,
    generator: torch.Generator,
    *,
    objective: Objective,
    batch_size: int,
    crop: int,
    temperature: float,
    jitter: float,
    scale: float,
    mask: float,
) -> torch.Tensor:
    """The loss of one pretraining step on ``values`` ``(N, T)`` (on the encoder's device).

    Draws ``batch_size`` series and, for each, two crops of ``crop`` steps that end together and share
    an overlap of random length; the random draws come from the CPU ``generator`` so a seed gives the
    same steps on every device.
    """
    n, t_len = values.shape
    crop = min(crop, t_len)
    min_overlap = max(2, crop // 4)
    cpu = generator.device
    rows = torch.randint(0, n, (batch_size,), generator=generator, device=cpu).to(values.device)
    # Overlap [a, b); both crops end at b and start at or before a, at different points. Each is
    # left-padded with missing values to ``crop`` steps so every step has the same tensor shape.
    overlap = int(torch.randint(min_overlap, crop + 1, (1,), generator=generator, device=cpu))
    a = int(torch.randint(0, t_len - overlap + 1, (1,), generator=generator, device=cpu))
    b = a + overlap
    room = crop - overlap
    views = []
    for _view in range(2):
        start = max(0, a - int(torch.randint(0, room + 1, (1,), generator=generator, device=cpu)))
        window = F.pad(values[rows, start:b], (crop - (b - start), 0), value=float("nan"))
        views.append(_augment(with_mask_channel(window), generator, jitter, scale, mask))
    # one encoder pass over both views (each crop is encoded on its own, so this is the same function)
    z1, z2 = encoder(torch.cat(views))[:, -overlap:].chunk(2)
    if objective == "infonce":
        return hierarchical_infonce(z1, z2, temperature)
    return simsiam_loss(predictor(z1), z2, predictor(z2), z1)
