"""Interoperability: the OpenTelemetry Python SDK -> a real OpenTelemetry Collector -> Kafka -> rca's store.

The Collector is built from pinned Go modules by ``make otelcol`` (``ingest/otelcol.sh``; CI runs it
before the tests) with the OTLP receiver and the contrib Kafka exporter. The SDK exports metrics, spans
and logs over OTLP/HTTP to it; the Collector writes each signal to its topic in one encoding; an
:class:`IngestWorker` stores them. Every item the SDK exported is counted in the store, for both
encodings, with the same series names: what a user's real pipeline does, end to end.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import wait_until
from kafka.admin import KafkaAdminClient
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode
from otelcol import Collector

from rca.settings import IngestSettings
from rca.store import Store
from rca.store.logs import LogStore

pytestmark = pytest.mark.kafka

SIGNALS = ("metrics", "traces", "logs")
"""Signals sent through the Collector."""

ROUNDS = 3
TRACES = 20
LOGS = 30
ATTRIBUTES = {"route": "/cart", "ratio": 1.0, "tags": ("a", "b")}
"""Point attributes whose string forms differed between the encodings before (a double, an array)."""


class CountingMetricExporter(OTLPMetricExporter):
    """The SDK's OTLP/HTTP exporter, counting the data points it delivered, per metric kind."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delivered: Counter[str] = Counter()

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        if result is MetricExportResult.SUCCESS:
            for rm in metrics_data.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        for point in metric.data.data_points:
                            self.delivered["histogram" if isinstance(point, HistogramDataPoint) else "number"] += 1
        return result


class CountingSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter, counting the spans it delivered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delivered = 0

    def export(self, spans: Any) -> SpanExportResult:
        result = super().export(spans)
        if result is SpanExportResult.SUCCESS:
            self.delivered += len(spans)
        return result


class CountingLogExporter(OTLPLogExporter):
    """The SDK's OTLP/HTTP log exporter, counting the records it delivered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delivered = 0

    def export(self, batch: Any) -> LogRecordExportResult:
        result = super().export(batch)
        if result is LogRecordExportResult.SUCCESS:
            self.delivered += len(batch)
        return result


def resource(name: str, instance: str | None = None) -> Resource:
    attributes = {"service.name": name, "service.namespace": "shop"}
    if instance is not None:
        attributes["service.instance.id"] = instance
    return Resource.create(attributes)


def send_metrics(endpoint: str) -> int:
    """Two replicas of shop/carts report cpu (pod-2 runs hot), a counter and a delta histogram ``latency``.

    Returns the number of points the store should hold: each gauge or sum point feeds its per-service
    and its per-instance series; each histogram point gives count, sum, p50, p90 and p99 in both.
    """
    expected = 0
    for instance, cpu in (("pod-1", 20.0), ("pod-2", 95.0)):
        exporter = CountingMetricExporter(
            endpoint=f"{endpoint}/v1/metrics", preferred_temporality={Histogram: AggregationTemporality.DELTA}
        )
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(metric_readers=[reader], resource=resource("carts", instance))
        meter = provider.get_meter("rca.interop")

        def observe(_options: CallbackOptions, value: float = cpu) -> list[Observation]:
            return [Observation(value)]

        meter.create_observable_gauge("cpu", callbacks=[observe], unit="%")
        requests = meter.create_counter("requests", unit="{request}")
        latency = meter.create_histogram("latency", unit="ms")
        for i in range(ROUNDS):
            requests.add(5, ATTRIBUTES)
            for v in (3.0, 7.0, 12.0 + i):
                latency.record(v)
            assert provider.force_flush(30_000)
        provider.shutdown()
        assert exporter.delivered["number"] >= 2 * ROUNDS and exporter.delivered["histogram"] == ROUNDS
        expected += 2 * exporter.delivered["number"] + 2 * 5 * exporter.delivered["histogram"]
    return expected


def send_spans(endpoint: str) -> int:
    """``TRACES`` requests shop/front -> shop/carts, every fourth failing in carts; returns the spans delivered."""
    delivered = 0
    front_exporter = CountingSpanExporter(endpoint=f"{endpoint}/v1/traces")
    carts_exporter = CountingSpanExporter(endpoint=f"{endpoint}/v1/traces")
    front = TracerProvider(resource=resource("front"))
    carts = TracerProvider(resource=resource("carts"))
    front.add_span_processor(BatchSpanProcessor(front_exporter))
    carts.add_span_processor(BatchSpanProcessor(carts_exporter))
    for i in range(TRACES):
        root = front.get_tracer("rca.interop").start_span("GET /cart", kind=trace.SpanKind.SERVER)
        child = carts.get_tracer("rca.interop").start_span(
            "get items", context=trace.set_span_in_context(root), kind=trace.SpanKind.SERVER
        )
        if i % 4 == 0:
            child.set_status(Status(StatusCode.ERROR))
        child.end()
        root.end()
    for provider in (front, carts):
        assert provider.force_flush(30_000)
        provider.shutdown()
    delivered = front_exporter.delivered + carts_exporter.delivered
    assert delivered == 2 * TRACES
    return delivered


def send_logs(endpoint: str) -> int:
    """``LOGS`` records of pod-1 of shop/carts, two templates at two levels; returns the records delivered."""
    exporter = CountingLogExporter(endpoint=f"{endpoint}/v1/logs")
    provider = LoggerProvider(resource=resource("carts", "pod-1"))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("rca.interop")
    for i in range(LOGS):
        if i % 3:
            logger.emit(
                body=f"served cart {i} in {i + 3} ms", severity_number=SeverityNumber.INFO, severity_text="INFO"
            )
        else:
            logger.emit(
                body=f"timeout calling db after {i} ms", severity_number=SeverityNumber.ERROR, severity_text="ERROR"
            )
    assert provider.force_flush(30_000)
    provider.shutdown()
    assert exporter.delivered == LOGS
    return exporter.delivered


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_sdk_through_the_collector_into_the_store(
    encoding: str, settings: IngestSettings, start_worker, tmp_path: Path
) -> None:
    settings = settings.with_overrides(metrics_encoding=encoding, spans_encoding=encoding, logs_encoding=encoding)
    topics = {"metrics": settings.metrics_topic, "traces": settings.spans_topic, "logs": settings.logs_topic}
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap)  # the worker subscribes to existing topics
    admin.create_topics(
        {t: {"num_partitions": 1, "replication_factor": 1} for t in topics.values()}, wait_for_metadata=True
    )
    admin.close()
    store = Store(data_dir=settings.data_dir)
    logs = LogStore(store, bucket_seconds=settings.log_bucket_seconds)
    worker = start_worker(settings, store)
    with Collector(settings.bootstrap, {s: topics[s] for s in SIGNALS}, encoding, tmp_path) as collector:
        points = send_metrics(collector.otlp_http)
        spans = send_spans(collector.otlp_http)
        records = send_logs(collector.otlp_http)
        want = {"points": points, "spans": spans, "records": records}

        def stored() -> dict[str, int]:
            return {
                "points": store.counts()["points"],
                "spans": store.counts()["spans"],
                "records": logs.counts()["records"],
            }

        wait_until(
            lambda: stored() == want,
            180,
            f"{want} in the store (has {stored()}; Collector log:\n{collector.log()[-2000:]})",
        )
    assert worker.stop().dead_letters == 0

    series = store.list_series().set_index("name")
    labels = 'requests{ratio=1,route=/cart,tags=["a","b"]}'
    expected_metrics = {
        "cpu",
        "cpu{service.instance.id=pod-1}",
        "cpu{service.instance.id=pod-2}",
        labels,
        *(labels.replace(",tags=", f",service.instance.id=pod-{n},tags=") for n in (1, 2)),  # labels sorted
        *(f"latency{suffix}_{stat}" for suffix in ("", *(f"{{service.instance.id=pod-{n}}}" for n in (1, 2)))
          for stat in ("count", "sum", "p50", "p90", "p99")),
    }  # fmt: skip
    assert set(series["metric"]) == expected_metrics  # the same names in both encodings
    assert set(series["service"]) == {"shop/carts"}
    assert series.loc["shop/carts_cpu{service.instance.id=pod-1}", "unit"] == "%"
    assert series.loc["shop/carts_latency_p90", "unit"] == "ms" and series.loc["shop/carts_latency_count", "unit"] == ""

    telemetry = store.read_telemetry(step_seconds=60.0)
    frame = telemetry.frame
    hot = frame["shop/carts_cpu{service.instance.id=pod-2}"].dropna()
    cool = frame["shop/carts_cpu{service.instance.id=pod-1}"].dropna()
    assert (hot == 95.0).all() and (cool == 20.0).all()  # one replica's fault stays visible on its own
    assert {"shop/carts_latency_p50", "shop/carts_spans:latency_p50", "shop/front_spans:latency_p50"} <= set(
        frame.columns
    )  # a user histogram called latency and the span-derived latency live side by side
    assert telemetry.units["shop/carts_spans:latency_p50"] == "ms" and telemetry.units["shop/carts_latency_p50"] == "ms"
    assert "shop/carts_spans:error_rate" in frame.columns
    assert int((store.read_spans()["status_code"] == 2).sum()) == len(range(0, TRACES, 4))
    graph = store.call_graph()
    assert graph.to_dict("records") == [{"source": "shop/front", "target": "shop/carts", "count": TRACES}]
    services = {s["service"]: s for s in store.services()}
    assert services["shop/carts"]["units"]["cpu"] == "%"
    counts = logs.read_counts()
    assert set(counts["service"]) == {"shop/carts"} and int(counts["count"].sum()) == LOGS
    assert {"error", "info"} <= set(counts["level"].str.lower()) and counts["template_key"].nunique() == 2
