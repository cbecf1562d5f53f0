"""OTLP logs (protobuf and JSON) and ``rca_logs`` JSON lines: encode, decode, reject; no broker needed."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest
from google.protobuf import json_format
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData

from rca.data.logs import parse_log_line
from rca.ingest.otlp import DecodeError
from rca.ingest.otlp_logs import (
    decode_logs_json,
    decode_logs_jsonl,
    decode_logs_proto,
    encode_logs,
    logs_data,
)

T0 = 1_674_981_742.0
ROWS = [
    {"time": T0 + 0.382, "service": "ts-travel-service", "level": "INFO",
     "message": "16:42:22.382 INFO  t.s.TravelServiceImpl#532 [getRouteByRouteId][Get Route By Id][Route is 42]",
     "trace_id": "ffc8ca7e4c8f06c75142c880d5595d96", "span_id": "439bc949a9eeb0cc"},
    {"time": T0 + 1.5, "service": "ts-contacts-service", "level": "ERROR",
     "message": "ERROR c.s.ContactsServiceImpl#37 [findContactsById][No contacts according to contactsId]",
     "trace_id": "", "span_id": ""},
    {"time": T0 + 2.25, "service": "ts-travel-service", "level": "",
     "message": "plain line without a level 17", "trace_id": float("nan"), "span_id": None},
]  # fmt: skip
DECODERS = {"otlp_proto": decode_logs_proto, "otlp_json": decode_logs_json, "jsonl": decode_logs_jsonl}


def expected(row: dict[str, object]) -> tuple[object, ...]:
    level = row["level"] or None
    line = parse_log_line(str(row["message"]), str(level) if level else None)
    ids = [v if isinstance(v, str) else "" for v in (row["trace_id"], row["span_id"])]
    return (row["service"], row["time"], line.level, line.template_key, row["message"], *ids)


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json", "jsonl"])
def test_logs_round_trip(encoding: str) -> None:
    records = DECODERS[encoding](encode_logs(ROWS, encoding))
    # One resource per service: records come back grouped by service, in time order within it.
    # Plain tuples of the ingest record's shape (rca.ingest.records.LogLine), no store type.
    assert all(type(r) is tuple and len(r) == 7 for r in records)
    assert sorted((*r[:1], round(r[1], 6), *r[2:]) for r in records) == sorted(expected(r) for r in ROWS)


def test_otlp_json_logs_are_spec_conformant() -> None:
    """Hex ids, int64 nanoseconds as strings, integer severity numbers, the resource's service.name."""
    doc = json.loads(encode_logs(ROWS[:1], "otlp_json"))
    resource = doc["resourceLogs"][0]
    assert resource["resource"]["attributes"] == [
        {"key": "service.name", "value": {"stringValue": "ts-travel-service"}}
    ]
    record = resource["scopeLogs"][0]["logRecords"][0]
    assert record["traceId"] == ROWS[0]["trace_id"] and record["spanId"] == ROWS[0]["span_id"]
    assert record["timeUnixNano"] == str(round(float(ROWS[0]["time"]) * 1e9))  # type: ignore[arg-type]
    assert record["severityNumber"] == 9 and record["severityText"] == "INFO"
    assert record["body"] == {"stringValue": ROWS[0]["message"]}


def test_severity_number_alone_gives_the_level_and_observed_time_stands_in() -> None:
    data = logs_data(ROWS[:1])
    record = data.resource_logs[0].scope_logs[0].log_records[0]
    record.severity_text = ""
    record.severity_number = 18  # type: ignore[assignment]  # ERROR2
    record.time_unix_nano = 0
    (decoded,) = decode_logs_proto(data.SerializeToString())
    _service, ts, level, *_ = decoded
    assert level == parse_log_line(str(ROWS[0]["message"]), "ERROR").level
    assert ts == pytest.approx(ROWS[0]["time"])


def test_unknown_fields_and_a_missing_resource_are_accepted() -> None:
    doc = json.loads(encode_logs(ROWS[:1], "otlp_json"))
    doc["resourceLogs"][0]["futureField"] = {"x": 1}
    del doc["resourceLogs"][0]["resource"]
    (record,) = decode_logs_json(json.dumps(doc).encode())
    assert record[0] == "unknown_service"


def _proto_with(**changes: object) -> bytes:
    data = logs_data(ROWS[:1])
    record = data.resource_logs[0].scope_logs[0].log_records[0]
    for key, value in changes.items():
        setattr(record, key, value)
    return data.SerializeToString()


@pytest.mark.parametrize(
    ("decoder", "value", "reason", "says"),
    [
        (decode_logs_proto, b"\xff\xfe not a protobuf", "bad_protobuf", "LogsData"),
        (decode_logs_proto, _proto_with(time_unix_nano=0, observed_time_unix_nano=0), "invalid", "time"),
        (decode_logs_proto, _proto_with(time_unix_nano=9 * 10**18 * 2), "invalid", "2200"),
        (decode_logs_proto, _proto_with(trace_id=b"\x01\x02"), "invalid", "trace_id"),
        (decode_logs_json, b'{"resourceLogs": [', "bad_json", "not JSON"),
        (decode_logs_json, b"\xff\xfe", "bad_utf8", "UTF-8"),
        (decode_logs_json, b"[1, 2]", "invalid", "object"),
        (
            decode_logs_json,
            b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","traceId":"zz"}]}]}]}',
            "invalid",
            "not hex",
        ),
        (
            decode_logs_json,
            b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}',
            "invalid",
            "not OTLP/JSON",
        ),
        (decode_logs_jsonl, b'{"ts": 1700000000, "service": "a"}', "invalid", "message"),
        (decode_logs_jsonl, b'{"ts": "now", "service": "a", "message": "m"}', "invalid", "ts"),
        (decode_logs_jsonl, b'{"ts": 1700000000, "service": "", "message": "m"}', "invalid", "service"),
        (decode_logs_jsonl, b'{"ts": 1700000000, "service": "a", "message": "m", "level": 3}', "invalid", "level"),
        (decode_logs_jsonl, b'{"ts": 1700000000, "service": "a", "message": "m"}\nnot json', "bad_json", "JSON"),
        (decode_logs_jsonl, b'["ts"]', "invalid", "object"),
        (
            decode_logs_jsonl,
            b'{"ts": 1700000000, "service": "a", "message": "m", "trace_id": "a\\u0000b"}',
            "invalid",
            "NUL",
        ),
    ],
)
def test_malformed_logs_raise_decode_errors_that_say_what_is_wrong(decoder, value, reason, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError) as info:
        decoder(value)
    assert info.value.reason == reason
    assert says in str(info.value)


def test_protobuf_json_mapping_reads_what_we_write_once_ids_are_base64() -> None:
    """The encoder's JSON is what json_format would write, apart from hex ids (the OTLP/JSON rule)."""
    doc = json.loads(encode_logs(ROWS[:1], "otlp_json"))
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    for key in ("traceId", "spanId"):
        record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
    parsed = json_format.ParseDict(doc, LogsData())
    assert parsed == logs_data(ROWS[:1])


def test_replay_plans_log_messages_in_time_order_on_the_log_topics() -> None:
    from rca.ingest.replay import LOGS_PER_MESSAGE, log_messages
    from rca.settings import IngestSettings

    settings = IngestSettings()
    rows = pd.DataFrame([{**ROWS[i % len(ROWS)], "time": T0 + 1000 - i} for i in range(LOGS_PER_MESSAGE + 10)])
    proto = log_messages(rows, settings, "otlp_proto", offset=60.0)
    assert [m.logs for m in proto] == [LOGS_PER_MESSAGE, 10]
    assert {m.topic for m in proto} == {settings.logs_topic}
    first = decode_logs_proto(proto[0].value)
    assert min(r[1] for r in first) == pytest.approx(T0 + 1000 - (LOGS_PER_MESSAGE + 9) + 60.0)
    assert proto[0].at <= proto[1].at == pytest.approx(T0 + 1000 + 60.0)
    lines = log_messages(rows, settings, "jsonl")
    assert {m.topic for m in lines} == {settings.logs_jsonl_topic}
    assert sum(len(decode_logs_jsonl(m.value)) for m in lines) == len(rows)
