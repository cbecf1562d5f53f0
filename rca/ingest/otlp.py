"""Decode Kafka message values into metric points and spans.

Three formats, as the OpenTelemetry Collector's Kafka exporter and plain producers write them:

* ``otlp_proto``: one ``MetricsData`` / ``TracesData`` message (wire-identical to the
  ``Export*ServiceRequest``), parsed with ``opentelemetry-proto``.
* ``otlp_json``: OTLP/JSON (lowerCamelCase keys, trace and span ids as hex, 64-bit integers as
  decimal strings, enums as integers; unknown fields ignored). Walked directly as parsed JSON, which
  is several times faster than ``json_format.ParseDict`` and checks the same things.
* ``jsonl``: one or more lines ``{"ts": 1652812675.0, "service": "carts", "metric": "cpu", "value": 12.5}``.

How OTLP metrics become series (``service`` = the resource attribute ``service.name``, else
``unknown_service`` as in the OTel SDKs):

* gauge and sum data points: ``metric`` = the metric name, plus ``{k=v,...}`` of the data point's
  attributes (sorted) when it has any. Sums are stored as sent (a cumulative counter stays cumulative).
* histogram points: ``<name>_count``, ``<name>_sum`` and, for delta temporality with explicit
  bounds, ``<name>_p50``, ``<name>_p90``, ``<name>_p99`` (linear interpolation within the bucket,
  as Prometheus' ``histogram_quantile``); exponential histograms give count and sum; summaries give
  count, sum and one ``<name>_p<q>`` per quantile.
* A NaN value (Prometheus' staleness marker) is skipped; an infinite one, a missing timestamp or a
  name that is empty or too long makes the whole message invalid.

Every problem raises :class:`DecodeError` with a short ``reason`` (for the dead-letter header and
the counter label) and a message that says where in the payload it is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, MetricsData
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from rca.store.store import Span

MAX_NAME_LENGTH = 256
"""Longest service or metric name accepted (longer ones are dead-lettered)."""

MIN_TS = 0.0
MAX_TS = 7_258_118_400.0
"""Timestamps must fall in (1970, 2200)."""

UNKNOWN_SERVICE = "unknown_service"

PointRow = tuple[str, str, float, float]
"""``(service, metric, ts, value)``, what :meth:`rca.store.Store.write` takes."""

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_HIST_QUANTILES = (0.5, 0.9, 0.99)


class DecodeError(ValueError):
    """A message that cannot be decoded; ``reason`` is a short machine-readable kind.

    Parameters
    ----------
    reason
        One of ``bad_protobuf``, ``bad_json``, ``bad_utf8``, ``invalid``, ``too_large``, ``empty``.
    message
        What is wrong and where.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


# ----------------------------------------------------------------- helpers
def _check_name(name: str, what: str, where: str) -> str:
    if not name:
        raise DecodeError("invalid", f"{where}: empty {what}")
    if len(name) > MAX_NAME_LENGTH:
        raise DecodeError("invalid", f"{where}: {what} of {len(name)} characters (at most {MAX_NAME_LENGTH})")
    if "\x00" in name:
        raise DecodeError("invalid", f"{where}: {what} contains a NUL character")
    return name


def _check_ts(ts: float, where: str) -> float:
    if not MIN_TS < ts < MAX_TS:
        raise DecodeError("invalid", f"{where}: timestamp {ts!r} s is not a Unix time between 1970 and 2200")
    return ts


def _span_interval(start_ns: int, end_ns: int) -> bool:
    """A span's start and end make an interval within the accepted time range."""
    return start_ns / 1e9 > MIN_TS and start_ns <= end_ns and end_ns / 1e9 < MAX_TS


def _check_value(value: float, where: str) -> bool:
    """True to keep the value, False to skip it (NaN); raise for infinities."""
    if value != value:  # NaN: Prometheus staleness marker, a missing sample
        return False
    if math.isinf(value):
        raise DecodeError("invalid", f"{where}: value {value!r} is not finite")
    return True


def _any_value_str(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    return str(getattr(value, kind))


def _proto_service(attributes: Iterable[KeyValue]) -> str:
    for kv in attributes:
        if kv.key == "service.name":
            return kv.value.string_value or UNKNOWN_SERVICE
    return UNKNOWN_SERVICE


def _proto_suffix(attributes: Iterable[KeyValue]) -> str:
    pairs = sorted(f"{kv.key}={_any_value_str(kv.value)}" for kv in attributes)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def histogram_quantile(q: float, bounds: list[float], counts: list[int]) -> float | None:
    """The ``q`` quantile of an explicit-bucket histogram, interpolated linearly within its bucket.

    ``counts`` has one more entry than ``bounds`` (the ``+Inf`` bucket). Returns ``None`` for an
    empty histogram; a quantile in the ``+Inf`` bucket is the last finite bound.
    """
    total = sum(counts)
    if total <= 0 or len(counts) != len(bounds) + 1:
        return None
    rank = q * total
    cumulative = 0.0
    for i, count in enumerate(counts):
        if cumulative + count >= rank and count > 0:
            if i == len(bounds):
                return float(bounds[-1]) if bounds else None
            upper = float(bounds[i])
            lower = float(bounds[i - 1]) if i > 0 else min(0.0, upper)
            return lower + (upper - lower) * (rank - cumulative) / count
        cumulative += count
    return float(bounds[-1]) if bounds else None


# ------------------------------------------------------------ OTLP protobuf
def decode_metrics_proto(value: bytes) -> list[PointRow]:
    """Points of an OTLP ``MetricsData`` protobuf message.

    Raises
    ------
    DecodeError
        ``bad_protobuf`` when the bytes do not parse, ``invalid`` for a bad timestamp, value or name.
    """
    data = MetricsData()
    try:
        data.ParseFromString(value)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError("bad_protobuf", f"not an OTLP MetricsData protobuf message: {exc}") from None
    out: list[PointRow] = []
    append = out.append
    for r, rm in enumerate(data.resource_metrics):
        service = _check_name(_proto_service(rm.resource.attributes), "service.name", f"resourceMetrics[{r}]")
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                name = metric.name
                kind = metric.WhichOneof("data")
                where = f"metric {name!r} of service {service!r}"
                _check_name(name, "metric name", where)
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
                            _check_value(v, where)
                            _check_ts(ts, where)
                        if dp.attributes:
                            full = _check_name(name + _proto_suffix(dp.attributes), "metric name", where)
                            append((service, full, ts, v))
                        else:
                            append((service, name, ts, v))
                elif kind == "histogram":
                    delta = metric.histogram.aggregation_temporality == _DELTA
                    for hp in metric.histogram.data_points:
                        base = name + _proto_suffix(hp.attributes)
                        stats: dict[str, float | None] = {"count": float(hp.count)}
                        if hp.HasField("sum"):
                            stats["sum"] = hp.sum
                        if delta and hp.explicit_bounds:
                            counts, bounds = list(hp.bucket_counts), list(hp.explicit_bounds)
                            for q in _HIST_QUANTILES:
                                stats[f"p{q * 100:g}"] = histogram_quantile(q, bounds, counts)
                        _emit_stats(out, service, base, hp.time_unix_nano, stats, where)
                elif kind == "exponential_histogram":
                    for ep in metric.exponential_histogram.data_points:
                        stats = {"count": float(ep.count)}
                        if ep.HasField("sum"):
                            stats["sum"] = ep.sum
                        _emit_stats(out, service, name + _proto_suffix(ep.attributes), ep.time_unix_nano, stats, where)
                elif kind == "summary":
                    for sp in metric.summary.data_points:
                        stats = {"count": float(sp.count), "sum": sp.sum}
                        for qv in sp.quantile_values:
                            stats[f"p{qv.quantile * 100:g}"] = qv.value
                        _emit_stats(out, service, name + _proto_suffix(sp.attributes), sp.time_unix_nano, stats, where)
    return out


def _emit_stats(
    out: list[PointRow], service: str, base: str, ns: int, stats: Mapping[str, float | None], where: str
) -> None:
    if not ns:
        raise DecodeError("invalid", f"{where}: data point without time_unix_nano")
    ts = _check_ts(ns / 1_000_000_000, where)
    for suffix, v in stats.items():
        if v is not None and _check_value(v, where):
            out.append((service, _check_name(f"{base}_{suffix}", "metric name", where), ts, float(v)))


def decode_spans_proto(value: bytes) -> list[Span]:
    """Spans of an OTLP ``TracesData`` protobuf message (ids as lowercase hex).

    Raises
    ------
    DecodeError
        ``bad_protobuf`` when the bytes do not parse, ``invalid`` for bad ids or times.
    """
    data = TracesData()
    try:
        data.ParseFromString(value)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError("bad_protobuf", f"not an OTLP TracesData protobuf message: {exc}") from None
    out: list[Span] = []
    append = out.append
    for r, rs in enumerate(data.resource_spans):
        service = _check_name(_proto_service(rs.resource.attributes), "service.name", f"resourceSpans[{r}]")
        for ss in rs.scope_spans:
            for sp in ss.spans:
                trace_id, span_id, parent = sp.trace_id, sp.span_id, sp.parent_span_id
                if len(trace_id) != 16 or len(span_id) != 8 or len(parent) not in (0, 8):
                    raise DecodeError(
                        "invalid",
                        f"span {sp.name!r} of service {service!r}: trace_id must be 16 bytes, span_id 8, "
                        f"parent_span_id 0 or 8 (got {len(trace_id)}, {len(span_id)}, {len(parent)})",
                    )
                start, end = sp.start_time_unix_nano, sp.end_time_unix_nano
                if not _span_interval(start, end):
                    raise DecodeError(
                        "invalid",
                        f"span {span_id.hex()}: start {start} / end {end} ns are not an interval between 1970 and 2200",
                    )
                append(
                    Span(
                        trace_id.hex(),
                        span_id.hex(),
                        parent.hex(),
                        service,
                        sp.name.replace("\x00", ""),
                        start,
                        end,
                        sp.status.code if sp.HasField("status") else None,
                    )
                )
    return out


# ---------------------------------------------------------------- OTLP JSON
def _load_json(value: bytes) -> Any:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_utf8", f"not UTF-8 text: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError("bad_json", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DecodeError("bad_json", "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal over Python's digit limit
        raise DecodeError("bad_json", f"not acceptable JSON: {exc}"[:300]) from None


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError("invalid", f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(parent: Mapping[str, Any], key: str, alt: str, where: str) -> list[Any]:
    value = parent.get(key, parent.get(alt))
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError("invalid", f"{where}.{key}: expected an array, got {type(value).__name__}")
    return value


def _json_uint(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise DecodeError("invalid", f"{where}: expected an unsigned integer (string or number), got {value!r}"[:300])


def _json_int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise DecodeError("invalid", f"{where}: expected an integer, got {value!r}"[:300])


def _json_enum(value: Any, names: Mapping[str, int], where: str) -> int:
    """An OTLP/JSON enum: an integer as the spec says, or its name as protobuf's JSON mapping also allows."""
    if isinstance(value, str) and value in names:
        return names[value]
    return _json_int(value, where)


_TEMPORALITY = dict(AggregationTemporality.items())
_STATUS = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _json_float(value: Any, where: str) -> float:
    if isinstance(value, float | int | str) and not isinstance(value, bool):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise DecodeError("invalid", f"{where}: expected a number, got {value!r}"[:300])


def _json_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise DecodeError("invalid", f"{where}: expected a string, got {value!r}"[:300])


def _json_any_str(value: Any) -> str:
    if not isinstance(value, dict) or not value:
        return ""
    kind, inner = next(iter(value.items()))
    if kind in ("boolValue", "bool_value"):
        return str(bool(inner))
    return str(inner)


def _json_service(resource: Any, where: str) -> str:
    if resource is None:
        return UNKNOWN_SERVICE
    for i, kv in enumerate(_list(_obj(resource, where), "attributes", "attributes", where)):
        kv = _obj(kv, f"{where}.attributes[{i}]")
        if kv.get("key") == "service.name":
            value = _obj(kv.get("value", {}), f"{where}.attributes[{i}].value")
            name = value.get("stringValue", value.get("string_value", ""))
            return (
                _check_name(_json_str(name, f"{where}.attributes[{i}].value.stringValue"), "service.name", where)
                or UNKNOWN_SERVICE
            )
    return UNKNOWN_SERVICE


def _json_suffix(point: Mapping[str, Any], where: str) -> str:
    attributes = point.get("attributes")
    if not attributes:
        return ""
    pairs = []
    for i, kv in enumerate(_list(point, "attributes", "attributes", where)):
        kv = _obj(kv, f"{where}.attributes[{i}]")
        pairs.append(f"{_json_str(kv.get('key'), f'{where}.attributes[{i}].key')}={_json_any_str(kv.get('value'))}")
    return "{" + ",".join(sorted(pairs)) + "}"


def decode_metrics_json(value: bytes) -> list[PointRow]:
    """Points of an OTLP/JSON metrics message (see the module docstring for the mapping).

    Raises
    ------
    DecodeError
        ``bad_utf8`` / ``bad_json`` when it does not parse, ``invalid`` for wrong types or values.
    """
    root = _obj(_load_json(value), "message")
    out: list[PointRow] = []
    append = out.append
    for r, rm in enumerate(_list(root, "resourceMetrics", "resource_metrics", "message")):
        rw = f"resourceMetrics[{r}]"
        rm = _obj(rm, rw)
        service = _json_service(rm.get("resource"), f"{rw}.resource")
        for s, sm in enumerate(_list(rm, "scopeMetrics", "scope_metrics", rw)):
            sw = f"{rw}.scopeMetrics[{s}]"
            for m, metric in enumerate(_list(_obj(sm, sw), "metrics", "metrics", sw)):
                mw = f"{sw}.metrics[{m}]"
                metric = _obj(metric, mw)
                name = _check_name(_json_str(metric.get("name", ""), f"{mw}.name"), "metric name", mw)
                data = metric.get("gauge") or metric.get("sum")
                if data is not None:
                    dw = f"{mw}.{'gauge' if 'gauge' in metric else 'sum'}"
                    for p, dp in enumerate(_list(_obj(data, dw), "dataPoints", "data_points", dw)):
                        pw = f"{dw}.dataPoints[{p}]"
                        dp = _obj(dp, pw)
                        ns = _json_uint(dp.get("timeUnixNano", dp.get("time_unix_nano", 0)), f"{pw}.timeUnixNano")
                        if not ns:
                            raise DecodeError("invalid", f"{pw}: data point without timeUnixNano")
                        raw = dp.get("asDouble", dp.get("as_double"))
                        if raw is None:
                            as_int = dp.get("asInt", dp.get("as_int"))
                            v = 0.0 if as_int is None else float(_json_int(as_int, f"{pw}.asInt"))
                        else:
                            v = _json_float(raw, f"{pw}.asDouble")
                        if not _check_value(v, pw):
                            continue
                        ts = _check_ts(ns / 1_000_000_000, pw)
                        full = (
                            _check_name(name + _json_suffix(dp, pw), "metric name", pw) if "attributes" in dp else name
                        )
                        append((service, full, ts, v))
                    continue
                for kind in ("histogram", "exponentialHistogram", "summary"):
                    if kind in metric:
                        _json_histogram(out, service, name, kind, _obj(metric[kind], f"{mw}.{kind}"), f"{mw}.{kind}")
    return out


def _json_histogram(
    out: list[PointRow], service: str, name: str, kind: str, data: Mapping[str, Any], where: str
) -> None:
    temporality = data.get("aggregationTemporality", 0)
    delta = _json_enum(temporality, _TEMPORALITY, f"{where}.aggregationTemporality") == _DELTA
    for p, dp in enumerate(_list(data, "dataPoints", "data_points", where)):
        pw = f"{where}.dataPoints[{p}]"
        dp = _obj(dp, pw)
        ns = _json_uint(dp.get("timeUnixNano", 0), f"{pw}.timeUnixNano")
        stats: dict[str, float | None] = {"count": float(_json_uint(dp.get("count", 0), f"{pw}.count"))}
        if "sum" in dp:
            stats["sum"] = _json_float(dp["sum"], f"{pw}.sum")
        if kind == "histogram" and delta and dp.get("explicitBounds"):
            bounds = [
                _json_float(b, f"{pw}.explicitBounds") for b in _list(dp, "explicitBounds", "explicit_bounds", pw)
            ]
            counts = [_json_uint(c, f"{pw}.bucketCounts") for c in _list(dp, "bucketCounts", "bucket_counts", pw)]
            for q in _HIST_QUANTILES:
                stats[f"p{q * 100:g}"] = histogram_quantile(q, bounds, counts)
        if kind == "summary":
            for i, qv in enumerate(_list(dp, "quantileValues", "quantile_values", pw)):
                qv = _obj(qv, f"{pw}.quantileValues[{i}]")
                quantile = _json_float(qv.get("quantile", 0.0), f"{pw}.quantileValues[{i}].quantile")
                stats[f"p{quantile * 100:g}"] = _json_float(qv.get("value", 0.0), f"{pw}.quantileValues[{i}].value")
        _emit_stats(out, service, name + _json_suffix(dp, pw), ns, stats, pw)


def _json_id(value: Any, pattern: re.Pattern[str], what: str, where: str, *, optional: bool = False) -> str:
    if value is None or value == "":
        if optional:
            return ""
        raise DecodeError("invalid", f"{where}: missing {what}")
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise DecodeError(
            "invalid", f"{where}.{what}: expected {pattern.pattern[-3:-1]} hex digits, got {value!r}"[:300]
        )
    return value.lower()


def decode_spans_json(value: bytes) -> list[Span]:
    """Spans of an OTLP/JSON traces message (hex ids, string nanoseconds).

    Raises
    ------
    DecodeError
        ``bad_utf8`` / ``bad_json`` when it does not parse, ``invalid`` for wrong types, ids or times.
    """
    root = _obj(_load_json(value), "message")
    out: list[Span] = []
    append = out.append
    for r, rs in enumerate(_list(root, "resourceSpans", "resource_spans", "message")):
        rw = f"resourceSpans[{r}]"
        rs = _obj(rs, rw)
        service = _json_service(rs.get("resource"), f"{rw}.resource")
        for s, ss in enumerate(_list(rs, "scopeSpans", "scope_spans", rw)):
            sw = f"{rw}.scopeSpans[{s}]"
            for i, sp in enumerate(_list(_obj(ss, sw), "spans", "spans", sw)):
                pw = f"{sw}.spans[{i}]"
                sp = _obj(sp, pw)
                start = _json_uint(sp.get("startTimeUnixNano", 0), f"{pw}.startTimeUnixNano")
                end = _json_uint(sp.get("endTimeUnixNano", 0), f"{pw}.endTimeUnixNano")
                if not _span_interval(start, end):
                    raise DecodeError(
                        "invalid", f"{pw}: start {start} / end {end} ns are not an interval between 1970 and 2200"
                    )
                status = sp.get("status")
                code = (
                    None
                    if status is None
                    else _json_int(_obj(status, f"{pw}.status").get("code", 0), f"{pw}.status.code")
                )
                append(
                    Span(
                        _json_id(sp.get("traceId"), _HEX32, "traceId", pw),
                        _json_id(sp.get("spanId"), _HEX16, "spanId", pw),
                        _json_id(sp.get("parentSpanId"), _HEX16, "parentSpanId", pw, optional=True),
                        service,
                        _json_str(sp.get("name", ""), f"{pw}.name").replace("\x00", ""),
                        start,
                        end,
                        code,
                    )
                )
    return out


# --------------------------------------------------------------- JSON lines
def decode_jsonl(value: bytes) -> list[PointRow]:
    """Points of ``rca_metrics`` JSON lines (one object per non-empty line).

    Raises
    ------
    DecodeError
        When a line is not JSON, lacks a field, has a wrong type or a non-finite value.
    """
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_utf8", f"not UTF-8 text: {exc}") from None
    out: list[PointRow] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DecodeError("bad_json", f"line {number}: not JSON: {exc.msg} at column {exc.colno}") from None
        except (ValueError, RecursionError) as exc:
            raise DecodeError("bad_json", f"line {number}: not acceptable JSON: {exc}"[:300]) from None
        where = f"line {number}"
        if not isinstance(obj, dict):
            raise DecodeError("invalid", f"{where}: expected an object, got {type(obj).__name__}")
        missing = [k for k in ("ts", "service", "metric", "value") if k not in obj]
        if missing:
            raise DecodeError(
                "invalid", f"{where}: missing field(s) {', '.join(missing)}; expected ts, service, metric, value"
            )
        ts, service, metric, v = obj["ts"], obj["service"], obj["metric"], obj["value"]
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            raise DecodeError("invalid", f"{where}: ts must be a number (Unix seconds), got {ts!r}"[:300])
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise DecodeError("invalid", f"{where}: value must be a number, got {v!r}"[:300])
        if not isinstance(service, str) or not isinstance(metric, str):
            raise DecodeError("invalid", f"{where}: service and metric must be strings")
        try:
            fv = float(v)
        except OverflowError:
            fv = math.inf
        if fv != fv or math.isinf(fv):
            raise DecodeError("invalid", f"{where}: value {v!r} is not a finite number")
        out.append(
            (
                _check_name(service, "service", where),
                _check_name(metric, "metric", where),
                _check_ts(_json_float(ts, f"{where}: ts"), where),
                fv,
            )
        )
    return out


Decoder = Callable[[bytes], list[Any]]

DECODERS: dict[tuple[str, str], Decoder] = {
    ("metrics", "otlp_proto"): decode_metrics_proto,
    ("metrics", "otlp_json"): decode_metrics_json,
    ("spans", "otlp_proto"): decode_spans_proto,
    ("spans", "otlp_json"): decode_spans_json,
    ("jsonl", "jsonl"): decode_jsonl,
}
"""``(signal, encoding) -> decoder``; metric decoders return point rows, span decoders :class:`Span` s."""
