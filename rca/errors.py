"""Exceptions that tell the user what is wrong and what to do about it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class RCAError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(RCAError, ValueError):
    """Input data is malformed.

    The message names the file (and the row or column where known), what is wrong, and what to do.

    Parameters
    ----------
    problem
        What is wrong, in one sentence.
    path
        The file or directory the problem was found in.
    where
        The row or column, e.g. ``"row 17"`` or ``"column 'carts_cpu'"``.
    hint
        What the user should do to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.where = where
        self.hint = hint
        parts = []
        location = ", ".join(p for p in (self.path, where) if p)
        parts.append(f"{location}: {problem}" if location else problem)
        if hint:
            parts.append(f"Fix: {hint}")
        super().__init__(" ".join(parts))


def require_columns(
    present: Iterable[object],
    needed: Iterable[str],
    *,
    table: str = "",
    path: str | Path | None = None,
    hint: str | None = None,
) -> None:
    """Raise :class:`DataError` naming every column of ``needed`` (in its order) that ``present`` lacks.

    ``table`` names the table in the message (``"logs table lacks column(s) level"``).
    """
    have = {str(c) for c in present}
    missing = [c for c in needed if c not in have]
    if missing:
        subject = f"{table} lacks" if table else "lacks"
        raise DataError(f"{subject} column(s) {', '.join(missing)}", path=path, hint=hint)


class NotFittedError(RCAError, RuntimeError):
    """A learning method was asked to rank before it was fitted (call ``fit`` first)."""


class UnknownMethodError(RCAError, KeyError):
    """A method name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown method"
