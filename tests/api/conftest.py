"""Fixtures for API tests: a served app over a temporary data directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from server import ADMIN_KEY, READ_KEY, live_server

from rca.data import discover
from rca.settings import Settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("rca-data")
    return Settings(
        data_dir=data_dir,
        api_keys=f"{READ_KEY}:read,{ADMIN_KEY}:admin",
        default_method="baro",
        retrain_cron="",
        sync_analysis_seconds=30,
    )


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def sock_shop_payload(sock_shop: Path) -> dict[str, Any]:
    """Sock-shop case carts-cpu/1 in the inline JSON shape of POST /v1/analyses."""
    case = discover(sock_shop / "carts-cpu" / "1")[0].load()
    frame = case.frame
    return {
        "time": frame.index.tolist(),
        "series": {c: [None if v != v else v for v in frame[c].tolist()] for c in frame.columns},
        "inject_time": case.inject_time,
    }
