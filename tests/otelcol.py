"""Run the real OpenTelemetry Collector (built by ``ingest/otelcol.sh``) for interoperability tests.

A plain helper module, as ``kafka_broker.py``: it starts the Collector with an OTLP/HTTP receiver on a
free loopback port and the contrib Kafka exporter writing each signal to its topic in one encoding.

Examples
--------
>>> with Collector("127.0.0.1:9092", {"metrics": "m", "traces": "s"}, "otlp_json", tmp) as c:  # doctest: +SKIP
...     c.otlp_http  # 'http://127.0.0.1:40123'
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from kafka_broker import free_port

OTELCOL_SH = Path(__file__).resolve().parent.parent / "ingest" / "otelcol.sh"
READY_LINE = "Everything is ready"


class CollectorError(RuntimeError):
    """The Collector is not built or did not start; the message says what to do."""


def collector_binary() -> Path:
    """The built Collector; :class:`CollectorError` naming ``make otelcol`` when there is none."""
    result = subprocess.run([str(OTELCOL_SH), "path"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CollectorError(
            "the OpenTelemetry Collector is not built (or was built from another config). Fix: run "
            "`make otelcol` once (about 5 minutes; .ci/run does it before the tests)"
        )
    return Path(result.stdout.strip())


def config(bootstrap: str, topics: Mapping[str, str], encoding: str, port: int) -> str:
    """The Collector's YAML: OTLP/HTTP on ``port`` -> Kafka, ``topics`` as ``signal -> topic``."""
    exporter = "\n".join(
        f"    {signal}:\n      topic: {topic}\n      encoding: {encoding}" for signal, topic in topics.items()
    )
    pipelines = "\n".join(f"    {signal}:\n      receivers: [otlp]\n      exporters: [kafka]" for signal in topics)
    return f"""receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
exporters:
  kafka:
    brokers: ["{bootstrap}"]
{exporter}
    producer:
      required_acks: -1
service:
  telemetry:
    metrics:
      level: none
  pipelines:
{pipelines}
"""


class Collector:
    """One Collector process; ``otlp_http`` is its receiver's base URL once started."""

    def __init__(self, bootstrap: str, topics: Mapping[str, str], encoding: str, workdir: Path) -> None:
        self.port = free_port()
        self.otlp_http = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.config_path = workdir / "otelcol.yaml"
        self.config_path.write_text(config(bootstrap, topics, encoding, self.port))
        self.log_path = workdir / "otelcol.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait for the readiness line; :class:`CollectorError` with the log when it fails."""
        binary = collector_binary()
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [str(binary), "--config", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE in self.log_path.read_text(errors="replace"):
                return
            if self._proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise CollectorError(f"the Collector did not start:\n{self.log_path.read_text(errors='replace')[-4000:]}")

    def log(self) -> str:
        """The Collector's output so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (it flushes its exporters), then SIGKILL after 30 s."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
