"""A real uvicorn server on a free loopback port, in a background thread, for the API tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from rca.api.app import create_app
from rca.api.client import free_port, wait_until_healthy
from rca.service import Service
from rca.settings import Settings

READ_KEY = "read-key-0123456789"
ADMIN_KEY = "admin-key-0123456789"
"""The API keys of the served test app (read and admin scopes)."""


@contextmanager
def live_server(settings: Settings, *, service: Service | None = None, workers: bool = False) -> Iterator[str]:
    """Serve the app over HTTP until the block ends; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, service=service, workers=workers), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    if not wait_until_healthy(base, timeout=60, alive=thread.is_alive):
        raise RuntimeError("the API server did not start")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def finished_analysis(base: str, response: httpx.Response, headers: dict[str, str], timeout: float = 600) -> Any:
    """The analysis that ``POST /v1/analyses`` answered, once done or failed.

    A 201 carries the finished analysis; a 202 (the analysis outlived ``sync_analysis_seconds``, as on
    a loaded machine) is polled at its ``Location`` until it finishes.
    """
    assert response.status_code in (201, 202), response.text
    body = response.json()
    assert (response.status_code == 201) == (body["status"] in ("done", "failed")), body
    deadline = time.monotonic() + timeout
    while body["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"analysis {body['id']} still {body['status']} after {timeout} s"
        time.sleep(0.2)
        body = httpx.get(f"{base}{response.headers['location']}", headers=headers).json()
    return body
