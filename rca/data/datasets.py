"""Find the cases of a dataset, whatever its layout, and load them lazily."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rca.data.case import Case
from rca.data.casedir import CASE_DATA, read_case_dir, write_case_dir
from rca.data.nezha import is_nezha_root, list_faults, read_nezha_case
from rca.data.rcaeval import METRIC_FILES, is_rcaeval_case, read_rcaeval_case
from rca.data.rcd import is_rcd_case, read_rcd_case
from rca.errors import DataError


@dataclass(frozen=True)
class CaseRef:
    """A case that has been found but not read yet.

    Attributes
    ----------
    name
        The case name (stable across runs; used in reports).
    layout
        ``"casedir"`` (also RCAEval RE1), ``"rcaeval"`` (RE2/RE3), ``"rcd"`` or ``"nezha"``.
    load
        Reads the case.
    """

    name: str
    layout: str
    load: Callable[[], Case]


def _relative_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root).as_posix()
    return relative if relative != "." else path.name


def discover(path: str | Path) -> list[CaseRef]:
    """List the cases under ``path`` in a stable order.

    ``path`` may be a single case (a case directory, an RCAEval or an RCD case folder), a directory of
    cases in any nesting (case directories, RCAEval RE1/RE2/RE3, RCD sock-shop), or a Nezha dataset root.

    Raises
    ------
    DataError
        When ``path`` does not exist or holds no case.
    """
    root = Path(path)
    if not root.exists():
        raise DataError("does not exist", path=root, hint="pass a case directory or a dataset directory")
    if root.is_file():
        raise DataError("is a file", path=root, hint="pass the directory that holds data.csv")
    if is_nezha_root(root):
        faults = list_faults(root)
        return [
            CaseRef(f.name, "nezha", lambda f=f: read_nezha_case(root, f, faults))  # type: ignore[misc]
            for f in faults
        ]
    if (root / CASE_DATA).is_file():
        return [CaseRef(root.name, "casedir", lambda: read_case_dir(root))]
    if is_rcd_case(root):
        name = f"{root.parent.name}/{root.name}"
        return [CaseRef(name, "rcd", lambda: read_rcd_case(root, name=name))]
    if is_rcaeval_case(root):
        name = f"{root.parent.name}/{root.name}"
        return [CaseRef(name, "rcaeval", lambda: read_rcaeval_case(root, name=name))]

    refs: list[CaseRef] = []
    markers = (CASE_DATA, "normal.csv", *METRIC_FILES)
    for directory in sorted({p.parent for marker in markers for p in root.rglob(marker)}):
        name = _relative_name(directory, root)
        if (directory / CASE_DATA).is_file():
            refs.append(CaseRef(name, "casedir", lambda d=directory, n=name: read_case_dir(d, name=n)))  # type: ignore[misc]
        elif is_rcd_case(directory):
            refs.append(CaseRef(name, "rcd", lambda d=directory, n=name: read_rcd_case(d, name=n)))  # type: ignore[misc]
        elif is_rcaeval_case(directory):
            refs.append(CaseRef(name, "rcaeval", lambda d=directory, n=name: read_rcaeval_case(d, name=n)))  # type: ignore[misc]
    if not refs:
        raise DataError(
            "holds no case",
            path=root,
            hint="a case is a folder with data.csv and inject_time.txt (or RCAEval's metrics.csv or "
            "simple_metrics.csv and inject_time.txt, or RCD's normal.csv and anomalous.csv, or a Nezha day "
            "folder with <day>-fault_list.json)",
        )
    return refs


def load_cases(path: str | Path, *, limit: int | None = None) -> Iterator[Case]:
    """Read the cases under ``path`` one by one (see :func:`discover`)."""
    refs = discover(path)
    for ref in refs[:limit] if limit is not None else refs:
        yield ref.load()


def convert(source: str | Path, destination: str | Path, *, limit: int | None = None) -> list[Path]:
    """Write every case under ``source`` as a case directory under ``destination``.

    Case names become sub-folders (``carts-cpu/1`` -> ``destination/carts-cpu/1``). Returns the written
    directories.
    """
    destination = Path(destination)
    refs = discover(source)
    return [write_case_dir(ref.load(), destination / ref.name) for ref in (refs[:limit] if limit is not None else refs)]
