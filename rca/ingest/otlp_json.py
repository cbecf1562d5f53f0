"""Decode OTLP/JSON messages (``otlp_json``) into metric points and spans.

The twin of :mod:`rca.ingest.otlp`'s protobuf walker, walking the parsed JSON directly: protobuf's own
``json_format.ParseDict`` into the same messages is 6-8 times slower, which would put JSON
ingestion far below its throughput target (``bench/otlp_json.py``, docs/benchmarks.md). So the two
walkers stay, share every rule (:mod:`rca.ingest.records`: service identity, attribute strings, checks,
histogram statistics) and the shape of their walk (:func:`scopes`), and are tested against the same
fixtures in both encodings (``tests/ingest/test_otlp_codec.py``): same series names, same values.

OTLP/JSON as the Collector writes it: lowerCamelCase keys, trace and span ids as hex, 64-bit integers
as decimal strings, enums as integers. As protobuf's JSON mapping, this also accepts the proto field
names (snake_case), enums by name, numbers as strings (``"NaN"``, ``"Infinity"`` for doubles), and
ignores unknown fields.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from rca.ingest.records import (
    HIST_QUANTILES,
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
_TEMPORALITY = dict(AggregationTemporality.items())
_STATUS = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_HEX = re.compile(r"[0-9a-fA-F]*")
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def load_json(value: bytes) -> Any:
    """Parse a message value as UTF-8 JSON; :class:`DecodeError` ``bad_utf8`` / ``bad_json`` otherwise."""
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


def _bad(where: str, expected: str, value: Any) -> DecodeError:
    return DecodeError("invalid", f"{where}: expected {expected}, got {value!r}"[:300])


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError("invalid", f"{where}: expected an object, got {type(value).__name__}")
    return value


@functools.cache
def _proto_name(json_name: str) -> str:
    return _SNAKE.sub("_", json_name).lower()


def _get(obj: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A field by its JSON name (lowerCamelCase) or, as protobuf's JSON parser allows, its proto name."""
    value = obj.get(key)
    if value is None:
        value = obj.get(_proto_name(key))
    return default if value is None else value


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = _get(obj, key, [])
    if not isinstance(value, list):
        raise DecodeError("invalid", f"{where}.{key}: expected an array, got {type(value).__name__}")
    return value


def _uint(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _bad(where, "an unsigned integer (string or number)", value)


def _int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _bad(where, "an integer", value)


def _enum(value: Any, names: Mapping[str, int], where: str) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    return _int(value, where)


def _float(value: Any, where: str) -> float:
    if isinstance(value, float | int | str) and not isinstance(value, bool):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise _bad(where, "a number", value)


def _str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise _bad(where, "a string", value)


def any_value(value: Any, where: str) -> Any:
    """An OTLP/JSON ``AnyValue`` object as the Python value :func:`rca.ingest.otlp.any_value` gives."""
    if value is None:
        return None
    for key, inner in _obj(value, where).items():
        kind = _proto_name(key)
        if kind == "string_value":
            return _str(inner, f"{where}.stringValue")
        if kind == "bool_value":
            if isinstance(inner, bool):
                return inner
            raise _bad(f"{where}.boolValue", "true or false", inner)
        if kind == "int_value":
            return _int(inner, f"{where}.intValue")
        if kind == "double_value":
            return _float(inner, f"{where}.doubleValue")
        if kind == "bytes_value":
            try:
                return base64.b64decode(_str(inner, f"{where}.bytesValue"), validate=True)
            except binascii.Error:
                raise _bad(f"{where}.bytesValue", "base64", inner) from None
        if kind == "array_value":
            aw = f"{where}.arrayValue"
            return [any_value(v, f"{aw}[{i}]") for i, v in enumerate(_list(_obj(inner, aw), "values", aw))]
        if kind == "kvlist_value":
            return dict(_pairs(_obj(inner, f"{where}.kvlistValue"), f"{where}.kvlistValue", "values"))
    return None


def _pairs(obj: Mapping[str, Any], where: str, key: str = "attributes") -> list[tuple[str, Any]]:
    out = []
    for i, kv in enumerate(_list(obj, key, where)):
        kw = f"{where}.{key}[{i}]"
        kv = _obj(kv, kw)
        out.append((_str(kv.get("key", ""), f"{kw}.key"), any_value(kv.get("value"), f"{kw}.value")))
    return out


def scopes(root: Any, resources_key: str, scope_key: str, items_key: str) -> Iterator[tuple[str, str, list[Any], str]]:
    """``(service, instance, items, where)`` of each scope of an OTLP/JSON message; the twin of
    :func:`rca.ingest.otlp.scopes` (keys by their JSON names: ``resourceMetrics``, ``scopeMetrics``, ``metrics``).
    """
    for r, resource in enumerate(_list(_obj(root, "message"), resources_key, "message")):
        rw = f"{resources_key}[{r}]"
        resource = _obj(resource, rw)
        attributes = resource.get("resource")
        pairs = [] if attributes is None else _pairs(_obj(attributes, f"{rw}.resource"), f"{rw}.resource")
        service, instance = resource_identity(pairs, f"{rw}.resource")
        for s, scope in enumerate(_list(resource, scope_key, rw)):
            sw = f"{rw}.{scope_key}[{s}]"
            yield service, instance, _list(_obj(scope, sw), items_key, sw), f"{sw}.{items_key}"


def decode_metrics_json(value: bytes) -> list[MetricPoint]:
    """Points of an OTLP/JSON metrics message (the mapping is :mod:`rca.ingest.otlp`'s).

    Raises
    ------
    DecodeError
        ``bad_utf8`` / ``bad_json`` when it does not parse, ``invalid`` for wrong types or values.
    """
    out: list[MetricPoint] = []
    append = out.append
    for service, instance, metrics, sw in scopes(load_json(value), "resourceMetrics", "scopeMetrics", "metrics"):
        for m, metric in enumerate(metrics):
            mw = f"{sw}[{m}]"
            metric = _obj(metric, mw)
            name = check_metric_name(_str(metric.get("name", ""), f"{mw}.name"), mw)
            unit = _str(metric.get("unit", ""), f"{mw}.unit")
            kind = "gauge" if "gauge" in metric else "sum" if "sum" in metric else None
            if kind is not None:
                dw = f"{mw}.{kind}"
                for p, dp in enumerate(_list(_obj(metric[kind], dw), "dataPoints", dw)):
                    pw = f"{dw}.dataPoints[{p}]"
                    dp = _obj(dp, pw)
                    ns = _uint(_get(dp, "timeUnixNano", 0), f"{pw}.timeUnixNano")
                    if not ns:
                        raise DecodeError("invalid", f"{pw}: data point without timeUnixNano")
                    raw = _get(dp, "asDouble")
                    if raw is None:
                        v = float(_int(_get(dp, "asInt", 0), f"{pw}.asInt"))
                    else:
                        v = _float(raw, f"{pw}.asDouble")
                    if not check_value(v, pw):
                        continue
                    ts = check_ts(ns / 1_000_000_000, pw)
                    if "attributes" in dp or instance:
                        for full in series_names(name, _pairs(dp, pw), instance, pw):
                            append((service, full, ts, v, unit))
                    else:
                        append((service, name, ts, v, unit))
                continue
            for kind in ("histogram", "exponentialHistogram", "summary"):
                data = _get(metric, kind)
                if data is not None:
                    _histogram(out, service, instance, name, unit, kind, _obj(data, f"{mw}.{kind}"), f"{mw}.{kind}")
    return out


def _histogram(
    out: list[MetricPoint],
    service: str,
    instance: str,
    name: str,
    unit: str,
    kind: str,
    data: Mapping[str, Any],
    where: str,
) -> None:
    delta = _enum(_get(data, "aggregationTemporality", 0), _TEMPORALITY, f"{where}.aggregationTemporality") == _DELTA
    for p, dp in enumerate(_list(data, "dataPoints", where)):
        pw = f"{where}.dataPoints[{p}]"
        dp = _obj(dp, pw)
        ns = _uint(_get(dp, "timeUnixNano", 0), f"{pw}.timeUnixNano")
        stats: dict[str, float | None] = {"count": float(_uint(_get(dp, "count", 0), f"{pw}.count"))}
        if _get(dp, "sum") is not None:
            stats["sum"] = _float(_get(dp, "sum"), f"{pw}.sum")
        elif kind == "summary":
            stats["sum"] = 0.0  # a summary's sum is not optional: absent means zero, as in protobuf
        bounds = [_float(b, f"{pw}.explicitBounds") for b in _list(dp, "explicitBounds", pw)]
        if kind == "histogram" and delta and bounds:
            counts = [_uint(c, f"{pw}.bucketCounts") for c in _list(dp, "bucketCounts", pw)]
            for q in HIST_QUANTILES:
                stats[f"p{q * 100:g}"] = histogram_quantile(q, bounds, counts)
        if kind == "summary":
            for i, qv in enumerate(_list(dp, "quantileValues", pw)):
                qw = f"{pw}.quantileValues[{i}]"
                qv = _obj(qv, qw)
                quantile = _float(qv.get("quantile", 0.0), f"{qw}.quantile")
                stats[f"p{quantile * 100:g}"] = _float(qv.get("value", 0.0), f"{qw}.value")
        emit_stats(out, service, series_names(name, _pairs(dp, pw), instance, pw), ns, stats, unit, pw)


def _hex_id(value: Any, what: str, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise _bad(f"{where}.{what}", "hex digits", value)
    return value.lower()


def decode_spans_json(value: bytes) -> list[SpanRecord]:
    """Spans of an OTLP/JSON traces message (hex ids, string nanoseconds).

    Raises
    ------
    DecodeError
        ``bad_utf8`` / ``bad_json`` when it does not parse, ``invalid`` for wrong types, ids or times.
    """
    out: list[SpanRecord] = []
    append = out.append
    for service, _instance, spans, sw in scopes(load_json(value), "resourceSpans", "scopeSpans", "spans"):
        for i, sp in enumerate(spans):
            pw = f"{sw}[{i}]"
            sp = _obj(sp, pw)
            trace_id = _hex_id(_get(sp, "traceId"), "traceId", pw)
            span_id = _hex_id(_get(sp, "spanId"), "spanId", pw)
            parent = _hex_id(_get(sp, "parentSpanId"), "parentSpanId", pw)
            start = _uint(_get(sp, "startTimeUnixNano", 0), f"{pw}.startTimeUnixNano")
            end = _uint(_get(sp, "endTimeUnixNano", 0), f"{pw}.endTimeUnixNano")
            check_span(trace_id, span_id, parent, start, end, pw)
            status = sp.get("status")
            code = None if status is None else _enum(_obj(status, pw).get("code", 0), _STATUS, f"{pw}.status.code")
            name = _str(sp.get("name", ""), f"{pw}.name").replace("\x00", "")
            append((trace_id, span_id, parent, service, name, start, end, code))
    return out
