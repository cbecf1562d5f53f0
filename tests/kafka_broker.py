"""Start and stop a real single-node Apache Kafka broker for integration tests.

This is a plain helper module, not a test file: it defines no tests and no
fixtures. It drives ``ingest/kafka.sh`` (KRaft, broker and controller in one
JVM, jars from Maven Central) on two free loopback ports and a private state
directory, so several brokers can run side by side and none collides with a
broker on the default ports.

Examples
--------
>>> broker = KafkaBroker()
>>> broker.start()                      # doctest: +SKIP
'127.0.0.1:40123'
>>> broker.restart()                    # doctest: +SKIP
>>> broker.close()                      # doctest: +SKIP

or, as a context manager::

    with KafkaBroker() as broker:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["KAFKA_SH", "KafkaBroker", "KafkaBrokerError", "free_port"]

#: The control script this helper drives.
KAFKA_SH: Path = Path(__file__).resolve().parent.parent / "ingest" / "kafka.sh"

_HOST = "127.0.0.1"


class KafkaBrokerError(RuntimeError):
    """Raised when ``kafka.sh`` fails; the message carries its output."""


def free_port(exclude: tuple[int, ...] = ()) -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    Parameters
    ----------
    exclude : tuple of int, optional
        Ports that must not be returned.

    Returns
    -------
    int
        A port number that nothing listened on at the time of the call.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port


class KafkaBroker:
    """A single-node KRaft Kafka broker on 127.0.0.1, run by ``ingest/kafka.sh``.

    Parameters
    ----------
    state_dir : str or os.PathLike, optional
        Directory for the broker's config, data, log and pid file. When
        omitted, a temporary directory is created on the first :meth:`start`
        and removed by :meth:`close`.
    port : int, optional
        Broker (PLAINTEXT) port. A free port is picked on first start when
        omitted.
    controller_port : int, optional
        KRaft controller port. A free port is picked on first start when
        omitted.
    start_timeout : float, optional
        Seconds ``kafka.sh start`` may take, including a first jar download.
    script : str or os.PathLike, optional
        Path to ``kafka.sh``; defaults to :data:`KAFKA_SH`.

    Attributes
    ----------
    port : int or None
        Broker port, fixed after the first start; restarts reuse it.
    controller_port : int or None
        Controller port, fixed after the first start; restarts reuse it.
    state_dir : pathlib.Path or None
        State directory, fixed after the first start; restarts reuse it, so
        topics and messages survive :meth:`restart` and :meth:`kill`.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        start_timeout: float = 600.0,
        script: str | os.PathLike[str] | None = None,
    ) -> None:
        self.state_dir: Path | None = Path(state_dir) if state_dir is not None else None
        self.port: int | None = port
        self.controller_port: int | None = controller_port
        self.start_timeout = start_timeout
        self.script = Path(script) if script is not None else KAFKA_SH
        self._owns_state_dir = False

    # ------------------------------------------------------------------ props
    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string for clients, ``"127.0.0.1:<port>"``.

        Raises
        ------
        KafkaBrokerError
            If the broker has never been started.
        """
        if self.port is None:
            raise KafkaBrokerError("broker not started: no port assigned yet")
        return f"{_HOST}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        """Path of the current broker log, or None before the first start."""
        return self.state_dir / "broker.log" if self.state_dir is not None else None

    @property
    def pid(self) -> int | None:
        """Process id of the running broker JVM, or None when not running."""
        if self.state_dir is None:
            return None
        try:
            pid = int((self.state_dir / "broker.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    # --------------------------------------------------------------- helpers
    def _env(self) -> dict[str, str]:
        assert self.state_dir is not None and self.port is not None
        env = dict(os.environ)
        env["KAFKA_PORT"] = str(self.port)
        env["KAFKA_CONTROLLER_PORT"] = str(self.controller_port)
        env["KAFKA_STATE_DIR"] = str(self.state_dir)
        return env

    def _run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                ["bash", str(self.script), command],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or ""
            if isinstance(out, bytes):
                out = out.decode(errors="replace")
            raise KafkaBrokerError(f"kafka.sh {command} timed out after {timeout} s\n{out}") from exc
        return proc

    # ----------------------------------------------------------------- control
    def start(self) -> str:
        """Start the broker and wait until it serves.

        On the first call, picks free ports and a temporary state directory
        (unless given) and formats it; later calls reuse both, keeping data.
        A no-op when the broker is already running.

        Returns
        -------
        str
            The bootstrap servers string, as :attr:`bootstrap`.

        Raises
        ------
        KafkaBrokerError
            If ``kafka.sh start`` fails; the message holds the log tail.
        """
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="rca-kafka-"))
            self._owns_state_dir = True
        if self.port is None:
            self.port = free_port(exclude=(self.controller_port or 0,))
        if self.controller_port is None:
            self.controller_port = free_port(exclude=(self.port,))
        proc = self._run("start", timeout=self.start_timeout)
        if proc.returncode != 0:
            raise KafkaBrokerError(
                f"kafka.sh start failed (exit {proc.returncode}) for "
                f"{self.bootstrap}, state {self.state_dir}:\n{proc.stdout}"
            )
        return self.bootstrap

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the broker cleanly (SIGTERM, SIGKILL after 30 s); keep its data.

        A no-op when it was never started or is not running.

        Parameters
        ----------
        timeout : float, optional
            Seconds to allow ``kafka.sh stop``.

        Raises
        ------
        KafkaBrokerError
            If ``kafka.sh stop`` fails.
        """
        if self.state_dir is None or self.port is None:
            return
        proc = self._run("stop", timeout=timeout)
        if proc.returncode != 0:
            raise KafkaBrokerError(f"kafka.sh stop failed (exit {proc.returncode}):\n{proc.stdout}")

    def kill(self, timeout: float = 10.0) -> None:
        """Kill the broker with SIGKILL, simulating a crash; keep its data.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait for the process to disappear.

        Raises
        ------
        KafkaBrokerError
            If the process is still alive after ``timeout`` seconds.
        """
        pid = self.pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                # The JVM is not our child (kafka.sh ran setsid), so poll.
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise KafkaBrokerError(f"broker pid {pid} survived SIGKILL for {timeout} s")

    def restart(self, hard: bool = False) -> str:
        """Stop (or kill) and start again on the same ports and state dir.

        The state directory is not re-formatted, so topics, messages and
        committed offsets survive. A hard restart takes about 12 s, not 3 s:
        the controller rejects the new registration until the killed
        broker's session (``broker.session.timeout.ms``, 9 s) expires.

        Parameters
        ----------
        hard : bool, optional
            Use :meth:`kill` (SIGKILL) instead of a clean :meth:`stop`.

        Returns
        -------
        str
            The bootstrap servers string, unchanged.
        """
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def is_running(self) -> bool:
        """Return True when ``kafka.sh status`` reports the broker running."""
        if self.state_dir is None or self.port is None:
            return False
        return self._run("status", timeout=30.0).returncode == 0

    def logs(self, lines: int = 100) -> str:
        """Return the last ``lines`` lines of the broker log ('' if none)."""
        path = self.log_path
        if path is None or not path.exists():
            return ""
        with path.open("r", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])

    def close(self) -> None:
        """Stop the broker and remove the state dir if this object created it."""
        try:
            self.stop()
        finally:
            if self._owns_state_dir and self.state_dir is not None:
                shutil.rmtree(self.state_dir, ignore_errors=True)
                self.state_dir = None
                self._owns_state_dir = False

    # --------------------------------------------------------- context manager
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"KafkaBroker(port={self.port}, controller_port={self.controller_port}, "
            f"state_dir={str(self.state_dir) if self.state_dir else None!r})"
        )
