"""The walkthrough notebook runs from top to bottom."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def test_walkthrough_executes(sock_shop: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(
        o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {}) for o in outputs
    )
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "catalogue" in text.splitlines()[1]  # the first ranked candidate is the true root cause
