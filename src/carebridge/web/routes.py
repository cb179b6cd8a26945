"""Public pages: the landing page and the offline API documentation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from carebridge.platform.access import PUBLIC
from carebridge.platform.errors import NotFound
from carebridge.platform.runtime import Runtime
from carebridge.web.templating import templates

# Each route declares its caller: these public pages say PUBLIC.
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse, dependencies=[PUBLIC])
async def landing(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", {})


@router.get("/api/docs", response_class=HTMLResponse, dependencies=[PUBLIC])
async def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI served from our own static files: works with no network."""
    runtime: Runtime = request.app.state.runtime
    if not runtime.settings.docs_enabled:
        raise NotFound()
    return templates.TemplateResponse(
        request, "api_docs.html", {"openapi_url": request.app.openapi_url}
    )
