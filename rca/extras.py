"""Optional dependencies: torch and matplotlib come with the ``ml`` extra.

A process that only ingests or serves reads runs without them (``pip install .`` installs neither;
``pip install '.[ml]'``, and ``make setup``, install both). What needs one imports it through
:func:`require`, so that without it the user gets one line naming the feature and the install command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rca.errors import RCAError

OPTIONAL = ("torch", "matplotlib")
"""Top-level packages of the ``ml`` extra."""


class MissingExtraError(RCAError, ImportError):
    """A feature needs a package of the ``ml`` extra that is not installed."""


def require(module: str, feature: str) -> ModuleType:
    """``import module``, or a :class:`MissingExtraError` naming ``feature`` when an optional package is missing.

    Other import errors propagate unchanged.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in OPTIONAL:
            raise
        raise MissingExtraError(
            f"{feature} needs {missing}, which is not installed: install the ml extra (pip install '.[ml]'; "
            "make setup does)"
        ) from None
