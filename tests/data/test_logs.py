"""The log-line parser and per-bucket counts (rca.data.logs)."""

from __future__ import annotations

import pandas as pd
import pytest

from rca.data.logs import COUNT_COLUMNS, MASK, MAX_TOKENS, level_of_severity_number, log_counts, parse_log_line

NEZHA = (
    "16:42:22.382 INFO  t.s.TravelServiceImpl#532 TraceID: ffc8ca7e4c8f06c75142c880d5595d96 "
    "SpanID: 439bc949a9eeb0cc [getRouteByRouteId][Get Route By Id][Route is: Route(id=f3d4d4ef-693b-4456-"
    "8eed-59c0d717dd08, distances=[0, 50])]\n"
)


def test_nezha_line_gives_level_logger_and_masked_ids() -> None:
    line = parse_log_line(NEZHA)
    assert line.level == "INFO"
    assert line.template_key == (
        "t.s.TravelServiceImpl#532 TraceID: <*> SpanID: <*> [getRouteByRouteId][Get Route By Id]"
        "[Route is: Route(id=<*>, distances=[<*>, <*>])]"
    )


def test_same_statement_with_other_values_has_one_key() -> None:
    other = (
        "09:01:02.003 INFO  t.s.TravelServiceImpl#532 TraceID: 0a1b SpanID: 99 [getRouteByRouteId][Get Route By Id]"
        "[Route is: Route(id=00000000-1111-2222-3333-444444444444, distances=[10, 7500])]"
    )
    assert parse_log_line(other) == parse_log_line(NEZHA)


def test_source_line_is_part_of_the_identity() -> None:
    info = parse_log_line("16:44:10.575 INFO  c.s.ContactsServiceImpl#34 [findContactsById][Find contacts]")
    error = parse_log_line("16:44:10.575 ERROR c.s.ContactsServiceImpl#37 [findContactsById][Find contacts]")
    assert info.template_key.startswith("c.s.ContactsServiceImpl#34 ")
    assert error.template_key.startswith("c.s.ContactsServiceImpl#37 ")
    assert (info.level, error.level) == ("INFO", "ERROR")


def test_logger_names_with_digits_are_kept_and_numbers_masked() -> None:
    key = parse_log_line("WARN t.s.Travel2ServiceImpl#90 request 12345 took 35ms from 10.0.0.7:8080").template_key
    assert key == "t.s.Travel2ServiceImpl#90 request <*> took <*> from <*>"


@pytest.mark.parametrize(
    ("body", "level"),
    [
        ("2023-01-29 08:42:22,383 ERROR [main] o.a.Foo: failed", "ERROR"),
        ("2023-01-29T08:42:22.383Z WARNING something odd", "WARN"),
        ("[ERROR] could not connect", "ERROR"),
        ('{"level":"error","msg":"boom"}', "ERROR"),
        ("time=2023-01-29T08:42:22Z level=warning msg=slow", "WARN"),
        ("app - worker - CRITICAL - disk full", "FATAL"),
        ("just some text with the word info in it", ""),
    ],
)
def test_level_is_parsed_from_common_line_shapes(body: str, level: str) -> None:
    assert parse_log_line(body).level == level


def test_record_severity_wins_over_the_line() -> None:
    assert parse_log_line(NEZHA, "Error").level == "ERROR"
    assert parse_log_line("no level here", "warning").level == "WARN"
    assert parse_log_line(NEZHA, "").level == "INFO"


def test_timestamps_and_level_are_not_part_of_the_key() -> None:
    a = parse_log_line("2023-01-29 08:42:22.383 INFO started worker pool").template_key
    b = parse_log_line("2024-12-31T23:59:59Z INFO started worker pool").template_key
    assert a == b == "started worker pool"


def test_long_lines_key_on_their_first_tokens() -> None:
    head = "12:00:00.000 INFO  o.s.OrderServiceImpl#65 [getSoldTickets][Left ticket info][info is:"
    short = parse_log_line(head + " seat" * 40)
    longer = parse_log_line(head + " seat" * 4000)
    assert short.template_key == longer.template_key
    assert len(short.template_key.split()) == MAX_TOKENS


def test_uuid_hex_and_numbers_masked() -> None:
    key = parse_log_line("order 3f2a9c1e-0b1d-4c1e-9a7f-1234567890ab by user 0xdeadbeef1 total 12.50").template_key
    assert key == f"order {MASK} by user {MASK} total {MASK}"


def test_severity_numbers() -> None:
    assert [level_of_severity_number(n) for n in (0, 1, 5, 9, 13, 17, 21, 24)] == [
        "",
        "TRACE",
        "DEBUG",
        "INFO",
        "WARN",
        "ERROR",
        "FATAL",
        "FATAL",
    ]


def test_log_counts_buckets_per_service_template_and_level() -> None:
    logs = pd.DataFrame(
        {
            "time": [0.5, 30.0, 59.9, 60.0, 61.0, 10.0],
            "service": ["a", "a", "a", "a", "a", "b"],
            "level": ["", "", "", "", "ERROR", "INFO"],
            "message": [
                "INFO x.Y#1 got 1",
                "INFO x.Y#1 got 22",
                "ERROR x.Y#2 failed",
                "INFO x.Y#1 got 3",
                "INFO x.Y#1 got 4",
                "hello 5",
            ],
        }
    )
    counts = log_counts(logs, 60.0)
    assert list(counts.columns) == list(COUNT_COLUMNS)
    rows = {tuple(r[:4]): r[4] for r in counts.itertuples(index=False)}
    assert rows == {
        ("a", "x.Y#1 got <*>", "INFO", 0.0): 2,
        ("a", "x.Y#2 failed", "ERROR", 0.0): 1,
        ("a", "x.Y#1 got <*>", "INFO", 60.0): 1,
        ("a", "x.Y#1 got <*>", "ERROR", 60.0): 1,  # the record's level wins over the line's
        ("b", "hello <*>", "INFO", 0.0): 1,
    }


def test_log_counts_of_nothing_is_an_empty_frame_with_the_columns() -> None:
    empty = pd.DataFrame({c: [] for c in ("time", "service", "level", "message")})
    counts = log_counts(empty, 60.0)
    assert list(counts.columns) == list(COUNT_COLUMNS)
    assert counts.empty
