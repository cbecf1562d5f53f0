"""What the decoders yield, and the rules every decoder shares.

Decoding gives plain ingest-level records (:data:`MetricPoint`, :data:`SpanRecord`, :data:`LogLine` tuples); the store
takes tuples of these shapes and converts them to rows itself, so decoding never depends on the store.

Shared rules: the service identity of a resource, the one string form of an attribute value, the
checks of names, times and values, and how histogram statistics become series.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rca.data.spans import SPAN_METRIC_PREFIX

MAX_NAME_LENGTH = 256
"""Longest service or metric name accepted (longer ones are dead-lettered)."""

MIN_TS = 0.0
MAX_TS = 7_258_118_400.0
"""Timestamps must fall in (1970, 2200)."""

UNKNOWN_SERVICE = "unknown_service"
"""The service of a resource without ``service.name``, as in the OTel SDKs."""

INSTANCE_LABEL = "service.instance.id"
"""The label that tells a per-instance series from its per-service one."""

RESERVED_METRIC_PREFIX = SPAN_METRIC_PREFIX
"""Metric names of series derived from spans (:data:`rca.data.spans.SPAN_METRICS`) start with this; an
incoming metric with such a name is invalid, so no producer can shadow a span-derived series."""

HIST_QUANTILES = (0.5, 0.9, 0.99)
"""Quantiles estimated from delta explicit-bucket histograms."""


MetricPoint = tuple[str, str, float, float, str]
"""One sample of a series: ``(service, metric, ts, value, unit)``, ``ts`` in Unix seconds, ``unit`` as sent
(UCUM, as OTLP carries it: ``ms``, ``By``, ``%``) or ``""``. A plain tuple: the decoders make one per point,
and a named tuple costs about a microsecond more each (a tenth of the budget at 100,000 points/s)."""

SpanRecord = tuple[str, str, str, str, str, int, int, int | None]
"""One span: ``(trace_id, span_id, parent_span_id, service, operation, start_ns, end_ns, status_code)``; ids
lowercase hex, ``parent_span_id`` ``""`` for roots, ``status_code`` ``None`` when the span carried no status."""

LogLine = tuple[str, float, str, str, str, str, str]
"""One log record: ``(service, ts, level, template_key, message, trace_id, span_id)``; ``ts`` in Unix seconds,
``(service, template_key, level)`` its stream (:func:`rca.data.logs.parse_log_line`), ids lowercase hex or ``""``."""


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


# ------------------------------------------------------------------ identity
def resource_identity(attributes: Iterable[tuple[str, Any]], where: str) -> tuple[str, str]:
    """``(service, instance)`` of a resource, from its attributes as ``(key, value)`` pairs of either encoding.

    The service is ``<service.namespace>/<service.name>``, or the name alone without a namespace, so two
    services of one name in different namespaces stay apart; an empty name is ``unknown_service``.
    ``instance`` is ``service.instance.id``, ``""`` when absent. A value that is not a string counts as absent.
    """
    found = {"service.name": "", "service.namespace": "", INSTANCE_LABEL: ""}
    for key, value in attributes:
        if key in found:
            found[key] = value if isinstance(value, str) else ""
    name, namespace = found["service.name"] or UNKNOWN_SERVICE, found["service.namespace"]
    return check_name(f"{namespace}/{name}" if namespace else name, "service", where), found[INSTANCE_LABEL]


def attribute_string(value: Any) -> str:
    """The one string form of an attribute value, as the Collector's ``pcommon.Value.AsString`` writes it.

    Strings as they are, booleans ``true``/``false``, integers in decimal, doubles in the shortest
    positional form that reads back exactly (``1``, ``0.25``, ``100000000000000000000``; ``NaN``,
    ``+Inf``), bytes in base64, arrays and key-value lists as compact JSON of those forms. ``None`` (an
    empty value) is ``""``. Both decoders turn an ``AnyValue`` into Python values first, so they name
    series alike.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return _json_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value):
            return np.format_float_positional(value, unique=True, trim="-")
        return "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _json_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)) or isinstance(value, bytes):
        return json.dumps(attribute_string(value), ensure_ascii=False)
    return "null" if value is None else attribute_string(value)


def labels_suffix(pairs: list[tuple[str, Any]]) -> str:
    """``{k=v,...}`` of attribute pairs (sorted by key, values by :func:`attribute_string`), ``""`` for none."""
    if not pairs:
        return ""
    return "{" + ",".join(f"{k}={attribute_string(v)}" for k, v in sorted(pairs, key=lambda kv: kv[0])) + "}"


# -------------------------------------------------------------------- checks
def check_name(name: str, what: str, where: str) -> str:
    """``name`` when it is acceptable as a service or metric name; else a :class:`DecodeError`."""
    if not name:
        raise DecodeError("invalid", f"{where}: empty {what}")
    if len(name) > MAX_NAME_LENGTH:
        raise DecodeError("invalid", f"{where}: {what} of {len(name)} characters (at most {MAX_NAME_LENGTH})")
    if "\x00" in name:
        raise DecodeError("invalid", f"{where}: {what} contains a NUL character")
    return name


def check_metric_name(name: str, where: str) -> str:
    """:func:`check_name` for a metric name as sent, which must not claim the span-derived prefix."""
    if name.startswith(RESERVED_METRIC_PREFIX):
        raise DecodeError(
            "invalid",
            f"{where}: metric name {name[:80]!r} starts with {RESERVED_METRIC_PREFIX!r}, which is reserved for "
            "series derived from spans; rename the metric",
        )
    return check_name(name, "metric name", where)


def check_ts(ts: float, where: str) -> float:
    """``ts`` when it is a Unix time between 1970 and 2200; else a :class:`DecodeError`."""
    if not MIN_TS < ts < MAX_TS:
        raise DecodeError("invalid", f"{where}: timestamp {ts!r} s is not a Unix time between 1970 and 2200")
    return ts


def check_value(value: float, where: str) -> bool:
    """True to keep the value, False to skip it (NaN, Prometheus' staleness marker); raise for infinities."""
    if value != value:
        return False
    if math.isinf(value):
        raise DecodeError("invalid", f"{where}: value {value!r} is not finite")
    return True


def check_span(trace_id: str, span_id: str, parent: str, start_ns: int, end_ns: int, where: str) -> None:
    """Ids of 32, 16 and 0 or 16 hex digits, and a start and end that make an interval in (1970, 2200)."""
    if len(trace_id) != 32 or len(span_id) != 16 or len(parent) not in (0, 16):
        raise DecodeError(
            "invalid",
            f"{where}: trace id must be 16 bytes, span id 8, parent span id 0 or 8 "
            f"(got {len(trace_id) // 2}, {len(span_id) // 2}, {len(parent) // 2})",
        )
    if not (start_ns / 1e9 > MIN_TS and start_ns <= end_ns and end_ns / 1e9 < MAX_TS):
        raise DecodeError(
            "invalid", f"{where}: start {start_ns} / end {end_ns} ns are not an interval between 1970 and 2200"
        )


# ---------------------------------------------------------------- histograms
def histogram_quantile(q: float, bounds: list[float], counts: list[int]) -> float | None:
    """The ``q`` quantile of an explicit-bucket histogram, interpolated linearly within its bucket.

    As Prometheus' ``histogram_quantile``. ``counts`` has one more entry than ``bounds`` (the ``+Inf``
    bucket). Returns ``None`` for an empty histogram; a quantile in the ``+Inf`` bucket is the last
    finite bound.
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


def series_names(name: str, pairs: list[tuple[str, Any]], instance: str, where: str) -> list[str]:
    """The series a data point feeds: the per-service one and, for a resource with an instance id, its instance's.

    ``name{k=v,...}`` with the point's attributes; the per-instance series adds ``service.instance.id``.
    """
    names = [check_name(name + labels_suffix(pairs), "metric name", where)]
    if instance:
        names.append(check_name(name + labels_suffix([*pairs, (INSTANCE_LABEL, instance)]), "metric name", where))
    return names


def emit_stats(
    out: list[MetricPoint],
    service: str,
    bases: list[str],
    ns: int,
    stats: Mapping[str, float | None],
    unit: str,
    where: str,
) -> None:
    """Append ``<base>_<stat>`` points (count, sum, quantiles) of one histogram or summary point.

    ``bases`` are its :func:`series_names`. Counts carry no unit, the sum and the quantiles the metric's.
    """
    if not ns:
        raise DecodeError("invalid", f"{where}: data point without time_unix_nano")
    ts = check_ts(ns / 1_000_000_000, where)
    for stat, v in stats.items():
        if v is not None and check_value(v, where):
            for base in bases:
                name = check_name(f"{base}_{stat}", "metric name", where)
                out.append((service, name, ts, float(v), "" if stat == "count" else unit))
