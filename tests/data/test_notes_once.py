"""A loader's note about a file that several cases read shows once per `rca` run, and only within it."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from layouts import NEZHA_DAY, NEZHA_PODS, make_nezha

from rca.data import discover
from rca.runtime import distinct_messages

UNSET = "-6795364578871345152"  # Go's zero time in Unix nanoseconds: a record without its own time
NOTE = "record(s) carry no TimeUnixNano"


def nezha_with_a_shared_log_file(root: Path) -> Path:
    """Two Nezha cases of one day; the day's fault-free (``construct``) log file, read by both, earns a note."""
    make_nezha(root, online_boutique=False)
    folder = root / "construct" / NEZHA_DAY / "log"
    folder.mkdir(parents=True)
    pod = NEZHA_PODS["cartservice"]
    rows = [
        "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log",
        f"2023-01-29T08:29:10Z,{UNSET},n,{pod},server,,,without its own time",
        f"2023-01-29T08:29:20Z,1674980960000000000,n,{pod},server,,,with it",
    ]
    (folder / "08_30_log.csv").write_text("\n".join(rows) + "\n")
    return root


def noted(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rca.data" and NOTE in r.getMessage()]


def test_each_case_notes_the_file_outside_a_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    refs = discover(nezha_with_a_shared_log_file(tmp_path))
    caplog.set_level(logging.WARNING, logger="rca.data")
    for ref in refs:
        ref.load()
    assert len(refs) == 2 and len(noted(caplog)) == 2, "the library notes every read: a caller sees its own"


def test_within_distinct_messages_a_note_shows_once_and_the_next_block_starts_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    refs = discover(nezha_with_a_shared_log_file(tmp_path))
    caplog.set_level(logging.WARNING, logger="rca.data")
    with distinct_messages("rca.data"):
        for ref in refs:
            ref.load()
    assert len(noted(caplog)) == 1, "shown the first time, not repeated"
    assert not logging.getLogger("rca.data").filters, "nothing is left behind after the block"
    with distinct_messages("rca.data"):
        refs[0].load()
    assert len(noted(caplog)) == 2, "a new block (a new run) shows the note again"


def test_rca_eval_shows_a_shared_file_note_once(tmp_path: Path) -> None:
    root = nezha_with_a_shared_log_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "rca", "eval", str(root), "-m", "random"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if NOTE in line]
    assert len(lines) == 1 and "08_30_log.csv: 1 record(s)" in lines[0], result.stderr
