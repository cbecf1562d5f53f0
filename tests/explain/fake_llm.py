"""A fake OpenAI-compatible chat-completions server on a loopback port, for the LLM explainer's tests.

It is a real HTTP server (``http.server`` in a background thread). It records every request and answers
with whatever its ``responder`` returns: a completion, a tool call, an HTTP error, a slow reply, or raw
bytes. :class:`ScriptedModel` is a well-behaved responder that plays the explainer's protocol.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the fake server answers: a JSON body, or raw bytes, after an optional delay."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    """One request the fake server received."""

    path: str
    headers: dict[str, str]
    body: Any

    @property
    def payload(self) -> dict[str, Any]:
        """The explainer's task payload: the JSON in the first user message."""
        messages = self.body["messages"]
        user = next(m for m in messages if m["role"] == "user")
        result: dict[str, Any] = json.loads(user["content"])
        return result

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The tool results sent in this request, parsed."""
        return [json.loads(m["content"]) for m in self.body["messages"] if m["role"] == "tool"]


def completion(content: str | None = None, tool_calls: list[dict[str, Any]] | None = None, **extra: Any) -> Reply:
    """A ``chat.completion`` reply with one choice."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
        **extra,
    }
    return Reply(body=body)


def tool_call(name: str, arguments: dict[str, Any] | str, call_id: str = "call_1") -> dict[str, Any]:
    """One OpenAI tool call (``arguments`` as a JSON string, as the API sends it)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def json_reply(data: dict[str, Any], **extra: Any) -> Reply:
    """A completion whose text is ``data`` as JSON."""
    return completion(json.dumps(data), **extra)


@dataclass
class ScriptedModel:
    """A responder that plays the explainer's protocol like a cooperative model.

    Node agents first call the tools ``tools(payload)`` returns (by default ``read_series`` on their own
    node), then report ``report(payload)``; the synthesis answers ``synthesis(payload)``, by default a
    narrative that names the first-ranked service.
    """

    tools: Callable[[dict[str, Any]], list[dict[str, Any]]] = field(
        default=lambda p: [tool_call("read_series", {"column": p["node"]})]
    )
    report: Callable[[dict[str, Any]], dict[str, Any]] = field(
        default=lambda p: {
            "node": p["node"],
            "is_abnormal": True,
            "finding": f"`{p['node']}` left its baseline.",
            "likely_cause": p["service"],
        }
    )
    synthesis: Callable[[dict[str, Any]], dict[str, Any]] = field(
        default=lambda p: {
            "summary": f"LLM: `{p['ranking'][0]['service']}` is the root cause.",
            "root_cause": f"LLM: `{p['ranking'][0]['service']}` saturated first.",
            "first_symptom": "LLM: latency moved next.",
            "impact": "LLM: several services were affected.",
            "disagreement": None,
        }
    )

    def __call__(self, request: Recorded) -> Reply:
        payload = request.payload
        if payload["task"] == "synthesis":
            return json_reply(self.synthesis(payload))
        answered = any(m["role"] == "tool" for m in request.body["messages"])
        calls = self.tools(payload) if "tools" in request.body and not answered else []
        if calls:
            return completion(None, tool_calls=calls)
        return json_reply(self.report(payload))


class FakeLLM:
    """The server. Use as a context manager; ``url`` is the ``base_url`` to give the explainer."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.responder: Callable[[Recorded], Reply] = ScriptedModel()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
                request = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(request)
                reply = fake.responder(request)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the per-request log line."""

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                """A client that gave up (the timeout tests) is not an error here."""

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def reset(self, responder: Callable[[Recorded], Reply] | None = None) -> None:
        """Forget the recorded requests and answer with ``responder`` (default: :class:`ScriptedModel`)."""
        with self._lock:
            self.requests.clear()
        self.responder = responder or ScriptedModel()

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
