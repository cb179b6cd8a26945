"""The request middleware: request id, access log, metrics, security headers, body size limit,
and the one place where unexpected exceptions become a generic 500.

It is plain ASGI (no per-request task or response buffering) and wraps every HTTP request.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carebridge.config import Settings
from carebridge.platform.files import MAX_FILES_PER_REQUEST
from carebridge.platform.metrics import Metrics
from carebridge.platform.problems import (
    API_PATH_PREFIXES,
    PROBLEM_MEDIA_TYPE,
    TYPE_PREFIX,
    wants_page,
)

log = structlog.get_logger("carebridge.http")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Permissions-Policy: what pages may ask the browser for. A page that takes the camera and the
# microphone answers MEDIA_PERMISSIONS instead (``media_page``).
PERMISSIONS = "geolocation=(self), camera=(), microphone=(), display-capture=()"
MEDIA_PERMISSIONS = "geolocation=(self), camera=(self), microphone=(self), display-capture=(self)"


def media_page(response: Response) -> Response:
    """Let ``response``'s page use the camera, the microphone and screen sharing."""
    response.headers["permissions-policy"] = MEDIA_PERMISSIONS
    return response


# Content-Security-Policy for pages: everything from our origin, no inline script, no framing.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


# Renders the error page for people: (status, detail, request id) -> HTML.
ErrorPage = Callable[[int, str, str], str]


class BodyTooLarge(HTTPException):
    """Raised while the body is read; an HTTPException so the framework renders it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes.")
        self.limit = limit


class RouteTemplates:
    """Full path templates of matched routes, for metric labels of bounded cardinality.

    ``scope["route"]`` is the route as declared, without the prefixes of the routers that
    include it; the full template comes from the application's resolved routes."""

    def __init__(self) -> None:
        self._by_route: dict[int, str] | None = None

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        template = self._by_route.get(id(route)) if self._by_route is not None else None
        if template is None:  # first request, or a route added since: index the routes again
            self._by_route = {
                id(context.original_route): str(context.path_format)
                for context in iter_route_contexts(scope["app"].routes)
            }
            template = self._by_route.get(id(route)) or getattr(route, "path_format", None)
        return str(template or "unmatched")


SERVER_SEND_KEY = "carebridge.server_send"


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        metrics: Metrics,
        error_page: ErrorPage | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.max_body = settings.max_body_bytes
        # A multipart body carries files (a message's attachments: up to five of at most
        # CAREBRIDGE_ATTACHMENT_MAX_BYTES each, each refused above that by platform/files.py
        # with a message about that file); Starlette spools its files to disk past 1 MiB.
        self.max_multipart_body = max(
            self.max_body, MAX_FILES_PER_REQUEST * settings.attachment_max_bytes + 1024 * 1024
        )
        self.hsts = settings.is_production
        self.route_template = RouteTemplates()
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                # The server's own send, before any wrapper: the real-time gateway writes
                # pre-encoded broadcast frames through it (platform/realtime/sinks.py).
                scope[SERVER_SEND_KEY] = send
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope["path"]
        is_api = path.startswith(API_PATH_PREFIXES)
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                self._decorate(MutableHeaders(scope=message), request_id, is_api)
            await send(message)

        self.metrics.in_flight.inc()
        try:
            limit = self._limit(scope)
            if _declared_length(scope) > limit:
                status = 413
                await self._too_large_answer(send, scope, request_id, limit)
                return
            await self.app(scope, self._limited(receive, limit), send_wrapper)
        except BodyTooLarge as exc:
            status = 413
            if not response_started:
                await self._too_large_answer(send, scope, request_id, exc.limit)
        except Exception:
            status = 500
            log.exception("unhandled_exception", method=scope["method"], path=path)
            if not response_started:
                detail = f"An unexpected error occurred. Quote request id {request_id} to support."
                if self.error_page is not None and _wants_page(scope):
                    await self._page(send, 500, detail, request_id)
                else:
                    await self._problem(send, 500, "internal_error", detail, request_id)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.in_flight.dec()
            route = self.route_template(scope)
            labels = {"method": scope["method"], "route": route, "status": str(status)}
            self.metrics.requests.labels(**labels).inc()
            self.metrics.latency.labels(**labels).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=path,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    def _limit(self, scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                multipart = value.lower().startswith(b"multipart/form-data")
                return self.max_multipart_body if multipart else self.max_body
        return self.max_body

    async def _too_large_answer(
        self, send: Send, scope: Scope, request_id: str, limit: int
    ) -> None:
        detail = f"The request body exceeds {limit} bytes."
        if self.error_page is not None and _wants_page(scope):
            await self._page(send, 413, detail, request_id)
        else:
            await self._problem(send, 413, "payload_too_large", detail, request_id)

    def _limited(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited_receive

    def _decorate(self, headers: MutableHeaders, request_id: str, is_api: bool) -> None:
        headers[REQUEST_ID_HEADER] = request_id
        headers.setdefault("x-content-type-options", "nosniff")
        headers.setdefault("x-frame-options", "DENY")
        headers.setdefault("referrer-policy", "strict-origin-when-cross-origin")
        headers.setdefault("cross-origin-opener-policy", "same-origin")
        # Camera, microphone and screen sharing only where a page says it needs them (the call
        # and the pre-call check set MEDIA_PERMISSIONS themselves).
        headers.setdefault("permissions-policy", PERMISSIONS)
        headers.setdefault("content-security-policy", _CSP)
        if self.hsts:
            headers.setdefault("strict-transport-security", "max-age=63072000; includeSubDomains")
        if is_api:
            # A default: an answer that may be cached (a calendar feed) says so itself.
            headers.setdefault("cache-control", "no-store")

    async def _page(self, send: Send, status: int, detail: str, request_id: str) -> None:
        assert self.error_page is not None
        payload = self.error_page(status, detail, request_id).encode()
        await self._respond(send, status, "text/html; charset=utf-8", payload, request_id, False)

    async def _problem(
        self, send: Send, status: int, code: str, detail: str, request_id: str
    ) -> None:
        titles = {413: "Request body too large", 500: "Internal server error"}
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + code,
            "title": titles.get(status, "Error"),
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": request_id,
        }
        payload = json.dumps(body).encode()
        await self._respond(send, status, PROBLEM_MEDIA_TYPE, payload, request_id, True)

    async def _respond(
        self,
        send: Send,
        status: int,
        media_type: str,
        payload: bytes,
        request_id: str,
        is_api: bool,
    ) -> None:
        headers = MutableHeaders(
            raw=[
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(payload)).encode()),
            ]
        )
        self._decorate(headers, request_id, is_api=is_api)
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        await send({"type": "http.response.body", "body": payload})


def _wants_page(scope: Scope) -> bool:
    accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
    return wants_page(scope["path"], accept.decode("latin-1"))


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
