"""The ASGI application: ``create_app(settings)`` wires routers, middleware and the lifespan."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import RedirectResponse, Response

from carebridge import __version__
from carebridge.compliance.unreadable import record_unreadable
from carebridge.config import Settings, load_settings
from carebridge.platform import health
from carebridge.platform.db import Database
from carebridge.platform.inputs import NO_NUL
from carebridge.platform.jobs import in_process_worker
from carebridge.platform.logging import configure_logging
from carebridge.platform.metrics import Metrics
from carebridge.platform.middleware import RequestMiddleware
from carebridge.platform.problems import (
    VALIDATION_RESPONSES,
    HtmlErrorRenderer,
    document_implicit_problems,
    install_problem_handlers,
)
from carebridge.platform.registry import (
    API_ROUTER_MODULES,
    PAGE_ROUTER_MODULES,
    ROOT_ROUTER_MODULES,
)
from carebridge.platform.runtime import Runtime
from carebridge.web.pages import error_page, invalid_page
from carebridge.web.session import PageRedirect
from carebridge.web.templating import STATIC_DIR, assets_built, error_page_html

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"

DESCRIPTION = """
The CareBridge API: patients, doctors, nurses and admins of one clinic.

* JSON under `/api/v1`; timestamps are ISO 8601 UTC.
* Errors are RFC 9457 `application/problem+json` with a stable `code` to branch on.
* Lists are cursor-paginated.
"""


def api_routers() -> list[APIRouter]:
    return [importlib.import_module(path).router for path in API_ROUTER_MODULES]


def root_routers() -> list[APIRouter]:
    """The well-known URLs, then the web app's pages, in the order they are matched."""
    return [
        *(importlib.import_module(path).root_router for path in ROOT_ROUTER_MODULES),
        *(importlib.import_module(path).router for path in PAGE_ROUTER_MODULES),
    ]


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the application. ``database`` lets tests bind sessions to one outer transaction."""
    settings = settings or load_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.create(settings, metrics, database)
        app.state.runtime = runtime
        if not assets_built():
            log.warning("web_assets_missing", hint="run `make assets` to build the web assets")
        async with AsyncExitStack() as stack:
            await runtime.open()
            stack.push_async_callback(runtime.close)
            if settings.should_run_in_process_worker:
                await stack.enter_async_context(in_process_worker(settings, runtime.database))
            log.info("carebridge_started", environment=str(settings.environment))
            yield

    app = FastAPI(
        title="CareBridge API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/api/openapi.json" if settings.docs_enabled else None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_problem_handlers(
        app,
        html_fallback=HtmlErrorRenderer(error_page, invalid_page),
        observers=(record_unreadable,),
    )
    app.include_router(health.router)
    # Each domain's router is included under /api/v1 directly, not through one /api/v1 router:
    # FastAPI matches a request against every route of each router level it passes, twice per
    # level (docs/performance.md, "Routing"), so one level less is a cheaper match. Every router
    # refuses NUL characters in its input (platform/inputs.py), before any route sees them.
    for router in api_routers():
        app.include_router(
            router, prefix=API_PREFIX, responses=VALIDATION_RESPONSES, dependencies=[NO_NUL]
        )
    for router in root_routers():
        app.include_router(router, dependencies=[NO_NUL])
    document_implicit_problems(app)
    app.add_exception_handler(PageRedirect, _redirect)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # Added last, so it is the outermost middleware: it sees every request and every error.
    app.add_middleware(
        RequestMiddleware, settings=settings, metrics=metrics, error_page=error_page_html
    )
    return app


async def _redirect(request: Request, exc: Exception) -> Response:
    """A page that cannot be shown yet: sign in first, or accept the consent documents."""
    assert isinstance(exc, PageRedirect)
    return RedirectResponse(exc.headers["Location"], status_code=303)


def create_app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-process serving."""
    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)
