"""Decode OTLP protobuf messages (``otlp_proto``) into metric points and spans.

One ``MetricsData`` / ``TracesData`` message, as the OpenTelemetry Collector's Kafka exporter writes it
(wire-identical to the ``Export*ServiceRequest``), parsed with ``opentelemetry-proto``. The OTLP/JSON
twin of this walker is :mod:`rca.ingest.otlp_json`; both apply the rules of :mod:`rca.ingest.records`
and are tested on the same fixtures in both encodings.

How OTLP metrics become series:

* the service is the resource's ``service.name`` (``unknown_service`` without one), prefixed by
  ``service.namespace`` and a ``/`` when the resource has a namespace (``shop/carts``);
* gauge and sum data points: ``metric`` = the metric name, plus ``{k=v,...}`` of the data point's
  attributes (sorted; values in :func:`rca.ingest.records.attribute_string` form) when it has any.
  Sums are stored as sent (a cumulative counter stays cumulative);
* a resource with ``service.instance.id`` feeds two series per data point: the per-service one above
  and a per-instance one with the label ``service.instance.id=<id>`` added (``cpu{service.instance.id=pod-1}``),
  so one replica's fault is not hidden among the others;
* histogram points: ``<name>_count``, ``<name>_sum`` and, for delta temporality with explicit
  bounds, ``<name>_p50``, ``<name>_p90``, ``<name>_p99`` (linear interpolation within the bucket,
  as Prometheus' ``histogram_quantile``); exponential histograms give count and sum; summaries give
  count, sum and one ``<name>_p<q>`` per quantile;
* each point keeps the metric's ``unit`` (not the counts of histograms and summaries);
* a NaN value (Prometheus' staleness marker) is skipped; an infinite one, a missing timestamp, a name
  that is empty or too long, or a metric name starting with ``spans:`` (reserved for span-derived
  series) makes the whole message invalid.

Every problem raises :class:`~rca.ingest.records.DecodeError` with a short ``reason`` (for the
dead-letter header and the counter label) and a message that says where in the payload it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, MetricsData
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from rca.ingest.records import (
    HIST_QUANTILES,
    MAX_TS,
    MIN_TS,
    DecodeError,
    MetricPoint,
    SpanRecord,
    check_metric_name,
    check_span,
    check_ts,
    check_value,
    emit_stats,
    histogram_quantile,
    resource_identity,
    series_names,
)

_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value (``None`` when empty)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _pairs(attributes: Iterable[KeyValue]) -> list[tuple[str, Any]]:
    return [(kv.key, any_value(kv.value)) for kv in attributes]


def scopes(
    resources: Iterable[Any], scope_field: str, items_field: str, where: str
) -> Iterator[tuple[str, str, Any, str]]:
    """``(service, instance, items, where)`` of each scope of OTLP ``Resource*`` messages (``resource_metrics`` & co.).

    ``scope_field`` and ``items_field`` name the repeated fields below a resource and a scope
    (``scope_metrics`` and ``metrics``); ``where`` is the resources' JSON name, and comes back with the
    resource's index for error messages. The OTLP/JSON twin is :func:`rca.ingest.otlp_json.scopes`.
    """
    for r, resource in enumerate(resources):
        rw = f"{where}[{r}]"
        service, instance = resource_identity(_pairs(resource.resource.attributes), rw)
        for scope in getattr(resource, scope_field):
            yield service, instance, getattr(scope, items_field), rw


def _parse(message: Any, value: bytes) -> None:
    try:
        message.ParseFromString(value)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        kind = type(message).__name__
        raise DecodeError("bad_protobuf", f"not an OTLP {kind} protobuf message: {exc}") from None


def decode_metrics_proto(value: bytes) -> list[MetricPoint]:
    """Points of an OTLP ``MetricsData`` protobuf message.

    Raises
    ------
    DecodeError
        ``bad_protobuf`` when the bytes do not parse, ``invalid`` for a bad timestamp, value or name.
    """
    data = MetricsData()
    _parse(data, value)
    out: list[MetricPoint] = []
    append = out.append
    for service, instance, metrics, _where in scopes(
        data.resource_metrics, "scope_metrics", "metrics", "resourceMetrics"
    ):
        for metric in metrics:
            name, unit = metric.name, metric.unit
            kind = metric.WhichOneof("data")
            where = f"metric {name!r} of service {service!r}"
            check_metric_name(name, where)
            if kind == "gauge" or kind == "sum":
                points = metric.gauge.data_points if kind == "gauge" else metric.sum.data_points
                for dp in points:
                    ns = dp.time_unix_nano
                    if not ns:
                        raise DecodeError("invalid", f"{where}: data point without time_unix_nano")
                    ts = ns / 1_000_000_000
                    v = dp.as_double if dp.WhichOneof("value") != "as_int" else float(dp.as_int)
                    if v != v:
                        continue
                    if math.isinf(v) or not MIN_TS < ts < MAX_TS:
                        check_value(v, where)
                        check_ts(ts, where)
                    if dp.attributes or instance:
                        for full in series_names(name, _pairs(dp.attributes), instance, where):
                            append((service, full, ts, v, unit))
                    else:  # the common case, kept cheap
                        append((service, name, ts, v, unit))
            elif kind is not None:  # histogram, exponential_histogram, summary
                _statistics(out, service, instance, name, unit, kind, getattr(metric, kind), where)
    return out


def _statistics(
    out: list[MetricPoint], service: str, instance: str, name: str, unit: str, kind: str, data: Any, where: str
) -> None:
    """The count, sum and quantile series of histogram, exponential histogram and summary points."""
    delta = kind == "histogram" and data.aggregation_temporality == _DELTA
    for hp in data.data_points:
        stats: dict[str, float | None] = {"count": float(hp.count)}
        if kind == "summary" or hp.HasField("sum"):  # a summary's sum is not optional
            stats["sum"] = hp.sum
        if delta and hp.explicit_bounds:
            counts, bounds = list(hp.bucket_counts), list(hp.explicit_bounds)
            for q in HIST_QUANTILES:
                stats[f"p{q * 100:g}"] = histogram_quantile(q, bounds, counts)
        if kind == "summary":
            for qv in hp.quantile_values:
                stats[f"p{qv.quantile * 100:g}"] = qv.value
        bases = series_names(name, _pairs(hp.attributes), instance, where)
        emit_stats(out, service, bases, hp.time_unix_nano, stats, unit, where)


def decode_spans_proto(value: bytes) -> list[SpanRecord]:
    """Spans of an OTLP ``TracesData`` protobuf message (ids as lowercase hex).

    Raises
    ------
    DecodeError
        ``bad_protobuf`` when the bytes do not parse, ``invalid`` for bad ids or times.
    """
    data = TracesData()
    _parse(data, value)
    out: list[SpanRecord] = []
    append = out.append
    for service, _instance, spans, _where in scopes(data.resource_spans, "scope_spans", "spans", "resourceSpans"):
        for sp in spans:
            trace_id, span_id, parent = sp.trace_id.hex(), sp.span_id.hex(), sp.parent_span_id.hex()
            start, end = sp.start_time_unix_nano, sp.end_time_unix_nano
            check_span(trace_id, span_id, parent, start, end, f"span {sp.name!r} of service {service!r}")
            status = sp.status.code if sp.HasField("status") else None
            append((trace_id, span_id, parent, service, sp.name.replace("\x00", ""), start, end, status))
    return out
