"""HTTP plumbing shared by every route: problem documents, the error mapping, the request guard.

Errors are RFC 9457 ``application/problem+json`` documents that say what to fix; bad input is a 4xx,
never a 5xx, and no stack trace ever reaches a client.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from rca.errors import DataError, RCAError, UnknownMethodError
from rca.registry.models import RegistryError

log = logging.getLogger("rca.api")

REQUESTS = Counter("rca_http_requests_total", "HTTP requests.", ["method", "route", "status"])
LATENCY = Histogram(
    "rca_http_request_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

PROBLEM = "application/problem+json"

ERRORS: dict[type[Exception], tuple[int, str]] = {
    DataError: (422, "Unusable data"),
    UnknownMethodError: (422, "Unknown method"),
    RegistryError: (404, "No such model"),
    RCAError: (422, "Cannot do that"),
}
"""Exceptions of the package -> status and title of the problem document (the closest class wins)."""

TITLES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Request too large",
    422: "Invalid request",
}
"""Titles of the problem documents of HTTP errors."""

MESSAGES = {
    "finite_number": "NaN and Infinity are not values; send null for a missing value",
}
"""Validation messages that say more than pydantic's, by error type."""


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field_error(error: dict[str, Any], body: Any) -> dict[str, str]:
    if error.get("type") == "json_invalid":  # loc is ("body", <character offset>), not a field
        position = int(error["loc"][-1])
        reason = (error.get("ctx") or {}).get("error", "malformed JSON")
        where = f"character {position}"
        if isinstance(body, str):
            line = body.count("\n", 0, position) + 1
            where += f" (line {line}, column {position - body.rfind(chr(10), 0, position)})"
        return {"field": "body", "message": f"malformed JSON at {where}: {reason}"}
    field = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
    return {"field": field, "message": MESSAGES.get(error.get("type", ""), error.get("msg", ""))}


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(e, exc.body) for e in exc.errors()]
    detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
    return problem(422, "Invalid request", detail, errors=errors[:50])


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, TITLES.get(exc.status_code, "Error"), str(exc.detail))


async def _on_error(_request: Request, exc: Exception) -> JSONResponse:
    kind = next(k for k in type(exc).__mro__ if k in ERRORS)
    status, title = ERRORS[kind]
    return problem(status, title, str(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Answer validation errors, HTTP errors and the package's errors (:data:`ERRORS`) with problem documents."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    for kind in ERRORS:
        app.add_exception_handler(kind, _on_error)


class _JSONRequest(Request):
    """A request whose JSON body is parsed by orjson (inline cases are large)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)  # NaN and Infinity, which Python clients send, or the precise error
        return self._json


class JSONRoute(APIRoute):
    """A route that parses JSON bodies with orjson."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            response: Response = await handler(_JSONRequest(request.scope, request.receive))
            return response

        return handle


class Guard:
    """ASGI middleware: the request size limit, a problem document for any unhandled error, metrics.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a stream per request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        too_large = f"the body may be at most {self.max_bytes} bytes"
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a streamed body has no content-length to check up front
                raise HTTPException(413, too_large)  # FastAPI passes it on to the problem handler
            return message

        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_bytes:
            await problem(413, "Request too large", too_large)(scope, receive, observed_send)
        else:
            try:
                await self.app(scope, counted_receive, observed_send)
            except Exception:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if not status:  # nothing sent yet: answer with a problem document
                    failed = problem(500, "Internal error", "the server failed; the incident is logged")
                    await failed(scope, receive, observed_send)
        path = getattr(scope.get("route"), "path", "unmatched")
        REQUESTS.labels(scope["method"], path, str(status or 500)).inc()
        LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)
