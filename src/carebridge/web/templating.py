"""Jinja2 templates and static files of the web app."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, Response

from carebridge import __version__
from carebridge.platform.money import amount_example, amount_step, format_money
from carebridge.web.forms import PLAIN

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
TEMPLATES_DIR = WEB_DIR / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["version"] = __version__


def static_url(path: str) -> str:
    """Root-relative URL of a static file: correct behind any proxy, never mixed content."""
    return f"/static/{path}?v={__version__}"


templates.env.globals["static"] = static_url
# The one way amounts are shown ("45.00 EUR"), and what a fee field of a form needs.
templates.env.globals["money"] = format_money
templates.env.globals["amount_example"] = amount_example
templates.env.globals["amount_step"] = amount_step

_ERROR_TEXT = {
    404: ("Page not found", "The page you asked for does not exist or has moved."),
    500: ("Something went wrong", "We could not complete your request. Please try again."),
}


def assets_built() -> bool:
    return (VENDOR_DIR / ".built").is_file()


_TITLES = {422: "Please check what you sent"}


def error_page_html(status: int, detail: str, request_id: str | None) -> str:
    """The error page for people, as HTML text (usable where no Request object exists)."""
    title, text = _ERROR_TEXT.get(status, (_TITLES.get(status, "Request not completed"), detail))
    page = templates.get_template("error.html")
    return page.render(status=status, title=title, text=text, request_id=request_id)


def render_error_page(request: Request, status: int, detail: str) -> Response:
    request_id = request.scope.get("state", {}).get("request_id")
    return HTMLResponse(error_page_html(status, detail, request_id), status_code=status)


def render_invalid_page(request: Request, exc: RequestValidationError) -> Response:
    """Invalid input on a page that no form of its own took back: an address whose id is not
    one names no page (404); anything else (a NUL, a form field missing) is the error page with
    each problem in words (422)."""
    errors = exc.errors()
    if errors and all(tuple(error.get("loc", ()))[:1] == ("path",) for error in errors):
        return render_error_page(request, 404, "Page not found")
    return render_error_page(request, 422, PLAIN.explain(exc))
