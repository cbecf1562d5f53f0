"""Process-wide setup of the processes `rca` itself starts: the command line and the analysis workers.

Never called on import: a program that imports :mod:`rca` as a library keeps its own settings.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def without_triton() -> None:
    """Keep torch from importing Triton in this process.

    torch imports its compiler (``torch._dynamo``) on the first optimizer step, and that probes for
    Triton; Triton's nanobind extension then prints a block of "leaked functions" warnings when the
    process exits (``serve.log``, every ``rca train``). Nothing here compiles with Triton (no
    ``torch.compile``, CPU tensors), so the probe is answered "not installed".
    """
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]  # None in sys.modules: ImportError on import


def passive_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning, unless ``OMP_WAIT_POLICY`` is set already.

    torch runs its CPU operations on an OpenMP pool (RUN fits with two threads), whose idle threads
    by default spin while they wait for the next parallel region. An analysis' operations are small,
    so its threads wait most of the time, and on cores shared with the ingest consumer, the API and
    other processes the spinning took the CPU: ``bench/live.py --in-process`` on a loaded 2-core
    machine spent 30-90 CPU seconds per Sock Shop case, 4-6 with ``PASSIVE``, for the same rankings
    (the policy changes how threads wait, not what they compute). The OpenMP runtime reads the
    variable when it starts (torch's import), so this runs before.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class _Distinct(logging.Filter):
    """Lets each distinct message of a logger through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@contextmanager
def distinct_messages(logger: str) -> Iterator[None]:
    """Within the block, each distinct message of ``logger`` is logged once, the first time.

    The command line wraps each run in it for the loaders' notes (:mod:`rca.data.notes`): the cases of
    a dataset often read the same file (a day's fault-free minutes, overlapping windows), and its note
    would otherwise repeat once per case. What was seen is forgotten when the block ends.
    """
    once = _Distinct()
    target = logging.getLogger(logger)
    target.addFilter(once)
    try:
        yield
    finally:
        target.removeFilter(once)
