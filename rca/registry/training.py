"""Fit a method on normal history and register the model: what `rca train` and scheduled retraining run."""

from __future__ import annotations

from typing import Any, Literal

from rca.data.case import Telemetry
from rca.methods import get_method
from rca.registry.models import ModelRecord, ModelRegistry

Promotion = Literal["always", "if_not_worse", "never"]

TOLERANCE = 0.05
"""A new model may have up to 5 % more held-out forecast error and still count as not worse."""


def not_worse(new: float | None, old: float | None, *, tolerance: float = TOLERANCE) -> bool:
    """Whether a model with held-out error ``new`` may replace one with ``old`` (``None``: unknown)."""
    if old is None:
        return True
    if new is None:
        return False
    return new <= old * (1 + tolerance)


def train_and_register(
    registry: ModelRegistry, method: str, history: Telemetry, *, promote: Promotion = "if_not_worse"
) -> tuple[ModelRecord, bool]:
    """Fit ``method`` on ``history``, register it, and promote it as asked.

    Returns
    -------
    record, promoted
        The new model's record, and whether it became the current model.
    """
    fitted = get_method(method).fit(history)
    report: dict[str, Any] = fitted.fit_report()
    record = registry.register(fitted, history, validation=report, params=fitted.get_params())  # type: ignore[arg-type]
    current = registry.current()
    promoted = promote == "always" or (
        promote == "if_not_worse"
        and not_worse(record.validation_error, None if current is None else current.validation_error)
    )
    if promoted:
        registry.promote(record.version)
    return record, promoted
