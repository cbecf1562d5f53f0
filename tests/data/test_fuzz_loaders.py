"""Every loader on malformed variants of a small valid dataset: a clear DataError or a note, never a traceback.

Variants are generated deterministically from the fixtures of tests/layouts.py, one change at a
time to one file: removed, emptied, a column renamed, a column with no values, rows out of order, and
extra files beside the case.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from layouts import LAYOUTS

from rca.data import discover
from rca.data.preprocess import preprocess
from rca.errors import DataError

Mutation = Callable[[Path], None]


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue())


def _rename_column(index: int) -> Mutation:
    def mutate(path: Path) -> None:
        if path.suffix == ".csv":
            rows = _rows(path)
            if rows and len(rows[0]) > index:
                rows[0][index] = rows[0][index] + "_renamed"
                _write_rows(path, rows)
        elif path.suffix == ".json":  # rename every key
            path.write_text(path.read_text().replace('":', '_renamed":'))
        else:
            path.write_text("not a number\n")

    return mutate


def _nan_column(index: int) -> Mutation:
    def mutate(path: Path) -> None:
        if path.suffix != ".csv":
            path.write_text(path.read_text().replace("0", ""))
            return
        rows = _rows(path)
        for row in rows[1:]:
            if len(row) > index:
                row[index] = ""
        _write_rows(path, rows)

    return mutate


def _unsorted(path: Path) -> None:
    if path.suffix != ".csv":
        return
    rows = _rows(path)
    body = rows[1:]
    # a fixed permutation: odd rows first, then even ones, backwards
    _write_rows(path, rows[:1] + body[1::2][::-1] + body[0::2])


MUTATIONS: dict[str, Mutation] = {
    "missing": lambda p: p.unlink(),
    "empty": lambda p: p.write_text(""),
    "renamed-first-column": _rename_column(0),
    "renamed-second-column": _rename_column(1),
    "nan-only-first-column": _nan_column(0),
    "nan-only-second-column": _nan_column(1),
    "unsorted": _unsorted,
}


def _load_all(root: Path) -> list[str]:
    """Load and preprocess every case; returns their names (raises what the loader raises)."""
    names = []
    for ref in discover(root):
        preprocess(ref.load())
        names.append(ref.name)
    return names


def variants(layout: str, base: Path) -> Iterator[tuple[str, Path]]:
    valid = base / "valid"
    LAYOUTS[layout](valid)
    files = sorted(p.relative_to(valid) for p in valid.rglob("*") if p.is_file())
    for number, (relative, (kind, mutate)) in enumerate((f, m) for f in files for m in MUTATIONS.items()):
        root = base / f"v{number}"
        shutil.copytree(valid, root)
        mutate(root / relative)
        yield f"{kind} {relative}", root


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_malformed_variants_fail_clearly_or_load(layout: str, tmp_path: Path) -> None:
    LAYOUTS[layout](tmp_path / "valid")
    assert _load_all(tmp_path / "valid"), "the valid fixture loads"
    outcomes: dict[str, str] = {}
    for label, root in variants(layout, tmp_path / "variants"):
        try:
            _load_all(root)
        except DataError as error:
            assert str(error) and (error.path or error.hint), f"{label}: the error names a file or a fix: {error}"
            outcomes[label] = "error"
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{layout}, {label}: {type(error).__name__}: {error}")
        else:
            outcomes[label] = "loaded"
        shutil.rmtree(root)
    assert "error" in outcomes.values(), "some variants are refused"
    missing_data = [label for label in outcomes if label.startswith("missing") and outcomes[label] == "error"]
    assert missing_data, "removing a needed file is an error"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_extra_files_are_noted_not_fatal(layout: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    LAYOUTS[layout](tmp_path)
    expected = _load_all(tmp_path)
    for folder in sorted({p.parent for p in tmp_path.rglob("*") if p.is_file()}):
        (folder / "zz-extra.csv").write_text("a,b\n1\n\x00\x01,,,\n")
        (folder / "README.txt").write_text("notes\n")
    caplog.set_level(logging.WARNING, logger="rca.data")
    assert _load_all(tmp_path) == expected
    noted = [r.getMessage() for r in caplog.records if "zz-extra.csv" in r.getMessage()]
    assert noted and all("README.txt" in m for m in noted), "one note names every skipped file"
