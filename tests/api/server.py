"""A real uvicorn server on a free loopback port, in a background thread, for the API tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from rca.api.app import create_app
from rca.api.client import wait_until_healthy
from rca.api.service import Service
from rca.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
