"""Public pages: the landing page and the offline API documentation. Also gathers page routers
that app.py does not include by name (the role homes, scheduling, reviews)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from carebridge.platform.access import PUBLIC
from carebridge.platform.errors import NotFound
from carebridge.platform.runtime import Runtime
from carebridge.web import home, reviews, scheduling
from carebridge.web.templating import templates

# Each route declares its caller: the public pages below say PUBLIC, included routers their own.
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


router.include_router(home.router)
router.include_router(scheduling.router)
router.include_router(reviews.router)
