"""Process-wide setup of the processes `rca` itself starts: the command line and the analysis workers.

Never called on import: a program that imports :mod:`rca` as a library keeps its own settings.
"""

from __future__ import annotations

import sys


def without_triton() -> None:
    """Keep torch from importing Triton in this process.

    torch imports its compiler (``torch._dynamo``) on the first optimizer step, and that probes for
    Triton; Triton's nanobind extension then prints a block of "leaked functions" warnings when the
    process exits (``serve.log``, every ``rca train``). Nothing here compiles with Triton (no
    ``torch.compile``, CPU tensors), so the probe is answered "not installed".
    """
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]  # None in sys.modules: ImportError on import
