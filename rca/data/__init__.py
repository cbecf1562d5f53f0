"""Frames, the case format, and dataset loaders (case directories, RCAEval, RCD sock-shop, Nezha)."""

from rca.data.case import Case, RootCause, Telemetry, split_series_name
from rca.data.casedir import read_case_dir, write_case_dir
from rca.data.datasets import CaseRef, convert, discover, load_cases

__all__ = [
    "Case",
    "CaseRef",
    "RootCause",
    "Telemetry",
    "convert",
    "discover",
    "load_cases",
    "read_case_dir",
    "split_series_name",
    "write_case_dir",
]
