"""Rendering pages: the template context every page gets, the CSRF cookie, and error pages."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from carebridge.accounts.actors import Actor
from carebridge.platform.runtime import Runtime
from carebridge.web.forms import PLAIN
from carebridge.web.session import SESSION_COOKIE, csrf_token, remember_csrf, web_session_actor
from carebridge.web.templating import error_text, templates

log = structlog.get_logger(__name__)


def render(
    request: Request,
    template: str,
    actor: Actor | None = None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    context = {"actor": actor, "csrf_token": csrf_token(request), **values}
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    remember_csrf(request, response, runtime.settings)
    return response


def clinic_currency(request: Request) -> str:
    """``CAREBRIDGE_CURRENCY``: the one currency of every fee."""
    runtime: Runtime = request.app.state.runtime
    return runtime.settings.currency


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Only local paths: never redirect off-site after sign-in. Without one: the role's home."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/home"


async def _signed_in(request: Request) -> Actor | None:
    """Who is signed in, for an error page: the actor a page's caller already found, else the
    session cookie's (a path that matched no route ran no caller)."""
    known = getattr(request.state, "actor", None)
    if isinstance(known, Actor):
        return known
    if SESSION_COOKIE not in request.cookies:
        return None
    runtime: Runtime = request.app.state.runtime
    try:
        async with runtime.database.transaction() as db:
            return await web_session_actor(request, db, runtime)
    except Exception:
        # An error page must still render: without the menu, as for a visitor.
        log.warning("error_page_session_unknown", exc_info=True)
        return None


async def error_page(request: Request, status: int, detail: str) -> Response:
    """The error page for people, under the header of every page: a signed-in visitor keeps
    their menu. It says no more than the error's own words, to anyone."""
    title, text = error_text(status, detail)
    actor = await _signed_in(request) if status < 500 else None
    request_id = request.scope.get("state", {}).get("request_id")
    values = {"status": status, "title": title, "text": text, "request_id": request_id}
    return render(request, "error.html", actor, status_code=status, **values)


async def invalid_page(request: Request, exc: RequestValidationError) -> Response:
    """Invalid input on a page that no form of its own took back: an address whose id is not
    one names no page (404); anything else (a NUL, a form field missing) is the error page with
    each problem in words (422)."""
    errors = exc.errors()
    if errors and all(tuple(error.get("loc", ()))[:1] == ("path",) for error in errors):
        return await error_page(request, 404, "Page not found")
    return await error_page(request, 422, PLAIN.explain(exc))
