"""The README documents every setting and every CLI command there is."""

from __future__ import annotations

from pathlib import Path

from rca.cli import app
from rca.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in Settings.model_fields if f"`RCA_{name.upper()}`" not in README]
    assert not missing, f"run `rca settings --markdown` and paste the table into the README (missing {missing})"


def test_every_command_is_in_the_readme() -> None:
    names = [command.name for command in app.registered_commands]
    assert names and all(f"`rca {name}" in README for name in names), names
