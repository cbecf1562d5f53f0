"""What :meth:`rca.methods.run.RUN.fit` learns, and how it is saved: ``model.json`` beside the neural Granger
model's own files (:mod:`rca.causal.neural_granger`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rca.anomaly.logs import LogNormal
from rca.causal.granger_params import neural_granger
from rca.causal.lagged import LaggedCounterfactual
from rca.errors import DataError

if TYPE_CHECKING:
    from rca.causal.neural_granger import NeuralGranger

FORMAT_VERSION = 2
"""Version of ``model.json`` (2: the neural Granger model saved by name, :mod:`rca.causal.neural_granger`;
an optional ``logs`` entry holds the normal log mix, an optional ``lagged`` one the learned causes kept
for counterfactual residuals, :class:`rca.causal.lagged.LaggedCounterfactual`)."""


@dataclass
class FittedModel:
    """What :meth:`RUN.fit` learned; saved as ``model.json`` (and the neural Granger model's files)."""

    columns: list[str]
    series: dict[str, tuple[str, str]]
    center: np.ndarray
    scale: np.ndarray
    calls: list[tuple[str, str, float]]
    granger: NeuralGranger | None = None
    logs: LogNormal | None = None
    lagged: LaggedCounterfactual | None = None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """Whether a forecaster (and so a learned graph) exists."""
        return self.granger is not None

    def save(self, path: str | Path, *, method: str, params: dict[str, Any]) -> Path:
        """Write ``model.json`` (with the method's name and parameters) and the neural Granger model to ``path``."""
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "method": method,
            "params": params,
            "columns": self.columns,
            "series": {c: list(s) for c, s in self.series.items()},
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "calls": [list(c) for c in self.calls],
            "trained": self.trained,
            "report": self.report,
            "logs": None if self.logs is None else self.logs.state(),
            "lagged": None if self.lagged is None else self.lagged.state(),
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=1))
        if self.granger is not None:
            self.granger.save(directory)
        return directory

    @staticmethod
    def saved_params(path: str | Path, *, method: str) -> dict[str, Any]:
        """The parameters a model in ``path`` was fitted with (refusing another method or format)."""
        return dict(_read_meta(Path(path), method)["params"])

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str = "auto",
        threads: int = 2,
        progress: Callable[[str], None] | None = None,
    ) -> FittedModel:
        """The fitted model in directory ``path`` (written by :meth:`save`)."""
        directory = Path(path)
        meta = json.loads((directory / "model.json").read_text())
        model = cls(
            columns=list(meta["columns"]),
            series={c: (s[0], s[1]) for c, s in meta["series"].items()},
            center=np.array(meta["center"], dtype=float),
            scale=np.array(meta["scale"], dtype=float),
            calls=[(a, b, float(c)) for a, b, c in meta["calls"]],
            report=dict(meta["report"]),
            logs=LogNormal.from_state(meta["logs"]) if meta.get("logs") else None,
            lagged=LaggedCounterfactual.from_state(meta["lagged"]) if meta.get("lagged") else None,
        )
        if meta["trained"]:
            model.granger = neural_granger().load(directory, device=device, threads=threads, progress=progress)
        return model


def _read_meta(directory: Path, method: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((directory / "model.json").read_text())
    if meta.get("method") != method:
        raise DataError(f"not a {method} model", path=directory / "model.json")
    if meta.get("format") != FORMAT_VERSION:
        raise DataError(
            f"{method} model format {meta.get('format')!r}, this version reads format {FORMAT_VERSION}",
            path=directory / "model.json",
            hint="retrain the model (rca train) with this version",
        )
    return meta


__all__ = ["FORMAT_VERSION", "FittedModel"]
