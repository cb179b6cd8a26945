"""Jinja2 templates and static files of the web app."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from carebridge import __version__
from carebridge.platform.money import amount_example, amount_step, format_money

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


def error_text(status: int, detail: str) -> tuple[str, str]:
    """The title and sentence of an error page."""
    return _ERROR_TEXT.get(status, (_TITLES.get(status, "Request not completed"), detail))


def error_page_html(status: int, detail: str, request_id: str | None) -> str:
    """The error page without a header's menu, as HTML text: for the request middleware's 500
    and 413, where no Request object (nor, perhaps, a database) is at hand."""
    title, text = error_text(status, detail)
    page = templates.get_template("error.html")
    return page.render(status=status, title=title, text=text, request_id=request_id)
