"""Notes a loader leaves for the user: what it skipped or changed, and why (never fatal).

A note is a ``WARNING`` on the ``rca.data`` logger, one per case and kind, naming every file or
column concerned, so a user reading a dataset of another layout sees in one line what was not used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("rca.data")


def note(where: str | Path, message: str) -> None:
    """Leave one note about ``where`` (a file or folder)."""
    log.warning("%s: %s", where, message)


def note_skipped(directory: str | Path, names: Iterable[str], *, why: str) -> None:
    """One note naming every file of ``directory`` that a loader skipped (none: no note)."""
    skipped = sorted(names)
    if skipped:
        note(directory, f"skipped {len(skipped)} file(s) {why}: {', '.join(skipped)}")
