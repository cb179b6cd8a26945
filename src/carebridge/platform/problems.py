"""RFC 9457 problem+json: the one shape of every error CareBridge answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from carebridge.platform.access import caller_problems
from carebridge.platform.errors import CareBridgeError

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Paths answered for programs (JSON, problem+json errors, no-store); everything else is pages.
API_PATH_PREFIXES = ("/api/", "/health/", "/metrics", "/.well-known/")


def wants_page(path: str, accept: str) -> bool:
    """Whether an answer (an error's too) is a page: on every path outside the API's, unless the
    client asks for JSON and not HTML (a script negotiating a problem). Browsers ask for HTML;
    htmx and ``fetch`` send ``*/*``, and get pages."""
    if path.startswith(API_PATH_PREFIXES):
        return False
    return "text/html" in accept or "json" not in accept


TYPE_PREFIX = "urn:carebridge:problem:"

log = structlog.get_logger(__name__)

# Codes for errors raised by the framework rather than by a service.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending input, e.g. 'body.email'.")
    message: str
    type: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details. Branch on ``code``: it is stable."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
        body["request_id"] = request.scope.get("state", {}).get("request_id")
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_responses(*errors: type[CareBridgeError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: the problem codes it may answer, grouped by status."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error.code)
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": f"{HTTPStatus(status).phrase}; code: {', '.join(sorted(codes))}",
        }
        for status, codes in sorted(by_status.items())
    }


# Every API route may answer a validation problem; documented once on the API router.
VALIDATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {}},
        "description": "Invalid input; code: validation_error (``errors`` lists the fields)",
    }
}


# What FastAPI answers for a body it cannot parse, before validation (problem code bad_request).
_UNPARSABLE_BODY = (400, "bad_request")


def document_implicit_problems(app: FastAPI) -> None:
    """Have OpenAPI list on every route the problems answered before the route runs: those of
    its declared callers (401 without a valid token, 403 for another role) and, where it takes a
    body, 400 for a body that is not JSON. No route restates (or forgets) them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for context in iter_route_contexts(app.routes):
            dependant = getattr(context, "dependant", None)
            if not isinstance(dependant, Dependant) or not context.methods:
                continue
            problems = caller_problems(dependant)
            if dependant.body_params:
                problems.add(_UNPARSABLE_BODY)
            operations = schema["paths"].get(str(context.path_format), {})
            for method in context.methods:
                operation = operations.get(method.lower())
                if operation is not None and problems:
                    _add_problems(operation.setdefault("responses", {}), problems)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problems(responses: dict[str, Any], problems: set[tuple[int, str]]) -> None:
    for status in sorted({status for status, _ in problems}):
        codes = sorted(code for problem_status, code in problems if problem_status == status)
        response = responses.get(str(status))
        if response is None:
            responses[str(status)] = {
                "description": f"{HTTPStatus(status).phrase}; code: {', '.join(codes)}",
                "content": {
                    PROBLEM_MEDIA_TYPE: {},
                    "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}},
                },
            }
            continue
        listed = response.get("description", "")
        missing = [code for code in codes if code not in listed]
        if missing:
            response["description"] = f"{listed}, {', '.join(missing)}"


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]


# Called with every domain error before it is answered, for what an error itself must leave on
# record (the audit row of an unreadable sealed value); the domains provide them to create_app.
ErrorObserver = Callable[[Request, CareBridgeError], Awaitable[None]]


def install_problem_handlers(
    app: FastAPI,
    *,
    html_fallback: HtmlErrorRenderer | None,
    observers: Sequence[ErrorObserver] = (),
) -> None:
    """Register the handlers that render errors. Unexpected exceptions are handled by the
    request middleware, which owns the request id and the traceback log line."""

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CareBridgeError)
        for observe in observers:
            try:
                await observe(request, exc)
            except Exception:
                # The error is still answered as it should be; the failed record is logged.
                log.exception("error_observer_failed", code=exc.error_code)
        if html_fallback is not None and html_fallback.wants_html(request):
            return await html_fallback.render(request, exc.status, exc.detail)
        return problem_response(
            exc.status,
            exc.error_code,
            exc.detail,
            title=exc.title,
            request=request,
            headers=exc.headers,
            **exc.extra,
        )

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if html_fallback is not None and html_fallback.wants_html(request):
            return await html_fallback.render_invalid(request, exc)
        fields = _field_errors(exc)
        names = ", ".join(sorted({f["field"] for f in fields})) or "input"
        return problem_response(
            422,
            "validation_error",
            f"Invalid input: {names}",
            title="The request is not valid",
            request=request,
            errors=fields,
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if html_fallback is not None and html_fallback.wants_html(request):
            return await html_fallback.render(request, exc.status_code, str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problem_response(
            exc.status_code,
            code,
            str(exc.detail),
            request=request,
            headers=dict(exc.headers or {}),
        )

    async def on_pool_exhausted(request: Request, exc: Exception) -> Response:
        # Every pooled connection stayed busy for the pool timeout: overload, not a bug.
        log.warning("database_pool_exhausted", path=request.url.path)
        return problem_response(
            503,
            "busy",
            "CareBridge is busy right now; try again in a moment.",
            title="Service busy",
            request=request,
            headers={"Retry-After": "1"},
        )

    app.add_exception_handler(CareBridgeError, on_domain_error)
    app.add_exception_handler(PoolTimeout, on_pool_exhausted)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


class HtmlErrorRenderer:
    """Renders error pages for people: every error on a page's path (:func:`wants_page`),
    invalid input (a NUL, a form field missing, a path parameter that is not an id) included."""

    def __init__(
        self,
        render: Callable[[Request, int, str], Awaitable[Response]],
        render_invalid: Callable[[Request, RequestValidationError], Awaitable[Response]],
    ) -> None:
        self._render = render
        self._render_invalid = render_invalid

    def wants_html(self, request: Request) -> bool:
        return wants_page(request.url.path, request.headers.get("accept", ""))

    async def render(self, request: Request, status: int, detail: str) -> Response:
        return await self._render(request, status, detail)

    async def render_invalid(self, request: Request, exc: RequestValidationError) -> Response:
        return await self._render_invalid(request, exc)
