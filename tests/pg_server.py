"""Start and stop a real PostgreSQL server (Debian's postgresql package) for the tests.

Not a test module. ``initdb`` + ``pg_ctl`` on a free loopback port in a temporary directory. The
server refuses to run as root, so when the tests run as root it runs as ``nobody`` (through
``runuser``). Any failure raises :class:`PostgresError` with the server log: the PostgreSQL tests
fail loudly, they are never skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

PG_BIN = Path(os.environ.get("RCA_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresError(RuntimeError):
    """The test PostgreSQL server could not be started or stopped."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throw-away PostgreSQL cluster; :attr:`url` is a SQLAlchemy URL for the ``postgres`` database."""

    def __init__(self, user: str = "nobody") -> None:
        self.run_as = user if os.geteuid() == 0 else None
        self.dir: Path | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """``postgresql+psycopg://rca@127.0.0.1:<port>/postgres``."""
        if self.port is None:
            raise PostgresError("server not started")
        return f"postgresql+psycopg://rca@127.0.0.1:{self.port}/postgres"

    def _cmd(self, args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        full = ["runuser", "-u", self.run_as, "--", *args] if self.run_as else args
        try:
            return subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False, cwd="/")
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresError(f"{' '.join(full)} failed: {exc!r}") from exc

    def start(self) -> str:
        """initdb, start, wait until it accepts connections; returns :attr:`url`."""
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                raise PostgresError(
                    f"{PG_BIN / tool} is missing: install Debian's postgresql package (apt-get install postgresql-15) "
                    "or set RCA_PG_BIN to the directory holding initdb and pg_ctl"
                )
        self.dir = Path(tempfile.mkdtemp(prefix="rca-pg-"))
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        data = self.dir / "data"
        out = self._cmd(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", "rca", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        if out.returncode != 0:
            raise PostgresError(f"initdb failed (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
        self.port = _free_port()
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c shared_buffers=64MB -c max_connections=50"
        )
        out = self._cmd(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.dir / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "90",
                "start",
            ]
        )
        if out.returncode != 0:
            raise PostgresError(
                f"pg_ctl start failed (exit {out.returncode}):\n{out.stdout}\n{out.stderr}\n{self.log()}"
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                    return self.url
            except OSError:
                time.sleep(0.2)
        raise PostgresError(f"PostgreSQL did not accept connections on port {self.port}:\n{self.log()}")

    def new_database(self) -> str:
        """Create an empty database with a name of its own; returns its SQLAlchemy URL."""
        import sqlalchemy as sa

        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        finally:
            admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def log(self) -> str:
        """The server log (empty before start)."""
        path = None if self.dir is None else self.dir / "server.log"
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self.dir is None:
            return
        try:
            self._cmd([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"], timeout=60)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
