"""Log records from Kafka message values, and back: OTLP logs (protobuf, JSON) and JSON lines.

Formats, as the OpenTelemetry Collector's Kafka exporter and plain producers write them:

* ``otlp_proto``: one ``opentelemetry.proto.logs.v1.LogsData`` message (wire-identical to
  ``ExportLogsServiceRequest``).
* ``otlp_json``: OTLP/JSON of the same message, parsed with ``google.protobuf.json_format`` into
  ``LogsData`` after rewriting the hex ``traceId`` / ``spanId`` into the base64 protobuf's JSON
  mapping expects; unknown fields are ignored.
* ``jsonl`` (topic ``rca_logs``): one object per line,
  ``{"ts": 1674981742.38, "service": "ts-travel-service", "level": "INFO", "message": "...",
  "trace_id": "...", "span_id": "..."}``; ``level``, ``trace_id`` and ``span_id`` are optional.

Each record becomes a :data:`rca.ingest.records.LogLine` tuple: ``service`` from the resource as for metrics
and spans (:func:`rca.ingest.records.resource_identity`: ``service.name``, prefixed by
``service.namespace/`` when there is one), the time from ``time_unix_nano`` (else
``observed_time_unix_nano``, as the OTel data model says), the body as text, and the level and
template key from :func:`rca.data.logs.parse_log_line` given the body and the severity (its text,
else the name of its number's range). Ids are lowercase hex. One bad record (no time, a time outside
1970-2200, an id of the wrong length, an empty or too long service name) makes the whole message a
dead letter, as for metrics and spans.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData, ScopeLogs

from rca.data.logs import level_of_severity_number, normalise_level, parse_log_line
from rca.ingest.encode import id_bytes, otlp_bytes, scope_per_service
from rca.ingest.otlp import scopes
from rca.ingest.records import MAX_TS, MIN_TS, DecodeError, LogLine, check_name

SEVERITY_NUMBERS = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
"""Level -> the first OTLP ``SeverityNumber`` of its range (the OTel log data model)."""

MAX_ID_CHARS = 64
"""Longest trace or span id accepted on the JSON-lines topic."""


def _body_text(body: AnyValue) -> str:
    kind = body.WhichOneof("value")
    if kind == "string_value":
        return body.string_value
    if kind is None:
        return ""
    if kind in ("kvlist_value", "array_value"):
        return json.dumps(json_format.MessageToDict(body), separators=(",", ":"))
    if kind == "bytes_value":
        return body.bytes_value.hex()
    return str(getattr(body, kind))


def _records(data: LogsData) -> list[LogLine]:
    out: list[LogLine] = []
    append = out.append
    lo, hi = MIN_TS * 1e9, MAX_TS * 1e9
    for service, _instance, records, where in scopes(data.resource_logs, "scope_logs", "log_records", "resourceLogs"):
        for i, lr in enumerate(records):
            ns = lr.time_unix_nano or lr.observed_time_unix_nano
            if not lo < ns < hi:
                raise DecodeError(
                    "invalid",
                    f"{where} record {i} of {service!r}: time {ns} ns is missing or not between 1970 and 2200",
                )
            trace_id, span_id = lr.trace_id, lr.span_id
            if len(trace_id) not in (0, 16) or len(span_id) not in (0, 8):
                raise DecodeError(
                    "invalid",
                    f"{where} record {i} of {service!r}: trace_id must be 0 or 16 bytes and span_id "
                    f"0 or 8 (got {len(trace_id)}, {len(span_id)})",
                )
            body = lr.body.string_value or _body_text(lr.body)
            if "\x00" in body:
                body = body.replace("\x00", "")
            severity = lr.severity_text or level_of_severity_number(lr.severity_number)
            line = parse_log_line(body, severity or None)
            append((service, ns / 1e9, line.level, line.template_key, body, trace_id.hex(), span_id.hex()))
    return out


def decode_logs_proto(value: bytes) -> list[LogLine]:
    """Log records of an OTLP ``LogsData`` protobuf message.

    Raises
    ------
    DecodeError
        ``bad_protobuf`` when the bytes do not parse, ``invalid`` for a bad time, id or service name.
    """
    data = LogsData()
    try:
        data.ParseFromString(value)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError("bad_protobuf", f"not an OTLP LogsData protobuf message: {exc}") from None
    return _records(data)


def _json_value(value: bytes) -> Any:
    try:
        return json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_utf8", f"not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DecodeError("bad_json", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise DecodeError("bad_json", f"not acceptable JSON: {exc}"[:300]) from None


def _hex_ids_to_base64(root: Any) -> None:
    """Rewrite the hex ``traceId`` / ``spanId`` of every log record in place (OTLP/JSON -> protobuf JSON)."""
    if not isinstance(root, dict):
        raise DecodeError("invalid", f"message: expected an object, got {type(root).__name__}")
    for rl in root.get("resourceLogs") or root.get("resource_logs") or []:
        for sl in (rl.get("scopeLogs") or rl.get("scope_logs") or []) if isinstance(rl, dict) else []:
            for record in (sl.get("logRecords") or sl.get("log_records") or []) if isinstance(sl, dict) else []:
                if not isinstance(record, dict):
                    continue
                for key in ("traceId", "spanId", "trace_id", "span_id"):
                    hex_id = record.get(key)
                    if isinstance(hex_id, str) and hex_id:
                        try:
                            record[key] = base64.b64encode(bytes.fromhex(hex_id)).decode()
                        except ValueError:
                            raise DecodeError("invalid", f"log record {key} {hex_id[:80]!r} is not hex") from None


def decode_logs_json(value: bytes) -> list[LogLine]:
    """Log records of an OTLP/JSON logs message (hex ids, string nanoseconds).

    Raises
    ------
    DecodeError
        ``bad_utf8`` / ``bad_json`` when it does not parse, ``invalid`` for wrong types, ids or times.
    """
    root = _json_value(value)
    _hex_ids_to_base64(root)
    data = LogsData()
    try:
        json_format.ParseDict(root, data, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, TypeError, ValueError) as exc:
        raise DecodeError("invalid", f"not OTLP/JSON logs: {exc}"[:500]) from None
    return _records(data)


def _optional_str(obj: Mapping[str, Any], key: str, where: str, limit: int) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise DecodeError(
            "invalid", f"{where}: {key} must be a string of at most {limit} characters without NUL, got {value!r}"[:300]
        )
    return value


def decode_logs_jsonl(value: bytes) -> list[LogLine]:
    """Log records of ``rca_logs`` JSON lines (one object per non-empty line).

    Raises
    ------
    DecodeError
        When a line is not JSON, lacks ``ts``, ``service`` or ``message``, or has a wrong type.
    """
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_utf8", f"not UTF-8 text: {exc}") from None
    out: list[LogLine] = []
    append = out.append
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("bad_json", f"line {number}: not JSON: {exc}"[:300]) from None
        if not isinstance(obj, dict):
            raise DecodeError("invalid", f"line {number}: expected an object, got {type(obj).__name__}")
        try:
            ts, service, message = obj["ts"], obj["service"], obj["message"]
        except KeyError:
            missing = [k for k in ("ts", "service", "message") if k not in obj]
            raise DecodeError(
                "invalid", f"line {number}: missing field(s) {', '.join(missing)}; expected ts, service, level, message"
            ) from None
        where = f"line {number}"
        if ts.__class__ not in (int, float) or not MIN_TS < ts < MAX_TS:
            raise DecodeError("invalid", f"{where}: ts must be Unix seconds between 1970 and 2200, got {ts!r}"[:300])
        if message.__class__ is not str or service.__class__ is not str:
            raise DecodeError("invalid", f"{where}: service and message must be strings")
        if "\x00" in message:
            message = message.replace("\x00", "")
        level = _optional_str(obj, "level", where, 32)
        parsed = parse_log_line(message, level or None)
        append(
            (
                check_name(service, "service", where),
                float(ts),
                parsed.level,
                parsed.template_key,
                message,
                _optional_str(obj, "trace_id", where, MAX_ID_CHARS),
                _optional_str(obj, "span_id", where, MAX_ID_CHARS),
            )
        )
    return out


# ------------------------------------------------------------------ encoding
def logs_data(rows: Iterable[Mapping[str, Any]]) -> LogsData:
    """Log lines (mappings with the case format's logs columns) as an OTLP ``LogsData`` message.

    One resource per service (``service.name``); each record carries the line as its body, the level
    as severity text and number, and the trace and span ids when the line has them.
    """
    data = LogsData()
    scope = scope_per_service(data.resource_logs, "scope_logs")
    for row in rows:
        sl: ScopeLogs = scope(str(row["service"]))
        record = sl.log_records.add()
        ns = round(float(row["time"]) * 1e9)
        record.time_unix_nano = record.observed_time_unix_nano = ns
        record.body.string_value = str(row["message"])
        level = _text(row.get("level"))
        if level:
            record.severity_text = level
            record.severity_number = SEVERITY_NUMBERS.get(normalise_level(level), 0)  # type: ignore[assignment]
        record.trace_id = id_bytes(_text(row.get("trace_id")), 16)
        record.span_id = id_bytes(_text(row.get("span_id")), 8)
    return data


def _text(value: Any) -> str:
    """A cell as text; missing values (``None``, NaN) are ``""``."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def encode_logs(rows: Iterable[Mapping[str, Any]], encoding: str) -> bytes:
    """Log lines as ``otlp_proto``, ``otlp_json`` or ``jsonl`` (the ``rca_logs`` topic) bytes."""
    if encoding == "jsonl":
        lines = [json.dumps(_jsonl_object(row), separators=(",", ":")) for row in rows]
        return ("\n".join(lines) + "\n").encode()
    return otlp_bytes(logs_data(rows), encoding, "log encoding", "otlp_proto, otlp_json or jsonl")


def _jsonl_object(row: Mapping[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {"ts": float(row["time"]), "service": str(row["service"]), "message": str(row["message"])}
    for key in ("level", "trace_id", "span_id"):
        if _text(row.get(key)):
            obj[key] = _text(row.get(key))
    return obj
