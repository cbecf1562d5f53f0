"""Decode ``rca_metrics`` JSON lines, the format for producers without OpenTelemetry.

One object per non-empty line: ``{"ts": 1652812675.0, "service": "carts", "metric": "cpu", "value": 12.5}``,
with an optional ``"unit"`` (``"%"``, ``"By"``, ``"ms"``: UCUM, as OTLP carries units).
"""

from __future__ import annotations

import json
import math

from rca.ingest.records import DecodeError, MetricPoint, check_metric_name, check_name, check_ts

_FIELDS = ("ts", "service", "metric", "value")


def decode_jsonl(value: bytes) -> list[MetricPoint]:
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
    out: list[MetricPoint] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DecodeError("bad_json", f"{where}: not JSON: {exc.msg} at column {exc.colno}") from None
        except (ValueError, RecursionError) as exc:
            raise DecodeError("bad_json", f"{where}: not acceptable JSON: {exc}"[:300]) from None
        if not isinstance(obj, dict):
            raise DecodeError("invalid", f"{where}: expected an object, got {type(obj).__name__}")
        missing = [k for k in _FIELDS if k not in obj]
        if missing:
            raise DecodeError(
                "invalid", f"{where}: missing field(s) {', '.join(missing)}; expected ts, service, metric, value"
            )
        ts, service, metric, v, unit = obj["ts"], obj["service"], obj["metric"], obj["value"], obj.get("unit", "")
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            raise DecodeError("invalid", f"{where}: ts must be a number (Unix seconds), got {ts!r}"[:300])
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise DecodeError("invalid", f"{where}: value must be a number, got {v!r}"[:300])
        if not isinstance(service, str) or not isinstance(metric, str) or not isinstance(unit, str):
            raise DecodeError("invalid", f"{where}: service, metric and unit must be strings")
        try:
            fv, fts = float(v), float(ts)
        except OverflowError:
            raise DecodeError("invalid", f"{where}: value or ts is not a finite number ({v!r}, {ts!r})"[:300]) from None
        if not math.isfinite(fv):
            raise DecodeError("invalid", f"{where}: value {v!r} is not a finite number")
        out.append(
            (check_name(service, "service", where), check_metric_name(metric, where), check_ts(fts, where), fv, unit)
        )
    return out
