"""The Content-Security-Policy keeps scripts to files served by CareBridge itself.

Every HTML answer of a page reachable by GET without path parameters, and of the error pages,
for a visitor and a signed-in patient, doctor and admin, carries the policy, and its script
sources allow neither ``'unsafe-inline'`` nor ``'unsafe-eval'``. Since the policy then runs no
inline code, no page may rely on any: every template, and every page as served, has only
``<script src=...>`` elements with no body (or JSON data blocks, which browsers never run), no
``on*=`` event-handler attributes, no ``javascript:`` addresses and no htmx ``hx-on`` handlers
(htmx's eval is off)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from carebridge.accounts.models import Role
from carebridge.config import Settings
from tests.factories import MakeUser
from tests.factories.web import Browser

TEMPLATES = Path(__file__).parents[2] / "src" / "carebridge" / "web" / "templates"
FORBIDDEN_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'strict-dynamic'")
# Script types a browser does not run: data for a script to read.
DATA_BLOCKS = {"application/json", "application/ld+json"}
_EVENT_HANDLER = re.compile(r"^on[a-z]+$")
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href"}


class InlineScripts(HTMLParser):
    """What in a page (or a template) would need inline script to work."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script: str | None = None  # "code" or "data" while inside a <script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"line {self.getpos()[0]} <{tag}>"
        for name, value in attrs:
            if _EVENT_HANDLER.match(name) or name.startswith("hx-on"):
                self.found.append(f"{where}: event handler attribute {name}=")
            if name in _URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{where}: javascript: address in {name}=")
        if tag == "script":
            given = dict(attrs)
            kind = (given.get("type") or "").strip().lower()
            if kind in DATA_BLOCKS:
                self._script = "data"
            elif "src" in given:
                self._script = "code"
            else:
                self.found.append(f"{where}: inline script (no src=)")
                self._script = "inline"  # said once, whatever it holds

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script == "code" and data.strip():
            self.found.append(f"line {self.getpos()[0]}: code inside a <script> element")


_JINJA = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def template_html(source: str) -> str:
    """A template as HTML: its statements and comments taken out (``{% if online %}`` inside a
    tag is no attribute), its expressions left in place as text."""
    return _JINJA.sub(" ", source)


def inline_scripts(html: str) -> list[str]:
    parser = InlineScripts()
    parser.feed(html)
    parser.close()
    return parser.found


def script_sources(policy: str) -> dict[str, list[str]]:
    """The directives that govern scripts, each with its sources: ``script-src`` (or, without
    it, ``default-src``), and ``script-src-elem`` and ``script-src-attr`` where given (without
    them, ``script-src`` rules)."""
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        if part.strip():
            name, *sources = part.split()
            directives.setdefault(name.lower(), sources)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, f"the policy names no script sources: {policy}"
    found = {"script-src": scripts}
    for narrower in ("script-src-elem", "script-src-attr"):
        if narrower in directives:
            found[narrower] = directives[narrower]
    return found


def no_inline_script_allowed(policy: str) -> list[str]:
    return [
        f"{directive} allows {source}"
        for directive, sources in script_sources(policy).items()
        for source in sources
        if source.lower() in FORBIDDEN_SOURCES
    ]


def get_routes(app: FastAPI) -> list[str]:
    """Every route a browser can open by GET as it is, without filling in a path parameter."""
    return sorted(
        {
            str(context.path_format)
            for context in iter_route_contexts(app.routes)
            if "GET" in (getattr(context, "methods", None) or ())
            and "{" not in str(context.path_format)
        }
    )


@pytest.mark.parametrize("role", [None, Role.patient, Role.doctor, Role.admin])
async def test_every_page_has_a_policy_without_inline_script(
    app: FastAPI,
    client: httpx.AsyncClient,
    browser: Browser,
    make_user: MakeUser,
    settings: Settings,
    role: Role | None,
) -> None:
    person = client if role is None else await browser(await make_user(role))
    answers = [await person.get(path) for path in get_routes(app)]
    # The error pages too: not found, a bad address, a form without its token, too large.
    answers += [
        await person.get("/no-such-page"),
        await person.get("/doctors/notauuid"),
        await person.post("/signout", data={}),
        await person.post("/signin", content=b"x" * (settings.max_body_bytes + 1)),
    ]
    pages, problems = [], []
    for answer in answers:
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        path = answer.request.url.path
        pages.append(f"{answer.status_code} {path}")
        policy = answer.headers.get("content-security-policy")
        if policy is None:
            problems.append(f"GET {path}: no Content-Security-Policy")
            continue
        problems += [f"GET {path}: {wrong}" for wrong in no_inline_script_allowed(policy)]
        problems += [f"GET {path}: {found}" for found in inline_scripts(answer.text)]
    assert problems == []
    # The pages everyone can open, and the home and account pages of the signed in.
    assert {"200 /", "200 /signin", "200 /doctors", "200 /api/docs"} <= set(pages)
    assert {"404 /no-such-page", "404 /doctors/notauuid", "403 /signout", "413 /signin"} <= set(
        pages
    )
    assert role is None or {"200 /home", "200 /account", "200 /notifications"} <= set(pages)


def test_no_template_needs_inline_script() -> None:
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 30
    problems = [
        f"{template.relative_to(TEMPLATES)} {found}"
        for template in templates
        for found in inline_scripts(template_html(template.read_text()))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("html", "found"),
    [
        ("<script>document.title = 'x'</script>", ["inline script (no src=)"]),
        ('<script type="module">import "/a.js"</script>', ["inline script (no src=)"]),
        ('<script type="importmap">{"imports": {}}</script>', ["inline script (no src=)"]),
        ('<script src="/static/js/a.js">go()</script>', ["code inside a <script> element"]),
        ('<button onclick="go()">Go</button>', ["event handler attribute onclick="]),
        ('<form hx-on:submit="go()"></form>', ["event handler attribute hx-on:submit="]),
        ('<a href="JavaScript:go()">Go</a>', ["javascript: address in href="]),
        ('<script src="/static/js/a.js" defer></script>', []),
        ('<script type="application/json">{"online": true}</script>', []),
        ('<p {% if online %}class="online"{% endif %}>Online</p>', []),
        (
            '<p {% if online %}onclick="go()"{% endif %}>Online</p>',
            ["event handler attribute onclick="],
        ),
    ],
)
def test_the_scan_finds_inline_script(html: str, found: list[str]) -> None:
    problems = inline_scripts(template_html(html))
    assert [problem.split(": ", 1)[1] for problem in problems] == found


@pytest.mark.parametrize(
    ("policy", "wrong"),
    [
        ("default-src 'self'; script-src 'self'", []),
        ("default-src 'self'", []),
        ("default-src 'self' 'unsafe-inline'", ["script-src allows 'unsafe-inline'"]),
        ("script-src 'self' 'unsafe-eval'", ["script-src allows 'unsafe-eval'"]),
        ("script-src 'self'; script-src-attr 'unsafe-inline'", ["script-src-attr allows"]),
    ],
)
def test_the_policy_check_reads_fallbacks(policy: str, wrong: list[str]) -> None:
    found = no_inline_script_allowed(policy)
    assert len(found) == len(wrong)
    assert all(f.startswith(w) for f, w in zip(found, wrong, strict=True))
