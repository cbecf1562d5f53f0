"""The tools the LLM explainer's agents may call: ``read_series``, ``read_spans`` and ``read_logs``.

``read_series`` and ``read_spans`` read the case; ``read_logs`` reads the ranking's log evidence (the
templates whose rate changed most in a candidate service's logs, :mod:`rca.anomaly.logs`), so the
model sees the same templates the ranking used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rca.anomaly.logs import LOG_CHANGE
from rca.data.case import Case
from rca.explain.evidence import finite, span_stats
from rca.explain.llm_client import Run, decode_call
from rca.explain.model import SeriesNumbers, ToolCallRecord
from rca.rank.ranking import Ranking

MAX_TOOL_CALLS_PER_TURN = 4
MAX_LISTED_COLUMNS = 40
MAX_LISTED_SERVICES = 80
_SPAN_LIMIT = 5
_MAX_SPAN_LIMIT = 20
_TEMPLATE_LIMIT = 5


def _service_tool(name: str, description: str, max_limit: int) -> dict[str, Any]:
    """A tool that reads one service's evidence, at most ``max_limit`` items of it."""
    limit = {"type": "integer", "minimum": 1, "maximum": max_limit}
    parameters = {
        "type": "object",
        "properties": {"service": {"type": "string"}, "limit": limit},
        "required": ["service"],
    }
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "read_series",
            "description": "Statistics of one series (baseline median, peak, robust z, onset) and a downsampled "
            "window of [unix_seconds, value] points around a time.",
            "parameters": {
                "type": "object",
                "properties": {
                    "column": {"type": "string", "description": "the series column, e.g. carts_cpu"},
                    "around": {"type": "number", "description": "Unix seconds; default: the anomaly time"},
                },
                "required": ["column"],
            },
        },
    },
    _service_tool(
        "read_spans",
        "Span statistics of one service before and after the anomaly time: count, p50/p90 "
        "latency in ms, error share, top operations, callers and callees.",
        _MAX_SPAN_LIMIT,
    ),
    _service_tool(
        "read_logs",
        "The log templates whose rate changed most in one candidate service's logs after the "
        "anomaly time: each with its level, lines per minute before and after, z and one example line; and "
        "the service's share of ERROR lines before and after.",
        _TEMPLATE_LIMIT,
    ),
]
"""Every OpenAI ``tool`` the node agents may get; :func:`offered` picks those the data supports."""


def offered(case: Case, run: Run) -> list[dict[str, Any]]:
    """The tools for this case: ``read_spans`` when it has spans, ``read_logs`` when the ranking has log evidence."""
    names = {"read_series"}
    if case.telemetry.traces is not None:
        names.add("read_spans")
    if run.log_changes:
        names.add("read_logs")
    return [tool for tool in TOOLS if tool["function"]["name"] in names]


def log_evidence(ranking: Ranking) -> dict[str, Mapping[str, Any]]:
    """``service -> log_change`` evidence of a ranking (what ``read_logs`` answers), from whichever of a
    service's candidates carries it."""
    changes: dict[str, Mapping[str, Any]] = {}
    for candidate in ranking.candidates:
        change = candidate.evidence.get(LOG_CHANGE)
        if isinstance(change, Mapping):
            changes.setdefault(candidate.service, change)
    return changes


def compact(numbers: SeriesNumbers | None) -> dict[str, Any] | None:
    """The numbers as JSON for a prompt: values to four significant digits, times exact."""
    if numbers is None:
        return None
    data = numbers.model_dump(exclude_none=True)
    return {k: float(f"{v:.4g}") if isinstance(v, float) and not k.endswith("_time") else v for k, v in data.items()}


def tool_message(
    run: Run, case: Case, node: str, service: str, call: object, *, skip: bool, max_chars: int
) -> dict[str, Any]:
    """Run one tool call of the agent of ``node`` (of ``service``); the ``tool`` message that answers it.

    The result is cut at ``max_chars`` characters; ``skip`` answers with an error instead (too many
    calls in one turn).
    """
    call_id, name, arguments = decode_call(call)
    result: dict[str, Any]
    if skip:
        result = {"error": f"skipped: at most {MAX_TOOL_CALLS_PER_TURN} tool calls per turn"}
    elif arguments is None:
        result = {"error": "not a function call with a JSON object as 'arguments'"}
    else:
        try:
            result = _run_tool(run, case, service, name, arguments)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            result = {"error": f"{name} failed: {type(exc).__name__}: {exc}"}
    content = bounded(json.dumps(result), max_chars)
    run.tool_calls.append(
        ToolCallRecord(
            node=node,
            name=name,
            arguments=arguments or {},
            ok="error" not in result,
            result_chars=len(content),
        )
    )
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _run_tool(run: Run, case: Case, service: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    if name == "read_series":
        return _read_series(run, service, arguments)
    if name == "read_spans":
        return _read_spans(case, arguments)
    if name == "read_logs":
        return _read_logs(run, arguments)
    return {"error": f"unknown tool {name!r}; the tools are read_series, read_spans and read_logs"}


def _read_series(run: Run, service: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    column = arguments.get("column")
    numbers = run.evidence.numbers.get(column) if isinstance(column, str) else None
    if numbers is None:
        same = [c for c, n in run.evidence.numbers.items() if n.service == service]
        return {"error": f"unknown column {column!r}; columns of {service}: {same[:MAX_LISTED_COLUMNS]}"}
    around = finite(arguments.get("around"))
    return {
        **(compact(numbers) or {}),
        "anomaly_time": run.evidence.case.inject_time,
        "window": run.evidence.window(numbers.column, around),
    }


def _read_spans(case: Case, arguments: Mapping[str, Any]) -> dict[str, Any]:
    spans = case.telemetry.traces
    if spans is None:
        return {"error": "this case has no spans"}
    service = arguments.get("service")
    if not isinstance(service, str) or not (spans["service"] == service).any():
        known = sorted({str(s) for s in spans["service"].unique()})
        return {"error": f"no spans for service {service!r}; services with spans: {known[:MAX_LISTED_SERVICES]}"}
    limit = arguments.get("limit", _SPAN_LIMIT)
    limit = min(max(limit, 1), _MAX_SPAN_LIMIT) if isinstance(limit, int) else _SPAN_LIMIT
    return span_stats(spans, service, case.inject_time, limit)


def _read_logs(run: Run, arguments: Mapping[str, Any]) -> dict[str, Any]:
    service = arguments.get("service")
    change = run.log_changes.get(service) if isinstance(service, str) else None
    if change is None:
        known = sorted(run.log_changes)[:MAX_LISTED_SERVICES]
        return {"error": f"no log evidence for service {service!r}; services with log evidence: {known}"}
    limit = arguments.get("limit", _TEMPLATE_LIMIT)
    limit = min(max(limit, 1), _TEMPLATE_LIMIT) if isinstance(limit, int) else _TEMPLATE_LIMIT
    templates = change.get("templates")
    return {
        "service": service,
        "anomaly_time": run.evidence.case.inject_time,
        "error_share_before": change.get("error_share_before"),
        "error_share_after": change.get("error_share_after"),
        "templates": list(templates[:limit]) if isinstance(templates, list) else [],
    }


def bounded(text: str, max_chars: int) -> str:
    """``text``, cut at ``max_chars`` characters with a note saying so."""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 14] + " …[truncated]"
