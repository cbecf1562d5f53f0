"""The model registry: versioned fitted models under ``<data_dir>/models``.

Layout::

    models/
      CURRENT                 the version in use (replaced atomically)
      v0001/meta.json         version, method, training window, data fingerprint, validation, created
      v0001/model/            what the method's ``save`` wrote

A model is only ever added or promoted; a version directory is complete before it becomes visible
(written under a temporary name, then renamed), so a crash never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import pandas as pd

from rca.data.case import Telemetry
from rca.errors import RCAError
from rca.methods import METHODS


class RegistryError(RCAError):
    """A registry operation that cannot be done (unknown version, unreadable model, ...)."""


class SavableMethod(Protocol):
    """What the registry needs of a fitted method."""

    name: str

    def save(self, path: str | Path) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...


@dataclass(frozen=True)
class ModelRecord:
    """Metadata of one registered model.

    Attributes
    ----------
    version
        ``v0001``, ``v0002``, ...
    method
        The method's registry name.
    created
        Unix seconds.
    training_start, training_end
        The time window of the history it was fitted on.
    fingerprint
        SHA-256 of the training data (columns, timestamps and values).
    series
        Number of series it was fitted on.
    validation
        Held-out figures reported by the method (e.g. forecast MSE and the naive baseline's).
    params
        The method's parameters.
    """

    version: str
    method: str
    created: float
    training_start: float | None
    training_end: float | None
    fingerprint: str
    series: int
    validation: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def validation_error(self) -> float | None:
        """The held-out forecast error, if the method reported one."""
        value = self.validation.get("validation_mse")
        return float(value) if isinstance(value, int | float) else None


def fingerprint(history: Telemetry) -> str:
    """A SHA-256 over the columns, timestamps and values of ``history.frame``."""
    digest = hashlib.sha256()
    frame = history.frame
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(frame.index.to_numpy(dtype="float64").tobytes())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


class ModelRegistry:
    """Versioned models in a directory (see the module docstring).

    Parameters
    ----------
    root
        The registry directory, created if missing.
    """

    CURRENT = "CURRENT"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def records(self) -> list[ModelRecord]:
        """Every registered model, oldest first."""
        records = []
        for meta in sorted(self.root.glob("v*/meta.json")):
            try:
                records.append(ModelRecord(**json.loads(meta.read_text())))
            except (OSError, ValueError, TypeError) as exc:
                raise RegistryError(f"{meta}: unreadable model metadata ({exc}); remove that version folder") from exc
        return records

    def get(self, version: str) -> ModelRecord:
        """The record of ``version``."""
        meta = self.root / version / "meta.json"
        if not meta.is_file():
            known = ", ".join(r.version for r in self.records()) or "none"
            raise RegistryError(f"no model version {version!r} (known: {known})")
        return ModelRecord(**json.loads(meta.read_text()))

    def current(self) -> ModelRecord | None:
        """The model in use, or ``None`` before the first promotion."""
        pointer = self.root / self.CURRENT
        if not pointer.is_file():
            return None
        return self.get(pointer.read_text().strip())

    def register(
        self,
        method: SavableMethod,
        history: Telemetry,
        *,
        validation: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> ModelRecord:
        """Save a fitted ``method`` as a new version (not yet promoted)."""
        index = history.frame.index
        with self._lock:
            numbers = [int(r.version[1:]) for r in self.records()]
            version = f"v{(max(numbers) if numbers else 0) + 1:04d}"
            record = ModelRecord(
                version=version,
                method=method.name,
                created=time.time(),
                training_start=float(index[0]) if len(index) else None,
                training_end=float(index[-1]) if len(index) else None,
                fingerprint=fingerprint(history),
                series=history.frame.shape[1],
                validation=dict(validation or {}),
                params=jsonable(params or {}),
            )
            staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self.root))
            try:
                method.save(staging / "model")
                (staging / "meta.json").write_text(json.dumps(asdict(record), indent=1) + "\n")
                staging.rename(self.root / version)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return record

    def promote(self, version: str) -> ModelRecord:
        """Make ``version`` the current model (atomic: readers see the old or the new one)."""
        record = self.get(version)
        pointer = self.root / self.CURRENT
        temporary = self.root / f".{self.CURRENT}.{os.getpid()}.{threading.get_ident()}"
        temporary.write_text(version + "\n")
        os.replace(temporary, pointer)
        return record

    def load(self, version: str | None = None) -> Any:
        """The fitted method of ``version`` (default: the current one)."""
        record = self.get(version) if version else self.current()
        if record is None:
            raise RegistryError("no model has been promoted yet; run `rca train` or POST /v1/models/retrain")
        factory = METHODS.get(record.method)
        loader = getattr(factory, "load", None)
        if loader is None:
            raise RegistryError(f"method {record.method!r} of {record.version} cannot be loaded")
        return loader(self.root / record.version / "model")


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters whose values JSON can hold (a model record and `GET /v1/methods` list them)."""
    return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool | type(None) | list | dict)}
