"""OTLP decoding (protobuf and JSON), JSON lines, and the replay encoders; no broker needed.

The cross-encoding fixtures (both walkers, the same data) are in ``test_otlp_encodings.py``.
"""

from __future__ import annotations

import base64
import json
import math

import pytest
from google.protobuf import json_format
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, MetricsData
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from rca.ingest.encode import encode_metrics, encode_spans, id_bytes
from rca.ingest.jsonl import decode_jsonl
from rca.ingest.otlp import decode_metrics_proto, decode_spans_proto
from rca.ingest.otlp_json import decode_metrics_json, decode_spans_json
from rca.ingest.records import DecodeError, histogram_quantile

POINTS = {
    "carts": [("cpu", 1_700_000_000 * 10**9, 0.25), ("mem", 1_700_000_000 * 10**9, 512.0)],
    "orders": [("cpu", 1_700_000_001_500_000_000, 3.0)],
}
SPANS = [
    {"trace_id": "ab" * 16, "span_id": "01" * 8, "parent_span_id": "", "service": "front", "operation": "GET /",
     "start_ns": 1_700_000_000_000_000_000, "end_ns": 1_700_000_000_500_000_000, "status_code": 2},
    {"trace_id": "ab" * 16, "span_id": "02" * 8, "parent_span_id": "01" * 8, "service": "carts", "operation": "get",
     "start_ns": 1_700_000_000_100_000_000, "end_ns": 1_700_000_000_200_000_000, "status_code": None},
]  # fmt: skip
EXPECTED_POINTS = [
    ("carts", "cpu", 1_700_000_000.0, 0.25, ""),
    ("carts", "mem", 1_700_000_000.0, 512.0, ""),
    ("orders", "cpu", 1_700_000_001.5, 3.0, ""),
]


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_metrics_round_trip(encoding: str) -> None:
    decode = decode_metrics_proto if encoding == "otlp_proto" else decode_metrics_json
    assert decode(encode_metrics(POINTS, encoding)) == EXPECTED_POINTS


def test_jsonl_round_trip() -> None:
    assert decode_jsonl(encode_metrics(POINTS, "jsonl")) == EXPECTED_POINTS


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_spans_round_trip(encoding: str) -> None:
    decode = decode_spans_proto if encoding == "otlp_proto" else decode_spans_json
    spans = decode(encode_spans(SPANS, encoding))
    assert [tuple(s) for s in spans] == [tuple(r.values()) for r in SPANS]


def test_otlp_json_is_spec_conformant() -> None:
    """Hex ids, int64 as strings, lowerCamelCase; the protobuf parser reads it once ids are base64."""
    doc = json.loads(encode_spans(SPANS, "otlp_json"))
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == "ab" * 16 and span["startTimeUnixNano"] == "1700000000000000000"
    for rs in doc["resourceSpans"]:
        for sp in rs["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in sp:
                    sp[key] = base64.b64encode(bytes.fromhex(sp[key])).decode()
    parsed = json_format.ParseDict(doc, TracesData())
    assert parsed.resource_spans[0].scope_spans[0].spans[0].trace_id == bytes.fromhex("ab" * 16)


def test_gauge_attributes_sum_and_histogram() -> None:
    data = MetricsData()
    rm = data.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "carts"
    sm = rm.scope_metrics.add()
    g = sm.metrics.add()
    g.name = "http_requests"
    dp = g.sum.data_points.add()
    dp.time_unix_nano, dp.as_int = 10**18, 42
    a = dp.attributes.add()
    a.key, a.value.string_value = "code", "200"
    h = sm.metrics.add()
    h.name = "latency"
    h.histogram.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    hp = h.histogram.data_points.add()
    hp.time_unix_nano, hp.count, hp.sum = 10**18, 10, 5.0
    hp.explicit_bounds.extend([0.1, 1.0])
    hp.bucket_counts.extend([5, 5, 0])
    nan = sm.metrics.add()
    nan.name = "stale"
    ndp = nan.gauge.data_points.add()
    ndp.time_unix_nano, ndp.as_double = 10**18, math.nan
    points = decode_metrics_proto(data.SerializeToString())
    as_json = decode_metrics_json(json.dumps(json_format.MessageToDict(data)).encode())
    assert points == as_json
    got = {metric: value for _, metric, _, value, _ in points}
    assert got["http_requests{code=200}"] == 42.0
    assert got["latency_count"] == 10 and got["latency_sum"] == 5.0
    assert got["latency_p50"] == pytest.approx(0.1) and got["latency_p90"] == pytest.approx(0.82)
    assert "stale" not in got  # NaN = Prometheus staleness marker, skipped


def test_histogram_quantile() -> None:
    assert histogram_quantile(0.5, [1.0, 2.0], [0, 10, 0]) == pytest.approx(1.5)
    assert histogram_quantile(0.99, [1.0], [1, 9]) == 1.0  # in +Inf: the last finite bound
    assert histogram_quantile(0.5, [1.0], [0, 0]) is None


@pytest.mark.parametrize(
    ("decode", "value", "reason", "needle"),
    [
        (decode_metrics_proto, b"\xff\xfe garbage", "bad_protobuf", "MetricsData"),
        (decode_spans_proto, b"\x0a\xff", "bad_protobuf", "TracesData"),
        (decode_metrics_json, b"{", "bad_json", "not JSON"),
        (decode_metrics_json, b"\xff", "bad_utf8", "UTF-8"),
        (decode_metrics_json, b'{"resourceMetrics": {}}', "invalid", "expected an array"),
        (decode_metrics_json, b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":'
         b'[{"timeUnixNano":"1700000000000000000","asDouble":"abc"}]}}]}]}]}', "invalid", "asDouble"),
        (decode_spans_json, b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"0101010101010101",'
         b'"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}', "invalid", "traceId"),
        (decode_jsonl, b'{"ts": 1700000000, "service": "a", "metric": "b", "value": "high"}', "invalid",
         "value must be"),
        (decode_jsonl, b'{"ts": 1700000000, "service": "a", "metric": "b", "value": 1e999}', "invalid", "finite"),
        (decode_jsonl, b'{"ts": 1700000000, "service": "a", "metric": "b", "value": ' + b"9" * 400 + b"}", "invalid",
         "finite"),
        (decode_jsonl, b'{"ts": 1700000000, "service": "a", "value": 1}', "invalid", "missing field(s) metric"),
        (decode_jsonl, b'{"ts": 99999999999999, "service": "a", "metric": "b", "value": 1}', "invalid", "Unix time"),
        (decode_jsonl, b'{"ts": 1700000000, "service": "' + b"a" * 300 + b'", "metric": "b", "value": 1}', "invalid",
         "characters"),
        (decode_jsonl, b"[1, 2]", "invalid", "expected an object"),
    ],
)  # fmt: skip
def test_malformed_input_raises_decode_error(decode, value: bytes, reason: str, needle: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(value)
    assert info.value.reason == reason
    assert needle in str(info.value)


def test_infinite_gauge_is_invalid() -> None:
    with pytest.raises(DecodeError, match="not finite"):
        decode_metrics_proto(encode_metrics({"a": [("x", 10**18, math.inf)]}, "otlp_proto"))


def test_non_hex_ids_are_hashed_consistently() -> None:
    assert id_bytes("ab" * 8, 8) == bytes.fromhex("ab" * 8)
    assert len(id_bytes("span-1", 8)) == 8 and id_bytes("span-1", 8) == id_bytes("span-1", 8)
    assert id_bytes("", 8) == b""


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_span_times_beyond_the_accepted_range_are_invalid(encoding: str) -> None:
    # fixed64 allows up to 2**64 - 1 ns, more than the store's signed 64-bit nanoseconds hold
    decode = decode_spans_proto if encoding == "otlp_proto" else decode_spans_json
    late = [{**SPANS[0], "end_ns": 2**64 - 1}]
    with pytest.raises(DecodeError, match="between 1970 and 2200") as info:
        decode(encode_spans(late, encoding))
    assert info.value.reason == "invalid"
