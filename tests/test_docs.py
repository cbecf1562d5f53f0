"""The README documents every setting and every CLI command there is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rca.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_table_is_what_rca_settings_prints() -> None:
    table = subprocess.run(
        [sys.executable, "-m", "rca", "settings", "--markdown"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "`RCA_KAFKA_BOOTSTRAP`" in table and "`RCA_DATA_DIR`" in table
    assert table.strip() in README, "run `rca settings --markdown` and paste the table into the README"


def test_every_command_is_in_the_readme() -> None:
    names = [command.name for command in app.registered_commands]
    assert names and all(f"`rca {name}" in README for name in names), names
