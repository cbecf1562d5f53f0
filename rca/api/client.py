"""Small client-side helpers for talking to a running `rca serve`."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def wait_until_healthy(base_url: str, *, timeout: float = 120.0, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll ``GET {base_url}/healthz`` until it answers 200; ``False`` on timeout or once ``alive()`` is false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False
