"""Rendering pages: the template context every page gets, and the CSRF cookie."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse

from carebridge.accounts.actors import Actor
from carebridge.platform.runtime import Runtime
from carebridge.web.session import csrf_token, remember_csrf
from carebridge.web.templating import templates


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
    """Only local paths: never redirect off-site after sign-in."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/account"
