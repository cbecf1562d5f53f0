"""The method registry: every root-cause method, by the name the CLI and the API use."""

from __future__ import annotations

from typing import Any

from rca.errors import UnknownMethodError
from rca.methods.base import RCAMethod
from rca.methods.baselines import BARO, EpsilonDiagnosis, NSigma, RandomRanking
from rca.methods.granger_pagerank import GrangerPageRank
from rca.methods.log_errors import LogErrors
from rca.methods.run import RUN

METHODS: dict[str, type[RCAMethod]] = {
    cls.name: cls for cls in (BARO, NSigma, EpsilonDiagnosis, GrangerPageRank, LogErrors, RandomRanking, RUN)
}


def get_method(name: str, **params: Any) -> RCAMethod:
    """A new instance of the method registered as ``name``."""
    try:
        factory = METHODS[name]
    except KeyError:
        raise UnknownMethodError(f"unknown method {name!r}; choose from {', '.join(sorted(METHODS))}") from None
    return factory(**params)


__all__ = ["METHODS", "RCAMethod", "get_method"]
