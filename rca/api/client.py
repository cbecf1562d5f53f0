"""Small client-side helpers for talking to a running `rca serve`, and for starting one as a process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from rca.errors import RCAError

HOST = "127.0.0.1"
"""The address a :class:`ServeProcess` binds to and is polled at."""


class ServeError(RCAError):
    """A `rca serve` process did not come up; the message ends with the end of its output."""


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


def free_port() -> int:
    """A loopback port free at the time of asking."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`rca serve` in a process (and session) of its own, on loopback, polled until it answers.

    As a context manager it is started on entry (:meth:`start`) and stopped on exit (:meth:`stop`)::

        with ServeProcess(log=data_dir / "serve.log", env={"RCA_DATA_DIR": str(data_dir)}) as server:
            httpx.get(f"{server.base_url}/v1/incidents")

    A server meant to outlive its starter (``rca demo``) is started with :meth:`start` alone and
    stopped later by its process group (:attr:`pid`).

    Parameters
    ----------
    log
        File its output (stdout and stderr) is written to; overwritten.
    env
        Variables set for it (``RCA_*`` settings) on top of this process' environment.
    port
        Port it listens on (``None``: a free one).
    ingest
        Start it with ``--ingest`` (it also consumes Kafka).
    startup_timeout
        Seconds it may take until ``GET /healthz`` answers.
    stop_timeout
        Seconds :meth:`stop` waits after ``SIGTERM`` before it kills the process group.
    cwd
        Working directory of the process (``None``: this one's).
    """

    def __init__(
        self,
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ingest: bool = False,
        startup_timeout: float = 120.0,
        stop_timeout: float = 60.0,
        cwd: Path | None = None,
    ) -> None:
        self.log = log
        self.env = dict(env or {})
        self.port = free_port() if port is None else port
        self.ingest = ingest
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id, also its process group's (started only)."""
        if self.process is None:
            raise ServeError("the server was not started")
        return self.process.pid

    def start(self) -> Self:
        """Start the server and wait until it answers.

        Raises :class:`ServeError`, with the end of its output, if it exits first or never answers.
        """
        command = [sys.executable, "-m", "rca", "serve", "--host", HOST, "--port", str(self.port)]
        if self.ingest:
            command.append("--ingest")
        with self.log.open("w") as out:  # the child keeps its own handle
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,  # its analysis workers are stopped with it, by process group
            )
        process = self.process
        if not wait_until_healthy(self.base_url, timeout=self.startup_timeout, alive=lambda: process.poll() is None):
            code = process.poll()
            what = f"exited with code {code}" if code is not None else f"gave no answer in {self.startup_timeout:g} s"
            message = f"`rca serve` on port {self.port} {what}; the end of its output ({self.log}):\n"
            message += self.output_tail()
            self.stop()
            raise ServeError(message)
        return self

    def output_tail(self, chars: int = 3000) -> str:
        """The last ``chars`` characters of the server's output so far."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server's process group: ``SIGTERM``, then ``SIGKILL`` after ``stop_timeout`` seconds."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the whole group may be gone already
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:  # e.g. an analysis still running holds it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
