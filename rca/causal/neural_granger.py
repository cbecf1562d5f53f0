"""Neural Granger causal discovery as one estimator: pretrain an encoder, fit a forecaster, read its graph.

:class:`NeuralGranger` wraps the two models of RUN's causal part and their training loops
(:mod:`rca.causal.contrastive` for the encoder, :mod:`rca.causal.forecaster` for the Granger
forecaster) behind ``fit(values)``, ``forecast``/``residuals`` and ``granger_matrix()``, and saves
them by name. Every call runs seeded, deterministic and on a fixed number of threads, and leaves
torch's process-wide state (threads, deterministic flags, global random generator) as it found it.

References
----------
Lin, Chen, Wang, Zheng. "Root Cause Analysis in Microservice Using Neural Granger Causal Discovery",
AAAI 2024.
Tank, Covert, Foti, Shojaie, Fox. "Neural Granger Causality", IEEE TPAMI 2021.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from rca.anomaly.scores import robust_scale
from rca.causal.contrastive import CausalConvEncoder, pretrain
from rca.causal.forecaster import GrangerForecaster, lagged_inputs, train_forecaster
from rca.causal.granger_params import NeuralGrangerParams
from rca.errors import DataError

FORMAT_VERSION = 2
"""Version of the files :meth:`NeuralGranger.save` writes (1: one flat state dict, sliced by prefix)."""
META_FILE = "neural_granger.json"
WEIGHTS_FILE = "weights.pt"


@contextlib.contextmanager
def torch_settings(threads: int, seed: int) -> Iterator[None]:
    """Seeded, deterministic torch on ``threads`` threads; the caller's settings and RNG state come back after.

    Models are initialised from torch's global CPU generator, so it is seeded here, inside
    :func:`torch.random.fork_rng`, which restores it on exit; thread count and the deterministic
    flags are process-wide too and restored likewise.
    """
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(max(1, threads))
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.default_generator.manual_seed(seed)
        try:
            yield
        finally:
            torch.set_num_threads(previous_threads)
            torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)


def torch_device(choice: str) -> torch.device:
    """``"auto"``: the GPU when there is one, else the CPU; otherwise the named device."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


@dataclass
class NeuralGranger(NeuralGrangerParams):
    """A contrastively pretrained encoder and a neural Granger forecaster over all series at once.

    Parameters: :class:`rca.causal.granger_params.NeuralGrangerParams`.

    Attributes
    ----------
    report_
        What :meth:`fit` measured: first and last pretraining loss, the held-out one-step error of
        the forecaster and of the naive last-value forecast, epochs run.
    """

    def __post_init__(self) -> None:
        self.encoder_: CausalConvEncoder | None = None
        self.forecaster_: GrangerForecaster | None = None
        self.residual_scale_: np.ndarray | None = None
        self.report_: dict[str, Any] = {}

    def fit(self, values: np.ndarray) -> Self:
        """Pretrain the encoder and train the forecaster on standardised ``values`` ``(T, N)`` (NaN = missing)."""
        device = torch_device(self.device)
        report: dict[str, Any] = {}
        with torch_settings(self.threads, self.seed):
            with torch.device("cpu"):  # built on the CPU, then moved: the same initial weights on every device
                encoder = CausalConvEncoder(self.encoder_hidden, self.encoder_dim, self.encoder_depth)
            encoder = encoder.to(device)
            if self.pretraining:
                pretrained = pretrain(
                    encoder, values, objective=self.objective, epochs=self.pretrain_epochs,
                    max_steps=self.pretrain_steps, seed=self.seed, progress=self.progress,
                )  # fmt: skip
                report["pretrain_loss"] = [pretrained.first_loss, pretrained.last_loss]
                report["pretrain_steps"] = pretrained.steps
            encoder.eval()
            inputs, targets = lagged_inputs(values, encoder, self.lags, device)
            with torch.device("cpu"):
                forecaster = GrangerForecaster(values.shape[1], self.lags, self.encoder_dim)
            forecaster = forecaster.to(device)
            trained = train_forecaster(
                forecaster, inputs, targets, sparsity=self.sparsity, epochs=self.epochs, lr=self.lr,
                seed=self.seed, progress=self.progress,
            )  # fmt: skip
            with torch.inference_mode():
                errors = (forecaster(inputs) - targets).cpu().numpy()
        report.update(
            {
                "validation_mse": trained.validation_mse,
                "naive_mse": trained.naive_mse,
                "forecaster_epochs": trained.epochs,
                "forecaster_best_epoch": trained.best_epoch,
            }
        )
        self.encoder_, self.forecaster_ = encoder, forecaster
        # robust spread of the in-sample errors (IQR / 1.349: the standard deviation under normality)
        spread = robust_scale(errors)[1]
        self.residual_scale_ = np.asarray(np.where(spread > 0, spread / 1.349, 1.0), dtype=float)
        self.report_ = report
        return self

    def forecast(self, values: np.ndarray) -> np.ndarray:
        """One-step forecasts ``(T - lags, N)`` of standardised ``values`` ``(T, N)`` (row ``k``: row ``k + lags``)."""
        encoder, forecaster = self._require_fitted()
        with torch_settings(self.threads, self.seed), torch.inference_mode():
            inputs, _ = lagged_inputs(values, encoder, self.lags, self._device(forecaster))
            return np.asarray(forecaster(inputs).cpu().numpy(), dtype=float)

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """One-step forecast errors ``(T - lags, N)``, in units of the in-sample errors' robust spread."""
        encoder, forecaster = self._require_fitted()
        assert self.residual_scale_ is not None
        with torch_settings(self.threads, self.seed), torch.inference_mode():
            inputs, targets = lagged_inputs(values, encoder, self.lags, self._device(forecaster))
            errors = (forecaster(inputs) - targets).cpu().numpy()
        return np.asarray(errors / self.residual_scale_, dtype=float)

    def granger_matrix(self) -> np.ndarray:
        """``G[i, j]``: the weight of cause ``i`` on effect ``j`` (the forecaster's input attention); 0 diagonal."""
        return self._require_fitted()[1].granger_matrix()

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``neural_granger.json`` (parameters, residual scales, report) and ``weights.pt`` into ``path``.

        ``weights.pt`` holds one state dict per model under its name (``"encoder"``, ``"forecaster"``).
        """
        encoder, forecaster = self._require_fitted()
        assert self.residual_scale_ is not None
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "params": {k: v for k, v in self.granger_params().items() if k != "progress"},
            "series": forecaster.n_series,
            "residual_scale": self.residual_scale_.tolist(),
            "report": self.report_,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=1))
        state = {
            "encoder": {k: v.cpu() for k, v in encoder.state_dict().items()},
            "forecaster": {k: v.cpu() for k, v in forecaster.state_dict().items()},
        }
        torch.save(state, directory / WEIGHTS_FILE)
        return directory

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> NeuralGranger:
        """A fitted model from a directory :meth:`save` wrote (tensors loaded weights-only).

        ``overrides`` replace saved parameters that do not shape the models (``device``, ``threads``,
        ``progress``).
        """
        directory = Path(path)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise DataError(
                f"no {META_FILE}: not a neural Granger model of format {FORMAT_VERSION}",
                path=directory,
                hint="retrain the model (rca train) with this version",
            )
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise DataError(
                f"neural Granger model format {meta.get('format')!r}, this version reads {FORMAT_VERSION}",
                path=meta_path,
                hint="retrain the model (rca train) with this version",
            )
        model = cls(**{**meta["params"], **overrides})
        device = torch_device(model.device)
        state = torch.load(directory / WEIGHTS_FILE, map_location=device, weights_only=True)
        with torch.device("cpu"):  # shapes only: the weights come from the file
            encoder = CausalConvEncoder(model.encoder_hidden, model.encoder_dim, model.encoder_depth)
            forecaster = GrangerForecaster(int(meta["series"]), model.lags, model.encoder_dim)
        encoder.load_state_dict(state["encoder"])
        forecaster.load_state_dict(state["forecaster"])
        model.encoder_, model.forecaster_ = encoder.to(device).eval(), forecaster.to(device).eval()
        model.residual_scale_ = np.array(meta["residual_scale"], dtype=float)
        model.report_ = dict(meta["report"])
        return model

    def _require_fitted(self) -> tuple[CausalConvEncoder, GrangerForecaster]:
        if self.encoder_ is None or self.forecaster_ is None:
            raise RuntimeError("NeuralGranger is not fitted: call fit(values) first")
        return self.encoder_, self.forecaster_

    @staticmethod
    def _device(forecaster: GrangerForecaster) -> torch.device:
        return next(forecaster.parameters()).device


__all__ = ["FORMAT_VERSION", "NeuralGranger", "torch_device", "torch_settings"]
