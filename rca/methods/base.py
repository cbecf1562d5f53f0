"""The interface every root-cause method implements."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Self

from rca.data.case import Case, Telemetry
from rca.errors import NotFittedError
from rca.rank.ranking import Ranking

if TYPE_CHECKING:
    from rca.anomaly.logs import LogNormal

__all__ = ["NotFittedError", "RCAMethod"]


class RCAMethod(ABC):
    """A root-cause method, in scikit-learn's style.

    Parameters go to the constructor. :meth:`fit` learns from normal history (what scheduled
    retraining runs; a no-op for methods that learn nothing); :meth:`rank` ranks the candidates of
    one case (what an incident runs; a learning method that was not fitted raises
    :class:`~rca.errors.NotFittedError`, it never fits on its own). Subclasses are dataclasses, so
    :meth:`get_params` lists their parameters.
    """

    name: ClassVar[str]
    learns: ClassVar[bool] = False
    """Whether :meth:`fit` learns anything (the evaluator fits such methods on each case's baseline)."""

    def fit(self, history: Telemetry) -> Self:
        """Learn from normal history; returns ``self``."""
        return self

    @abstractmethod
    def rank(self, case: Case) -> Ranking:
        """Rank the root-cause candidates of ``case``."""

    def fit_report(self) -> dict[str, Any]:
        """What :meth:`fit` measured (e.g. held-out forecast errors); ``{}`` when it learned nothing."""
        return {}

    def fitted_columns(self) -> tuple[str, ...]:
        """The series the fitted state was learned from; ``()`` when it applies to any series."""
        return ()

    def normal_ranges(self) -> dict[str, tuple[float, float]]:
        """Each fitted series' normal median and spread (what the history was standardised by); ``{}``
        when the method learned none. The incident detector baselines on them."""
        return {}

    def normal_logs(self) -> LogNormal | None:
        """The normal log mix :meth:`fit` learned; ``None`` when it learned none."""
        return None

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their values."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return {}
