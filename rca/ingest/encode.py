"""Encode metric points and spans as the OpenTelemetry Collector's Kafka exporter would.

Used by ``rca replay``, the tests and the ingestion benchmark. ``otlp_json`` is produced from the
protobuf message by ``google.protobuf.json_format`` (lowerCamelCase, 64-bit integers as strings,
enums as integers) with trace and span ids rewritten from base64 to hex, as the OTLP/JSON spec and
the Collector's pdata marshaler write them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Metric,
    MetricsData,
    NumberDataPoint,
    ScopeMetrics,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Status, TracesData
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

SCOPE = InstrumentationScope(name="rca.replay", version="1")
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})
_HEX = re.compile(r"[0-9a-fA-F]*")


def id_bytes(value: str, size: int) -> bytes:
    """An OTLP id of ``size`` bytes from a case's id string.

    Hex strings of the right length are decoded; anything else (a dataset with its own id scheme)
    is hashed, consistently, so parent links survive. ``""`` stays empty (a root span's parent).
    """
    if not value:
        return b""
    if len(value) == 2 * size and _HEX.fullmatch(value):
        return bytes.fromhex(value)
    return hashlib.blake2b(value.encode(), digest_size=size).digest()


def scope_per_service(resources: Any, scope_field: str) -> Callable[[str], Any]:
    """A function ``service -> scope`` over the repeated ``Resource*`` field of an OTLP ``*Data`` message.

    The first call for a service adds its resource (``service.name``) with one scope (``rca.replay``)
    in ``scope_field`` (``scope_metrics``, ``scope_spans``, ``scope_logs``); later calls return that scope.
    """
    scopes: dict[str, Any] = {}

    def scope(service: str) -> Any:
        found = scopes.get(service)
        if found is None:
            added = resources.add()
            kv = added.resource.attributes.add()
            kv.key, kv.value.string_value = "service.name", service
            found = scopes[service] = getattr(added, scope_field).add()
            found.scope.CopyFrom(SCOPE)
        return found

    return scope


def metrics_data(points: Mapping[str, Sequence[tuple[str, int, float]]]) -> MetricsData:
    """``service -> [(metric, time_unix_nano, value), ...]`` as an OTLP ``MetricsData`` of gauges.

    One resource per service (``service.name``), one gauge per metric name.
    """
    data = MetricsData()
    scope = scope_per_service(data.resource_metrics, "scope_metrics")
    for service, rows in points.items():
        sm: ScopeMetrics = scope(service)
        by_metric: dict[str, Metric] = {}
        for metric, ns, value in rows:
            m = by_metric.get(metric)
            if m is None:
                m = sm.metrics.add()
                m.name = metric
                by_metric[metric] = m
            dp: NumberDataPoint = m.gauge.data_points.add()
            dp.time_unix_nano = ns
            dp.as_double = value
    return data


def traces_data(spans: Iterable[Mapping[str, Any]]) -> TracesData:
    """Spans (mappings with the case format's span columns) as an OTLP ``TracesData`` message.

    One resource per service. A span gets a ``Status`` only when it has a ``status_code`` that is
    not ``None``/NaN, so spans without status stay without (no error rate is derived from them).
    """
    data = TracesData()
    scope = scope_per_service(data.resource_spans, "scope_spans")
    for row in spans:
        ss: ScopeSpans = scope(str(row["service"]))
        sp: ProtoSpan = ss.spans.add()
        sp.trace_id = id_bytes(str(row["trace_id"]), 16)
        sp.span_id = id_bytes(str(row["span_id"]), 8)
        parent = row.get("parent_span_id")
        sp.parent_span_id = id_bytes("" if parent is None or parent != parent else str(parent), 8)
        sp.name = str(row.get("operation", ""))
        sp.start_time_unix_nano = int(row["start_ns"])
        sp.end_time_unix_nano = int(row["end_ns"])
        code = row.get("status_code")
        if code is not None and code == code:
            sp.status.CopyFrom(Status(code=int(code)))  # type: ignore[arg-type]
    return data


def _hex_ids(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: (base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _hex_ids(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_hex_ids(x) for x in obj]
    return obj


def to_otlp_json(message: Message) -> bytes:
    """OTLP/JSON bytes of a protobuf message (hex ids, string int64, integer enums)."""
    as_dict = json_format.MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_hex_ids(as_dict), separators=(",", ":")).encode()


def otlp_bytes(data: Message, encoding: str, what: str, choices: str) -> bytes:
    """``data`` as ``otlp_proto`` or ``otlp_json`` bytes; a ``ValueError`` naming ``what`` and ``choices`` otherwise."""
    if encoding == "otlp_proto":
        return data.SerializeToString()
    if encoding == "otlp_json":
        return to_otlp_json(data)
    raise ValueError(f"unknown {what} {encoding!r}; choose {choices}")


def encode_metrics(points: Mapping[str, Sequence[tuple[str, int, float]]], encoding: str) -> bytes:
    """``service -> [(metric, time_unix_nano, value)]`` as ``otlp_proto``, ``otlp_json`` or ``jsonl``."""
    if encoding == "jsonl":
        lines = [
            json.dumps({"ts": ns / 1_000_000_000, "service": service, "metric": metric, "value": value})
            for service, rows in points.items()
            for metric, ns, value in rows
        ]
        return ("\n".join(lines) + "\n").encode()
    return otlp_bytes(metrics_data(points), encoding, "encoding", "otlp_proto, otlp_json or jsonl")


def encode_spans(spans: Iterable[Mapping[str, Any]], encoding: str) -> bytes:
    """Spans as ``otlp_proto`` or ``otlp_json`` bytes."""
    return otlp_bytes(traces_data(spans), encoding, "span encoding", "otlp_proto or otlp_json")
