"""The LLM explainer's side of the wire: one OpenAI-compatible chat endpoint within a budget.

Every request of one explanation shares a :class:`Run`: calls, tokens and wall time are counted there,
and running out of any of them, like any HTTP error or unreadable reply, raises :class:`Fallback`,
which makes the explainer return the template's explanation with the reason.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from rca.explain.evidence import CaseEvidence
from rca.explain.mentions import MentionChecker
from rca.explain.model import FallbackReason, NodeReport, ToolCallRecord


class Fallback(Exception):
    """Stop the LLM and fall back to the template, for ``reason``."""

    def __init__(self, reason: FallbackReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: FallbackReason = reason
        self.detail = detail


@dataclass
class Run:
    """The state of one explanation: budget, transcript, and the case's evidence."""

    evidence: CaseEvidence
    checker: MentionChecker
    deadline: float
    calls: int = 0
    tokens: int = 0
    reported_tokens: bool = False
    llm_s: float = 0.0
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    reports: list[NodeReport] = field(default_factory=list)
    log_changes: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """``service -> log_change`` evidence of the ranking's candidates (what ``read_logs`` answers from)."""


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI-compatible ``/chat/completions`` endpoint and the limits of one explanation.

    See :class:`rca.explain.llm.LLMExplainer` for the parameters.
    """

    base_url: str
    model: str
    api_key: str | None
    max_calls: int
    timeout_s: float
    max_tokens: int
    max_total_tokens: int

    def headers(self) -> dict[str, str]:
        """The request headers (the bearer key when one is set)."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def chat(
        self, client: httpx.Client, run: Run, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """One chat-completion request within the budget; returns the reply's ``message``."""
        if run.calls >= self.max_calls:
            raise Fallback("budget_exhausted", f"all {self.max_calls} calls spent")
        left = run.deadline - time.monotonic()
        if left <= 0:
            raise Fallback("timeout", f"the {self.timeout_s:g} s limit was reached")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        if tools:
            body |= {"tools": tools, "tool_choice": "auto"}
        url = f"{self.base_url}/chat/completions"
        run.calls += 1
        sent = time.perf_counter()
        try:
            response = client.post(url, json=body, timeout=httpx.Timeout(left))
        except httpx.TimeoutException:
            raise Fallback("timeout", f"no answer from {url} within the {self.timeout_s:g} s limit") from None
        except httpx.HTTPError as exc:
            raise Fallback("http_error", f"{type(exc).__name__} from {url}: {exc}") from None
        finally:
            run.llm_s += time.perf_counter() - sent
        if response.status_code != 200:
            raise Fallback("http_error", f"HTTP {response.status_code} from {url}: {response.text[:200]}")
        if time.monotonic() > run.deadline:
            raise Fallback("timeout", f"the {self.timeout_s:g} s limit was reached")
        try:
            reply = response.json()
            message = reply["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise Fallback("malformed_output", f"not a chat completion: {response.text[:120]!r}") from None
        if not isinstance(message, dict):
            raise Fallback("malformed_output", "the completion's message is not an object")
        usage = reply.get("usage")
        total = usage.get("total_tokens") if isinstance(usage, dict) else None
        if isinstance(total, int):
            run.tokens += total
            run.reported_tokens = True
            if run.tokens > self.max_total_tokens:
                raise Fallback("budget_exhausted", f"{run.tokens} tokens used, over the {self.max_total_tokens} limit")
        return message


def parse_object(content: object) -> dict[str, Any]:
    """The JSON object in a reply, tolerating a markdown fence or text around it."""
    if not isinstance(content, str) or not content.strip():
        raise Fallback("malformed_output", "the reply has no text content")
    text = content.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise Fallback("malformed_output", f"no JSON object in the reply: {content[:120]!r}")
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise Fallback("malformed_output", f"invalid JSON in the reply: {exc}") from None
    if not isinstance(value, dict):
        raise Fallback("malformed_output", "the reply's JSON is not an object")
    return value


def decode_call(call: object) -> tuple[str, str, dict[str, Any] | None]:
    """``(id, function name, arguments)`` of an OpenAI tool call; arguments ``None`` when unreadable."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return "", "", None
    function = call["function"]
    raw = function.get("arguments")
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        parsed = None
    return str(call.get("id", "")), str(function.get("name", "")), parsed if isinstance(parsed, dict) else None


def text_field(data: Mapping[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Fallback("malformed_output", f"the reply lacks a non-empty string {key!r}")
    return value.strip()[:limit]
