"""The protobuf and JSON walkers on the same data: identical series names, values and units.

Each fixture is one protobuf message, decoded from its bytes and from several OTLP/JSON renderings of
it: protobuf's JSON mapping (lowerCamelCase, int64 as strings), the proto field names (snake_case)
with enum names, and the Collector's own habits (integral doubles written as JSON integers, ``1e+20``
as a number). Attribute values of every kind are covered: strings, doubles, ints, bools, bytes, arrays,
key-value lists and empty values.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, MetricsData
from opentelemetry.proto.trace.v1.trace_pb2 import Status, TracesData

from rca.ingest.encode import to_otlp_json
from rca.ingest.otlp import decode_metrics_proto, decode_spans_proto
from rca.ingest.otlp_json import decode_metrics_json, decode_spans_json
from rca.ingest.records import DecodeError, attribute_string

NS = 1_700_000_000 * 10**9


def _set(value: AnyValue, python: Any) -> None:
    if isinstance(python, bool):
        value.bool_value = python
    elif isinstance(python, int):
        value.int_value = python
    elif isinstance(python, float):
        value.double_value = python
    elif isinstance(python, bytes):
        value.bytes_value = python
    elif isinstance(python, list):
        value.array_value.SetInParent()
        for item in python:
            _set(value.array_value.values.add(), item)
    elif isinstance(python, dict):
        value.kvlist_value.SetInParent()
        for key, item in python.items():
            kv = value.kvlist_value.values.add()
            kv.key = key
            _set(kv.value, item)
    elif python is not None:
        value.string_value = python


def _attributes(target: Any, attributes: dict[str, Any]) -> None:
    for key, python in attributes.items():
        kv: KeyValue = target.add()
        kv.key = key
        _set(kv.value, python)


ATTRIBUTES = {
    "ratio": 1.0,
    "big": 1e20,
    "small": 2.5e-7,
    "code": 200,
    "ok": True,
    "route": "/cart",
    "blob": b"\x00\xff",
    "tags": [1, "a", 2.5, False],
    "nested": {"k": "v", "n": 3.0, "inner": [1.0]},
    "none": None,
}


def metrics_fixture() -> MetricsData:
    data = MetricsData()
    rm = data.resource_metrics.add()
    _attributes(rm.resource.attributes, {"service.name": "carts", "service.namespace": "shop"})
    _attributes(rm.resource.attributes, {"service.instance.id": "pod-1", "host.name": "n1"})
    sm = rm.scope_metrics.add()
    gauge = sm.metrics.add()
    gauge.name, gauge.unit = "cpu", "%"
    dp = gauge.gauge.data_points.add()
    dp.time_unix_nano, dp.as_double = NS, 1.0
    _attributes(dp.attributes, ATTRIBUTES)
    total = sm.metrics.add()
    total.name, total.unit = "requests", "{request}"
    sp = total.sum.data_points.add()
    sp.time_unix_nano, sp.as_int = NS, 42
    hist = sm.metrics.add()
    hist.name, hist.unit = "latency", "ms"
    hist.histogram.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    hp = hist.histogram.data_points.add()
    hp.time_unix_nano, hp.count, hp.sum = NS, 10, 20.0
    hp.explicit_bounds.extend([1.0, 5.0, 10.0])
    hp.bucket_counts.extend([2, 5, 3, 0])
    _attributes(hp.attributes, {"ratio": 0.5})
    expo = sm.metrics.add()
    expo.name = "size"
    ep = expo.exponential_histogram.data_points.add()
    ep.time_unix_nano, ep.count, ep.sum = NS, 3, 7.5
    summary = sm.metrics.add()
    summary.name, summary.unit = "gc", "s"
    qp = summary.summary.data_points.add()
    qp.time_unix_nano, qp.count = NS, 4  # sum 0.0: absent from protobuf's JSON
    q = qp.quantile_values.add()
    q.quantile, q.value = 0.99, 3.0
    plain = data.resource_metrics.add()  # no resource attributes at all
    metric = plain.scope_metrics.add().metrics.add()
    metric.name = "up"
    metric.gauge.data_points.add(time_unix_nano=NS, as_double=1e20)
    return data


def traces_fixture() -> TracesData:
    data = TracesData()
    rs = data.resource_spans.add()
    _attributes(rs.resource.attributes, {"service.name": "front", "service.namespace": "shop"})
    ss = rs.scope_spans.add()
    for i, status in enumerate((None, Status(code=Status.STATUS_CODE_ERROR), Status())):
        span = ss.spans.add()
        span.trace_id, span.span_id = bytes.fromhex("ab" * 16), bytes([i + 1] * 8)
        span.parent_span_id = b"" if i == 0 else bytes([1] * 8)
        span.name = f"op{i}"
        span.start_time_unix_nano, span.end_time_unix_nano = NS + i, NS + 10 + i
        if status is not None:
            span.status.CopyFrom(status)
    return data


def _integral_doubles_as_ints(obj: Any) -> Any:
    """What Go's JSON encoders do: ``1.0`` is written ``1`` and ``1e20`` as ``1e+20``."""
    if isinstance(obj, dict):
        return {k: _integral_doubles_as_ints(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_integral_doubles_as_ints(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj


def renderings(message: MetricsData | TracesData) -> dict[str, bytes]:
    spec = json.loads(to_otlp_json(message))
    snake = json.loads(
        to_otlp_json_snake(message)  # proto field names, enum names
    )
    return {
        "otlp_json": json.dumps(spec).encode(),
        "snake_case_enum_names": json.dumps(snake).encode(),
        "collector_numbers": json.dumps(_integral_doubles_as_ints(spec)).encode(),
    }


def to_otlp_json_snake(message: MetricsData | TracesData) -> bytes:
    as_dict = json_format.MessageToDict(message, preserving_proto_field_name=True)
    hexed = json.loads(to_otlp_json(message))  # hex ids by position: same structure, other key names
    return json.dumps(_copy_ids(as_dict, hexed)).encode()


def _copy_ids(snake: Any, camel: Any) -> Any:
    ids = {"trace_id": "traceId", "span_id": "spanId", "parent_span_id": "parentSpanId"}
    if isinstance(snake, dict):
        return {k: camel[ids[k]] if k in ids else _copy_ids(v, camel[_camel(k)]) for k, v in snake.items()}
    if isinstance(snake, list):
        return [_copy_ids(a, b) for a, b in zip(snake, camel, strict=True)]
    return snake


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_metric_fixture_gives_the_same_series_in_every_encoding() -> None:
    data = metrics_fixture()
    expected = decode_metrics_proto(data.SerializeToString())
    for label, value in renderings(data).items():
        assert decode_metrics_json(value) == expected, label
    names = {metric for service, metric, *_ in expected if service == "shop/carts"}
    gauge = next(n for n in names if n.startswith("cpu{") and "service.instance.id" not in n)
    assert "ratio=1," in gauge and "big=100000000000000000000," in gauge and "small=0.00000025," in gauge
    assert 'tags=[1,"a",2.5,false]' in gauge and 'nested={"k":"v","n":3,"inner":[1]}' in gauge
    assert "code=200," in gauge and "ok=true," in gauge and "blob=AP8=," in gauge and "none=," in gauge
    assert "\n" not in gauge
    per_instance = gauge.replace(",small=", ",service.instance.id=pod-1,small=")  # labels stay sorted
    assert {n for n in names if n.startswith("cpu{")} == {gauge, per_instance}  # per-instance beside per-service
    assert {"requests", "requests{service.instance.id=pod-1}"} <= names
    assert {"latency{ratio=0.5}_p50", "latency{ratio=0.5,service.instance.id=pod-1}_p99"} <= names
    assert {"size_count", "size_sum", "gc_count", "gc_sum", "gc_p99"} <= names
    units = {metric: unit for _, metric, _, _, unit in expected}
    assert units[gauge] == "%" and units["latency{ratio=0.5}_p90"] == "ms" and units["gc_sum"] == "s"
    assert units["latency{ratio=0.5}_count"] == "" and units["requests"] == "{request}"
    assert [(s, m, v) for s, m, _, v, _ in expected if s == "unknown_service"] == [("unknown_service", "up", 1e20)]


def test_span_fixture_gives_the_same_spans_in_every_encoding() -> None:
    data = traces_fixture()
    expected = decode_spans_proto(data.SerializeToString())
    for label, value in renderings(data).items():
        assert decode_spans_json(value) == expected, label
    assert [(s[3], s[2], s[7]) for s in expected] == [  # service, parent, status
        ("shop/front", "", None),
        ("shop/front", "01" * 8, 2),
        ("shop/front", "01" * 8, 0),
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a b", "a b"),
        (True, "true"),
        (-3, "-3"),
        (1.0, "1"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (math.nan, "NaN"),
        (-math.inf, "-Inf"),
        (b"\x01", "AQ=="),
        ([1, [True]], "[1,[true]]"),
        ({"a": math.inf}, '{"a":"+Inf"}'),
        (None, ""),
    ],
)
def test_attribute_string_is_the_collectors(value: Any, text: str) -> None:
    assert attribute_string(value) == text


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_a_metric_cannot_take_a_span_derived_name(encoding: str) -> None:
    data = MetricsData()
    metric = data.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "spans:latency_p99"
    metric.gauge.data_points.add(time_unix_nano=NS, as_double=1.0)
    decode = decode_metrics_proto if encoding == "otlp_proto" else decode_metrics_json
    value = data.SerializeToString() if encoding == "otlp_proto" else to_otlp_json(data)
    with pytest.raises(DecodeError, match="reserved for series derived from spans") as info:
        decode(value)
    assert info.value.reason == "invalid"
